"""Rows failing each check of a batch: what the state database keeps per run and what the night's
log says, counted one way for both."""
from __future__ import annotations

import pandas as pd


def rows_per_check(failures: pd.DataFrame) -> pd.Series:
    """Distinct rows failing each (field, check) of a `failures` frame (row, field, check); a row
    check's field is ''. Sorted by field and check."""
    return failures.assign(field=failures["field"].fillna("")).groupby(
        ["field", "check"], sort=True)["row"].nunique()


def summarise_failures(failures: pd.DataFrame) -> str:
    """One line for the log: rows failing each check, most first. Check names only, never values."""
    per_check = rows_per_check(failures).sort_values(ascending=False, kind="stable")
    return "; ".join(f"{f'{field}: ' if field else ''}{check} ({n:,})" for (field, check), n in per_check.items())
