"""Contracts on the pipeline's own outputs: a broken one is a bug, so the task fails loudly.

`enforce` validates a frame lazily (every failed check is collected) right before it is written to
the state database and raises `ContractBroken` naming the record kind, the failed checks and the
offending keys (referral references, case ids): never a value, which may be personal data.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pandera.pandas as pa

from transforms.validation import readable_check

#: Columns that identify a record without being personal data, in the order they are shown.
KEY_COLUMNS = ("referral_ref", "reason", "yot_id", "case_id")
MAX_KEYS = 10


class ContractBroken(RuntimeError):
    """A frame the pipeline produced breaks its contract; `failures` maps check -> keys."""

    def __init__(self, message: str, what: str, failures: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.what = what
        self.failures = failures


def enforce(frame: pd.DataFrame, schema: type[pa.DataFrameModel] | pa.DataFrameSchema, what: str,
            keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Return `frame` unchanged when it meets `schema`, else raise `ContractBroken`."""
    schema = schema.to_schema() if isinstance(schema, type) else schema
    if frame.empty:  # nothing to write: only the shape is checked (an empty column has no type)
        missing = [c for c, col in schema.columns.items() if col.required and c not in frame.columns]
        if missing:
            check = f"column missing: {', '.join(missing)}"
            raise ContractBroken(f"{what} breaks its contract: {check}", what, {check: []})
        return frame
    checked = frame.reset_index(drop=True)
    try:
        schema.validate(checked, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures, rows = _failures(exc.failure_cases, checked, keys, schema.unique)
    else:
        return frame
    parts = []
    for check, ks in failures.items():
        shown = ", ".join(ks[:MAX_KEYS]) + (f" and {len(ks) - MAX_KEYS} more" if len(ks) > MAX_KEYS else "")
        parts.append(f"{check} ({len(ks)}: {shown})" if ks else check)
    raise ContractBroken(f"{what} breaks its contract in {len(rows)} of {len(frame)} row(s): "
                         + "; ".join(parts), what, failures)


def _failures(cases: pd.DataFrame, frame: pd.DataFrame, keys: Sequence[str] | None,
              unique: Sequence[str] | str | None) -> tuple[dict[str, list[str]], set[int]]:
    """{readable check: [keys of the rows failing it]} (a check on a whole column lists no keys),
    and the positions of the failing rows."""
    key_cols = [c for c in (keys or KEY_COLUMNS) if c in frame.columns]
    labels = frame[key_cols].astype("object").where(frame[key_cols].notna(), "(blank)").astype(str).agg(
        "/".join, axis=1) if key_cols else pd.Series("row " + frame.index.astype(str), index=frame.index)
    out: dict[str, list[str]] = {}
    rows: set[int] = set()
    for case in cases.itertuples():
        check = readable_check(str(case.check))
        if check == "column_in_dataframe":  # the failure case is the column's name, not a value
            check = f"column missing: {case.failure_case}"
        elif check == "multiple_fields_uniqueness":
            together = [unique] if isinstance(unique, str) else list(unique or [])
            check = f"duplicate {' + '.join(together)} (must be unique together)"
        column = case.column if isinstance(case.column, str) and case.schema_context != "DataFrameSchema" else None
        if column and column not in check:
            check = f"{column}: {check}"
        found = out.setdefault(check, [])
        if pd.notna(case.index):
            index = int(case.index)
            rows.add(index)
            label = labels.iloc[index] if 0 <= index < len(labels) else f"row {index}"
            if label not in found:
                found.append(label)
    return out, rows
