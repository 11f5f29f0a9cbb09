"""Split a batch into valid rows and quarantined rows, each with the reasons a person can act on.

Two kinds of failure are merged per row: values that could not be read as their type (found while
typing the raw strings) and contract checks that failed (the pandera contract's checks, every one
run and every failure collected, as pandera's lazy validation collects them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.backends.utils import convert_uniquesettings
from pandera.engines import pandas_engine
import pyarrow
import pyarrow.compute as pc

from transforms.derivations import shared_derivations
from transforms.gc_pause import gc_paused
from transforms.parallel import run_all
from transforms.text import arrow_text

FAILURE_COLUMNS = ["row", "field", "check", "value"]


class BatchRejected(ValueError):
    """The whole batch breaks its contract (a missing column, a wrong type), not single rows."""


@dataclass(frozen=True)
class SplitBatch:
    valid: pd.DataFrame        # typed rows that passed every check
    quarantined: pd.DataFrame  # raw (original) rows that failed, with a `reasons` column
    failures: pd.DataFrame     # one row per (row, field, check): the evidence behind the reasons

    @property
    def counts(self) -> dict[str, int]:
        return {"read": len(self.valid) + len(self.quarantined), "valid": len(self.valid),
                "quarantined": len(self.quarantined)}


def parse_failures(raw: pd.Series, parsed: pd.Series, field: str, check: str) -> pd.DataFrame:
    """Rows where a raw value was given but could not be read as its type."""
    bad = raw.notna() & parsed.isna()
    return pd.DataFrame({"row": raw.index[bad], "field": field, "check": check,
                         "value": raw[bad].astype(str).to_numpy()}, columns=FAILURE_COLUMNS)


def contract_failures(typed: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Every failed check of the contract, one row per (row, field, check).

    The contract's own checks are run a column at a time and only the failing rows are collected:
    the same failures as pandera's lazy validation (tests/test_vectorised_checks.py), without
    pandera writing each failed value into an error message nobody reads. A contract or a frame
    that pandera must handle itself (a missing column, a wrong type, a check that raises, options
    the fast form does not follow) goes through pandera's validation."""
    if _checkable_by_columns(typed, schema):
        try:
            return _failures_by_columns(typed, schema)
        except Exception:  # noqa: BLE001 - pandera reports the check that raised, as a whole
            pass
    return pandera_contract_failures(typed, schema)


def pandera_contract_failures(typed: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """`contract_failures` by pandera's lazy validation, failure cases and all.

    The frame is checked as it is (no copy): it must not need coercing, which the contracts
    checked here never do (coerce=False), so nothing in it changes."""
    try:
        schema.validate(typed, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    whole = cases[cases["index"].isna()]
    if not whole.empty:
        problems = "; ".join(sorted({f"{c.column}: {c.check}" for c in whole.itertuples()}))
        raise BatchRejected(f"{schema.name or 'batch'} breaks its contract as a whole: {problems}")
    frame_level = cases["schema_context"] == "DataFrameSchema"
    # pandera reports a failed whole-row check once per (non-blank) column of the row: one will do
    once = ~(frame_level & cases.duplicated(["schema_context", "index", "check"])).to_numpy()
    cases, frame_level = cases[once], frame_level[once]
    checks = cases["check"].astype(str)
    out = pd.DataFrame({
        "row": cases["index"].astype("int64").to_numpy(),
        "field": cases["column"].where(~frame_level, None).to_numpy(),
        "check": checks.map({c: readable_check(c) for c in checks.unique()}).to_numpy(),
        "value": cases["failure_case"].astype(str).where(~frame_level, None).to_numpy(),
    }, columns=FAILURE_COLUMNS)
    return out.drop_duplicates(["row", "field", "check"]).reset_index(drop=True)


def _checkable_by_columns(typed: pd.DataFrame, schema: pa.DataFrameSchema) -> bool:
    """The contract uses only what `_failures_by_columns` follows, and the frame has its columns
    with their types (anything else is a whole-batch problem for pandera to name)."""
    if (schema.unique or schema.index is not None or schema.parsers or schema.coerce or schema.ordered
            or schema.strict or not typed.columns.is_unique or not typed.index.is_unique):
        return False
    for name, column in schema.columns.items():
        if (column.regex or column.parsers or column.coerce or column.default is not None
                or name not in typed.columns):
            return False
        if column.dtype is not None:
            # a bool for the column, or one per value (a "str" column holds only strings)
            same = column.dtype.check(pandas_engine.Engine.dtype(typed[name].dtype), typed[name])
            if not np.all(same):
                return False
    checks = [c for column in schema.columns.values() for c in column.checks] + list(schema.checks)
    return all(c.groupby is None and not c.raise_warning and c.n_failure_cases is None for c in checks)


def _failures_by_columns(typed: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """The columns' checks and then the row checks, each a job of its own, side by side."""
    all_missing = None
    if any(check.ignore_na for check in schema.checks):
        all_missing = typed.isna().all(axis="columns").to_numpy()
    jobs = [partial(_column_failures, typed, name, column) for name, column in schema.columns.items()]
    jobs += [partial(_row_check_failures, typed, check, all_missing) for check in schema.checks]
    with shared_derivations(typed):
        parts = [part for found in run_all(jobs) for part in found]
    if not parts:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    every = pd.concat(parts, ignore_index=True)
    out = pd.DataFrame({c: every[c].to_numpy() for c in FAILURE_COLUMNS}, columns=FAILURE_COLUMNS)  # as pandera's
    return out.drop_duplicates(["row", "field", "check"]).reset_index(drop=True)


def _column_failures(typed: pd.DataFrame, name: str, column) -> list[pd.DataFrame]:
    values = typed[name]
    missing = values.isna().to_numpy()
    found = []
    if not column.nullable:
        found.append(_failed(values, missing, name, "not_nullable"))
    if column.unique:
        keep = convert_uniquesettings(column.report_duplicates)
        found.append(_failed(values, duplicated(values, keep) & ~missing, name, "field_uniqueness"))
    for check in column.checks:
        # with ignore_na pandera checks the values that are there, and a blank passes
        checked = ~missing if check.ignore_na and missing.any() else None
        passed = _passed(_check_output(check, values), values.index, checked)
        found.append(_failed(values, ~passed, name, _check_name(check)))
    return [f for f in found if f is not None]


def duplicated(values: pd.Series, keep: str | bool) -> np.ndarray:
    """`values.duplicated(keep=keep).to_numpy()`. Text, with every copy reported (keep=False), is
    counted by Arrow's hashing, which lets go of the GIL (pandas' holds it, so other checks wait)."""
    strings = arrow_text(values)
    if strings is None or keep is not False:
        return values.duplicated(keep=keep).to_numpy()
    codes = pc.fill_null(pc.dictionary_encode(strings.combine_chunks()).indices, -1).to_numpy()
    given = codes >= 0
    counts = np.bincount(codes[given], minlength=1)
    repeated = np.zeros(len(codes), dtype=bool)
    repeated[given] = counts[codes[given]] > 1
    if not given.all() and (~given).sum() > 1:  # pandas counts missing values as equal to each other
        repeated[~given] = True
    return repeated


def _row_check_failures(typed: pd.DataFrame, check: pa.Check, all_missing: np.ndarray | None
                        ) -> list[pd.DataFrame]:
    passed = _passed(_check_output(check, typed), typed.index)
    if check.ignore_na:
        passed = passed | all_missing
    found = _failed(typed, ~passed, None, _check_name(check))
    return [] if found is None else [found]


def _failed(checked: pd.Series | pd.DataFrame, rows: np.ndarray, field: str | None,
            check: str) -> pd.DataFrame | None:
    """The failure rows of one check; a row check (field None) keeps no value."""
    if not rows.any():
        return None
    values = None if field is None else checked[rows].astype(object).astype(str).to_numpy()
    return pd.DataFrame({"row": checked.index[rows].astype("int64"), "field": field,
                         "check": readable_check(check), "value": values})


def _check_output(check: pa.Check, checked: pd.Series | pd.DataFrame):
    """`check(checked).check_output`: pandera's steps up to the answer per row, without the last
    one, which copies every failing row (of the whole frame, for a row check) as failure cases
    that nothing here reads."""
    builtin = getattr(check._check_fn, "__name__", None)
    if builtin is not None and check.is_builtin_check(builtin):  # as `Check.__call__` does
        check._check_fn = check.get_builtin_check_fn(builtin)
    backend = check.get_backend(checked)(check)
    return backend.apply(backend.preprocess(checked, None))


def _passed(output, index: pd.Index, checked: np.ndarray | None = None) -> np.ndarray:
    """Whether each row passed; `checked`: the rows given to the check (others pass)."""
    given = index if checked is None else index[checked]
    if not isinstance(output, pd.Series) or not output.index.equals(given):
        raise TypeError("a check that does not answer for each row")  # pandera's way instead
    answers = output.fillna(False).to_numpy(dtype=bool)
    if checked is None:
        return answers
    passed = np.ones(len(index), dtype=bool)
    passed[checked] = answers
    return passed


def _check_name(check: pa.Check) -> str:
    """The name pandera reports a failed check by."""
    return str(check.error if check.error is not None else check.name if check.name is not None else check)


_BUILTIN_CHECKS = (  # pandera's built-in check names, as a person would say them
    (re.compile(r"^isin\("), "not a recognised code"),
    (re.compile(r"^str_matches\("), "not in the expected format"),
    (re.compile(r"^greater_than\((.*)\)$"), r"must be more than \1"),
    (re.compile(r"^greater_than_or_equal_to\((.*)\)$"), r"must be at least \1"),
    (re.compile(r"^str_length\("), "must not be empty"),
    (re.compile(r"^field_uniqueness$"), "duplicate (must be unique)"),
    (re.compile(r"^not_nullable$"), "required value is blank"),
    (re.compile(r"^dtype\((.*)\)$"), r"wrong type (expected \1)"),
)


def readable_check(check: str) -> str:
    for pattern, text in _BUILTIN_CHECKS:
        if pattern.search(check):
            return pattern.sub(text, check) if "\\1" in text else text
    return check


def contract_checks(schema: pa.DataFrameSchema) -> list[tuple[str, str]]:
    """Every check a contract runs, as (field, readable check); field "" for whole-row checks."""
    out = []
    for name, column in schema.columns.items():
        if not column.nullable:
            out.append((name, "required value is blank"))
        if column.unique:
            out.append((name, "duplicate (must be unique)"))
        out += [(name, readable_check(str(c.error or c.name))) for c in column.checks]
    out += [("", readable_check(str(c.error or c.name))) for c in schema.checks]
    return out


def split_batch(raw: pd.DataFrame, typed: pd.DataFrame, failures: pd.DataFrame) -> SplitBatch:
    """Valid typed rows go on; failing rows are kept in their original form with their reasons."""
    failures = failures.drop_duplicates(["row", "field", "check"]).sort_values(["row", "check"])
    rows = failures["row"].to_numpy()
    bad = _rows_mask(raw.index, rows)
    quarantined = keep_rows(raw, bad).copy()
    labels, starts, ends = row_runs(rows)
    at = pd.Index(labels).get_indexer(quarantined.index)
    fields = [c for c in failures.columns if c != "row"]
    columns = [_python_values(failures[c]) for c in fields]
    with gc_paused():  # a dict per failure and a list per bad row: only they are touched one by one
        if fields == ["field", "check", "value"]:
            entries = [{"field": f, "check": c, "value": v} for f, c, v in zip(*columns)]
        else:
            entries = [dict(zip(fields, values)) for values in zip(*columns)]
        quarantined["reasons"] = [entries[a:b] for a, b in zip(starts[at].tolist(), ends[at].tolist())]
    valid = keep_rows(typed, ~_rows_mask(typed.index, rows))
    return SplitBatch(valid=valid, quarantined=quarantined, failures=failures.reset_index(drop=True))


def row_runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Failures sorted by row hold each bad row's failures as one run: the rows, and where each
    run starts and ends."""
    new_run = np.ones(len(rows), dtype=bool)
    new_run[1:] = rows[1:] != rows[:-1]
    starts = np.flatnonzero(new_run)
    return rows[starts], starts, np.append(starts[1:], len(rows))[:len(starts)]


def _rows_mask(index: pd.Index, rows: np.ndarray) -> np.ndarray:
    """`index.isin(rows)`; by position when the index is a plain range (as a batch's is)."""
    if isinstance(index, pd.RangeIndex) and index.step == 1:
        mask = np.zeros(len(index), dtype=bool)
        at = rows.astype(np.int64) - index.start
        mask[at[(at >= 0) & (at < len(index))]] = True
        return mask
    return index.isin(rows)


def keep_rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """`frame.loc[keep]` (a boolean mask), a column at a time: Arrow columns through Arrow's filter,
    which copies the kept values once (pandas' own take goes through row numbers)."""
    if keep.all():
        return frame.copy(deep=False)
    if not frame.columns.is_unique or isinstance(frame.columns, pd.MultiIndex):
        return frame.loc[keep]
    mask, index = pyarrow.array(keep), frame.index[keep]

    def kept(name) -> pd.Series:
        values = frame[name].array
        if isinstance(values, pd.arrays.ArrowStringArray):
            out = type(values)(pc.filter(values.__arrow_array__(), mask), dtype=values.dtype)
        elif isinstance(values, pd.arrays.ArrowExtensionArray):
            out = type(values)(pc.filter(values.__arrow_array__(), mask))
        else:
            out = values[keep]
        return pd.Series(out, index=index, dtype=values.dtype, copy=False)

    columns = dict(zip(frame.columns, run_all(partial(kept, name) for name in frame.columns)))
    out = pd.DataFrame(columns, index=index, columns=frame.columns, copy=False)
    out.columns.name = frame.columns.name
    return out


def _python_values(values: pd.Series) -> list:
    """The values as Python objects, missing ones (NaN, NA, NaT) as None."""
    return values.astype(object).where(values.notna(), None).tolist()


def describe_reasons(reasons: list[dict]) -> str:
    """One line for a person: 'field: check' pairs, without the values (they may be personal)."""
    return "; ".join(f"{r['field']}: {r['check']}" if r.get("field") else r["check"] for r in reasons)
