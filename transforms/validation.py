"""Split a batch into valid rows and quarantined rows, each with the reasons a person can act on.

Two kinds of failure are merged per row: values that could not be read as their type (found while
typing the raw strings) and contract checks that failed (pandera, lazily, so all are collected).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

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
    bad_rows = pd.Index(failures["row"].unique())
    # Only the failures (the bad rows) are touched one by one; the valid rows never are.
    fields = [c for c in failures.columns if c != "row"]
    reasons: dict = {}
    for row, *values in zip(failures["row"].tolist(), *(_python_values(failures[c]) for c in fields)):
        reasons.setdefault(row, []).append(dict(zip(fields, values)))
    quarantined = raw.loc[raw.index.isin(bad_rows)].copy()
    quarantined["reasons"] = [reasons[i] for i in quarantined.index]
    valid = typed.loc[~typed.index.isin(bad_rows)]  # a new frame already (copy-on-write)
    return SplitBatch(valid=valid, quarantined=quarantined, failures=failures.reset_index(drop=True))


def _python_values(values: pd.Series) -> list:
    """The values as Python objects, missing ones (NaN, NA, NaT) as None."""
    return values.astype(object).where(values.notna(), None).tolist()


def describe_reasons(reasons: list[dict]) -> str:
    """One line for a person: 'field: check' pairs, without the values (they may be personal)."""
    return "; ".join(f"{r['field']}: {r['check']}" if r.get("field") else r["check"] for r in reasons)
