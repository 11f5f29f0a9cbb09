"""The quarantine table's rows for a split batch: each bad row's original values and its reasons,
as JSON text a person (or the release command) reads back.

Both texts are built a column at a time with Arrow: a night can hold tens of thousands of bad
rows, and a JSON encoder called once per row costs more than the whole validation of them. The
text is the same as `json.dumps` writes (tests/test_vectorised_checks.py)."""
from __future__ import annotations

import json
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.gc_pause import gc_paused
from transforms.parallel import run_all
from transforms.text import arrow_text
from transforms.validation import FAILURE_COLUMNS, SplitBatch, row_runs

#: json.dumps(reasons, default=str) and json.dumps(record, ensure_ascii=False), made once
REASONS_JSON = json.JSONEncoder(default=str).encode
RECORD_JSON = json.JSONEncoder(ensure_ascii=False).encode
# What each form escapes; every other character stands as itself between the quotes.
_ESCAPED = {False: r'[\x00-\x1f"\\]',                   # ensure_ascii=False: controls, quote, backslash
            True: r'[^\x20\x21\x23-\x5b\x5d-\x7e]'}     # ensure_ascii: and anything past ASCII ~
_ENCODE = {False: json.encoder.encode_basestring, True: json.encoder.encode_basestring_ascii}


def quarantine_rows(batch: SplitBatch, source: str, keys: pd.Series, run_id: str) -> list[dict]:
    """One quarantine row per bad row, its original values as text; valid rows are never touched."""
    held = batch.quarantined
    columns = [c for c in held.columns if c != "reasons"]
    texts = zip([str(k) for k in keys.loc[held.index].tolist()], reasons_json(batch), records_json(held, columns))
    with gc_paused():  # a dict per bad row
        return [{"source": source, "source_key": key, "status": "held", "reasons": reasons, "record": record,
                 "first_run_id": run_id, "run_id": run_id} for key, reasons, record in texts]


def records_json(held: pd.DataFrame, columns: list) -> list[str]:
    """`RECORD_JSON(dict(zip(columns, values)))` for each row's values as text:
    '{"name": "value", "other": null}'."""
    if len(held) == 0:
        return []
    if not columns or not all(isinstance(c, str) for c in columns) or len(set(columns)) < len(columns):
        rows = zip(*(text_or_none(held[c]) for c in columns)) if columns else [()] * len(held)
        return [RECORD_JSON(dict(zip(columns, values))) for values in rows]

    def member(name: str) -> pa.Array:  # '"name": value' of every row
        strings = arrow_text(held[name])
        strings = (pa.array(text_or_none(held[name]), type=pa.large_string()) if strings is None
                   else strings.combine_chunks().cast(pa.large_string()))
        return pc.binary_join_element_wise(_large(_ENCODE[False](name) + ": "),
                                           json_strings(strings, ascii_only=False), _large(""))

    members = run_all(partial(member, name) for name in columns)
    joined = pc.binary_join_element_wise(*members, _large(", "))
    return pc.binary_join_element_wise(_large("{"), joined, _large("}"), _large("")).to_pylist()


def reasons_json(batch: SplitBatch) -> list[str]:
    """`REASONS_JSON(reasons)` for each quarantined row, in the batch's order:
    '[{"field": "gender", "check": "not a recognised code", "value": "X"}, ...]'."""
    held, failures = batch.quarantined, batch.failures
    if len(held) == 0:
        return []

    def one_by_one() -> list[str]:
        return [REASONS_JSON(reasons) for reasons in held["reasons"].tolist()]

    if list(failures.columns) != FAILURE_COLUMNS:  # reasons of another shape: as they are
        return one_by_one()
    texts = {}
    for name in ("field", "check", "value"):
        values = pa.array(failures[name].astype(object).where(failures[name].notna(), None).tolist())
        if not (pa.types.is_string(values.type) or pa.types.is_null(values.type)):
            return one_by_one()  # not all text: the encoder's default=str decides
        texts[name] = json_strings(values.cast(pa.large_string()), ascii_only=True)
    entries = pc.binary_join_element_wise(
        _large('{"field": '), texts["field"], _large(', "check": '), texts["check"], _large(', "value": '),
        texts["value"], _large("}"), _large(""))
    # the failures are in row order (split_batch): each row's entries are one run of them
    rows, starts, ends = row_runs(failures["row"].to_numpy())
    offsets = pa.array(np.r_[starts, ends[-1:]].astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, entries), _large(", "))
    lists = pc.binary_join_element_wise(_large("["), joined, _large("]"), _large(""))
    position = pd.Index(rows).get_indexer(held.index)
    if (position < 0).any():  # a held row without a failure: not from split_batch
        return one_by_one()
    return lists.take(pa.array(position)).to_pylist()


def json_strings(strings: pa.Array, ascii_only: bool) -> pa.Array:
    """Each string as a JSON string literal, 'null' for a missing one. Only the strings that need
    escaping go through Python's encoder."""
    quoted = pc.binary_join_element_wise(_large('"'), strings, _large('"'), _large(""))
    escape = pc.fill_null(pc.match_substring_regex(strings, _ESCAPED[ascii_only]), False)
    if pc.any(escape).as_py():
        encode = _ENCODE[ascii_only]
        escaped = [encode(v) for v in pc.filter(strings, escape).to_pylist()]
        quoted = pc.replace_with_mask(quoted, escape, pa.array(escaped, type=pa.large_string()))
    return pc.fill_null(quoted, _large("null"))


def text_or_none(values: pd.Series) -> list[str | None]:
    if isinstance(values.dtype, pd.StringDtype):  # already text: only the missing ones change
        return values.astype(object).where(values.notna(), None).tolist()
    return [None if pd.isna(v) else str(v) for v in values.astype(object).tolist()]


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())
