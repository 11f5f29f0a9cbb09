"""Type the extracted stop records: raw strings in, the stop record contract's types out."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import OPTIONAL_STOP_FIELDS, SchemeConfig
from schemas.stop import stop_schema
from transforms.text import arrow_text, clean_text, map_codes, normalise_pnc_ids, normalise_postcodes
from transforms.validation import SplitBatch, contract_failures, keep_rows, parse_failures, split_batch

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
        typed[field] = read_times(source, utc=True)
        failures.append(parse_failures(source, typed[field], field, "not a date-time"))
    dob = clean_text(raw["date_of_birth"])
    typed["date_of_birth"] = read_times(dob, utc=False)
    failures.append(parse_failures(dob, typed["date_of_birth"], "date_of_birth", "not a date"))
    quantity = clean_text(raw["quantity"])
    typed["quantity"], too_precise = _quantities(quantity)
    failures.append(parse_failures(quantity.where(~too_precise), typed["quantity"], "quantity", "not a number"))
    failures.append(parse_failures(quantity.where(too_precise), typed["quantity"], "quantity",
                                   f"more than {QUANTITY_PLACES} decimal places"))
    offence = clean_text(raw["offence"])
    typed["offence"] = map_codes(offence, config.records_system.offences)
    failures.append(parse_failures(offence, typed["offence"], "offence", "offence is a configured code"))
    for field in ("stop_ref", "stop_time", "last_modified"):
        missing = typed[field].isna() & cleaned[field].isna()
        failures.append(pd.DataFrame({"row": raw.index[missing], "field": field,
                                      "check": "required value is blank", "value": None}))
    return typed, pd.concat([f for f in failures if not f.empty] or [failures[0]], ignore_index=True)


#: The forms the connector writes (UTC ISO 8601 to the second; dates): one of each, and its suffix.
_PLAIN = {True: ("2000-01-01T00:00:00+00:00", "+00:00"), False: ("2000-01-01", "")}


def read_times(text: pd.Series, utc: bool) -> pd.Series:
    """`pd.to_datetime(text, utc=utc, errors="coerce", format="ISO8601")` in microseconds.

    Values of the plain form's length (and suffix) are read by Arrow's cast, in bulk: it accepts
    only ISO 8601, and what it accepts it reads as pandas does (tests/test_vectorised_checks.py);
    an impossible day (2026-02-30) makes it refuse, and then pandas reads the whole column. Every
    other value is read by pandas, with one plain value beside it so that a mix of zoned and
    unzoned values fails as it does when pandas reads the whole column."""
    dtype = "datetime64[us, UTC]" if utc else "datetime64[us]"

    def by_pandas(values: pd.Series) -> pd.Series:
        return pd.to_datetime(values, utc=utc, errors="coerce", format="ISO8601").astype(dtype)

    strings = arrow_text(text)
    if strings is None:
        return by_pandas(text)
    sample, suffix = _PLAIN[utc]
    plain = pc.equal(pc.binary_length(strings), len(sample))
    if suffix:
        plain = pc.and_(plain, pc.ends_with(strings, suffix))
    plain = pc.fill_null(plain, False)
    try:
        read = pc.cast(pc.if_else(plain, strings, sample), pa.timestamp("us", tz="UTC" if utc else None))
    except pa.ArrowInvalid:
        return by_pandas(text)
    times = read.to_numpy()  # datetime64[us], UTC for zoned values
    others = ~plain.to_numpy()
    if others.any():
        times = times.copy()
        times[others] = np.datetime64("NaT")
        given = others & text.notna().to_numpy()
        if given.any():
            rest = by_pandas(pd.concat([pd.Series([sample], dtype=text.dtype), text[given]],
                                       ignore_index=True)).iloc[1:]
            times[given] = (rest.dt.tz_localize(None) if utc else rest).to_numpy()
    out = pd.Series(times, index=text.index, name=text.name, copy=False)
    return (out.dt.tz_localize("UTC") if utc else out).astype(dtype)


QUANTITY_PLACES = 3
#: Quantities are exact decimals, as the state database's NUMERIC(12, 3) keeps them: a threshold
#: such as 0.5 g is compared without binary rounding.
QUANTITY_DTYPE = pd.ArrowDtype(pa.decimal128(12, QUANTITY_PLACES))
_STEP = Decimal(1).scaleb(-QUANTITY_PLACES)


def _quantity(text: str) -> Decimal | None | bool:
    """The exact quantity; None when not a number; False when it has more places than kept."""
    try:
        value = Decimal(text)
        if not value.is_finite() or abs(value) >= 10 ** (12 - QUANTITY_PLACES):
            return None
        exact = value.quantize(_STEP)
    except InvalidOperation:
        return None
    return exact if exact == value else False


def _quantities(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Exact decimal quantities, reading each distinct value once, and which had too many places."""
    codes, distinct = pd.factorize(text)
    read = [_quantity(v) for v in distinct]
    too_precise = np.array([v is False for v in read] + [False])
    values = pa.array([v if isinstance(v, Decimal) else None for v in read] + [None],
                      type=QUANTITY_DTYPE.pyarrow_dtype)
    picks = np.where(codes < 0, len(read), codes)  # -1: blank
    return (pd.Series(values.take(pa.array(picks)), dtype=QUANTITY_DTYPE, index=text.index),
            pd.Series(too_precise[picks], index=text.index))


def validate_stops(raw: pd.DataFrame, config: SchemeConfig) -> SplitBatch:
    """Every stop either goes on typed and valid, or is quarantined with all its reasons."""
    typed, failures = type_stop_records(raw, config)
    unreadable = pd.Index(failures["row"].unique())
    # Contract checks run on readable rows only: an unreadable value has already said why.
    # (not kept once checked: holding a second million-row frame through the split costs time)
    checked = contract_failures(keep_rows(typed, ~typed.index.isin(unreadable)), stop_schema(config))
    return split_batch(raw, typed, pd.concat([failures, checked], ignore_index=True))
