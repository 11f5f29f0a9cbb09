"""Type the extracted stop records: raw strings in, the stop record contract's types out."""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import OPTIONAL_STOP_FIELDS, SchemeConfig
from schemas.stop import stop_schema
from transforms.parallel import run_all
from transforms.text import arrow_text, clean_text, map_codes, normalise_pnc_ids, normalise_postcodes
from transforms.validation import SplitBatch, contract_failures, keep_rows, parse_failures, split_batch

TEXT_FIELDS = ("stop_ref", "area", "person_id", "forename", "surname", "gender", "search_type",
               "age_range", "legislation", "object_of_search", "outcome", "quantity_unit",
               "officer_action")


def type_stop_records(raw: pd.DataFrame, config: SchemeConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed stops and the values that could not be read as their type.

    Each field is read on its own (`_field_readers`), the fields side by side on every core."""
    readers = _field_readers()
    read = dict(zip(readers, run_all(partial(reader, raw, config, field) for field, reader in readers.items())))
    typed = pd.DataFrame({field: read[field][0] for field in readers}, index=raw.index)
    failures = [f for field in _FAILURE_ORDER for f in read[field][1]]
    for field in ("stop_ref", "stop_time", "last_modified"):  # required, and blank (not unreadable)
        failures.append(read[field][2])
    failures = [f for f in failures if not f.empty] or [failures[0]]
    return typed, pd.concat(failures, ignore_index=True)


#: Where the failures of each field come in the list (the split's reasons keep this order).
_FAILURE_ORDER = ("stop_time", "last_modified", "date_of_birth", "quantity", "offence")

# Each reader: (raw, config, field) -> (typed column, [failures], blank-required failures).
Read = tuple[pd.Series, list[pd.DataFrame], pd.DataFrame | None]


def _text(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    return clean_text(raw[field]), [], None


def _optional_text(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    """Not mapped (not extracted): an all-blank column."""
    if field not in raw.columns:
        return pd.Series(None, index=raw.index, dtype="str"), [], None
    return _text(raw, config, field)


def _required_text(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    typed = clean_text(raw[field])
    return typed, [], _blank(typed, typed, field)


def _lower_text(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    return clean_text(raw[field]).str.lower(), [], None


def _drug_class(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    return clean_text(raw[field]).str.upper().str.removeprefix("CLASS "), [], None


def _pnc_id(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    return normalise_pnc_ids(raw[field]), [], None


def _postcode(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    return normalise_postcodes(raw[field]), [], None


def _utc_time(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    source = clean_text(raw[field])
    typed = read_times(source, utc=True)
    return typed, [parse_failures(source, typed, field, "not a date-time")], _blank(typed, source, field)


def _date(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    source = clean_text(raw[field])
    typed = read_times(source, utc=False)
    return typed, [parse_failures(source, typed, field, "not a date")], None


def _quantity_field(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    source = clean_text(raw[field])
    typed, too_precise = _quantities(source)
    return typed, [parse_failures(source.where(~too_precise), typed, field, "not a number"),
                   parse_failures(source.where(too_precise), typed, field,
                                  f"more than {QUANTITY_PLACES} decimal places")], None


def _offence(raw: pd.DataFrame, config: SchemeConfig, field: str) -> Read:
    source = clean_text(raw[field])
    typed = map_codes(source, config.records_system.offences)
    return typed, [parse_failures(source, typed, field, "offence is a configured code")], None


def _blank(typed: pd.Series, source: pd.Series, field: str) -> pd.DataFrame:
    missing = typed.isna() & source.isna()
    return pd.DataFrame({"row": typed.index[missing], "field": field,
                         "check": "required value is blank", "value": None})


def _field_readers() -> dict[str, Callable[[pd.DataFrame, SchemeConfig, str], Read]]:
    """Each field of the stop record and how it is read, in the record's column order."""
    readers = {field: _text for field in TEXT_FIELDS}
    readers.update(stop_ref=_required_text, pnc_id=_pnc_id, postcode=_postcode, drug_name=_lower_text,
                   drug_class=_drug_class, quantity_unit=_lower_text)
    readers.update({field: _optional_text for field in OPTIONAL_STOP_FIELDS})
    readers.update(stop_time=_utc_time, last_modified=_utc_time, date_of_birth=_date,
                   quantity=_quantity_field, offence=_offence)
    return readers


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
