"""Type the extracted stop records: raw strings in, the stop record contract's types out."""
from __future__ import annotations

import numpy as np
import pandas as pd

from schemas.config import OPTIONAL_STOP_FIELDS, SchemeConfig
from schemas.stop import stop_schema
from transforms.text import clean_text, map_codes, normalise_pnc_ids, normalise_postcodes
from transforms.validation import SplitBatch, contract_failures, parse_failures, split_batch

TEXT_FIELDS = ("stop_ref", "area", "person_id", "forename", "surname", "gender", "search_type",
               "age_range", "legislation", "object_of_search", "outcome", "quantity_unit",
               "officer_action")


def type_stop_records(raw: pd.DataFrame, config: SchemeConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed stops and the values that could not be read as their type."""
    typed = pd.DataFrame(index=raw.index)
    for field in TEXT_FIELDS:
        typed[field] = clean_text(raw[field])
    typed["pnc_id"] = normalise_pnc_ids(raw["pnc_id"])
    typed["postcode"] = normalise_postcodes(raw["postcode"])
    typed["drug_name"] = clean_text(raw["drug_name"]).str.lower()
    typed["drug_class"] = clean_text(raw["drug_class"]).str.upper().str.removeprefix("CLASS ")
    typed["quantity_unit"] = typed["quantity_unit"].str.lower()
    for field in OPTIONAL_STOP_FIELDS:  # not mapped (not extracted): an all-blank column
        typed[field] = clean_text(raw[field]) if field in raw.columns else pd.Series(
            None, index=raw.index, dtype="str")
    failures = []
    cleaned = {"stop_ref": typed["stop_ref"]}
    for field in ("stop_time", "last_modified"):
        source = cleaned[field] = clean_text(raw[field])
        typed[field] = pd.to_datetime(source, utc=True, errors="coerce", format="ISO8601").astype(
            "datetime64[us, UTC]")
        failures.append(parse_failures(source, typed[field], field, "not a date-time"))
    dob = clean_text(raw["date_of_birth"])
    typed["date_of_birth"] = pd.to_datetime(dob, errors="coerce", format="ISO8601").astype("datetime64[us]")
    failures.append(parse_failures(dob, typed["date_of_birth"], "date_of_birth", "not a date"))
    quantity = clean_text(raw["quantity"])
    typed["quantity"] = _numbers(quantity)
    failures.append(parse_failures(quantity, typed["quantity"], "quantity", "not a number"))
    offence = clean_text(raw["offence"])
    typed["offence"] = map_codes(offence, config.records_system.offences)
    failures.append(parse_failures(offence, typed["offence"], "offence", "offence is a configured code"))
    for field in ("stop_ref", "stop_time", "last_modified"):
        missing = typed[field].isna() & cleaned[field].isna()
        failures.append(pd.DataFrame({"row": raw.index[missing], "field": field,
                                      "check": "required value is blank", "value": None}))
    return typed, pd.concat([f for f in failures if not f.empty] or [failures[0]], ignore_index=True)


def _numbers(text: pd.Series) -> pd.Series:
    """`pd.to_numeric(text, errors="coerce")` as floats, reading each distinct value once."""
    codes, distinct = pd.factorize(text)
    read = pd.to_numeric(pd.Series(distinct, dtype=text.dtype), errors="coerce").astype("float64")
    return pd.Series(np.append(read.to_numpy(), np.nan)[codes], index=text.index)  # -1: blank


def validate_stops(raw: pd.DataFrame, config: SchemeConfig) -> SplitBatch:
    """Every stop either goes on typed and valid, or is quarantined with all its reasons."""
    typed, failures = type_stop_records(raw, config)
    unreadable = pd.Index(failures["row"].unique())
    # Contract checks run on readable rows only: an unreadable value has already said why.
    # (not kept once checked: holding a second million-row frame through the split costs time)
    checked = contract_failures(typed.loc[~typed.index.isin(unreadable)], stop_schema(config))
    return split_batch(raw, typed, pd.concat([failures, checked], ignore_index=True))
