"""Vectorised clean-up of text columns as they arrive from other systems."""
from __future__ import annotations

import pandas as pd


def clean_text(values: pd.Series) -> pd.Series:
    """Trim; blank strings become null (a blank is data to report, not a value)."""
    s = values.astype("str").str.strip()
    return s.where(values.notna() & (s != ""), None).astype("str")


def normalise_postcodes(values: pd.Series) -> pd.Series:
    """Upper case, one space before the inward code (RG14 5AB)."""
    compact = clean_text(values).str.replace(r"\s+", "", regex=True).str.upper()
    spaced = compact.str[:-3] + " " + compact.str[-3:]
    return spaced.where(compact.str.len() > 3, compact)


def normalise_pnc_ids(values: pd.Series) -> pd.Series:
    return clean_text(values).str.replace(r"\s+", "", regex=True).str.upper()


def map_codes(values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """Map source codes case-insensitively; unknown codes become null (report them as failures)."""
    return clean_text(values).str.lower().map(mapping).astype("str")
