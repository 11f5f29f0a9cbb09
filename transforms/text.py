"""Vectorised clean-up of text columns as they arrive from other systems."""
from __future__ import annotations

import pandas as pd

# Python's `\s` spelled out as the characters themselves: pyarrow's regex engine (RE2) runs it on
# the whole column at once, where `\s` would send every value through Python's `re` (RE2's `\s`
# misses some of them, so pandas falls back).
_WHITESPACE = "".join(map(chr, [0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
                                *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))
WHITESPACE_RUN = f"[{_WHITESPACE}]+"


def clean_text(values: pd.Series) -> pd.Series:
    """Trim; blank strings become null (a blank is data to report, not a value)."""
    s = values.astype("str").str.strip()
    return s.where(values.notna() & (s != ""), None).astype("str")


def normalise_postcodes(values: pd.Series) -> pd.Series:
    """Upper case, one space before the inward code (RG14 5AB)."""
    compact = clean_text(values).str.replace(WHITESPACE_RUN, "", regex=True).str.upper()
    spaced = compact.str[:-3] + " " + compact.str[-3:]
    return spaced.where(compact.str.len() > 3, compact)


def normalise_pnc_ids(values: pd.Series) -> pd.Series:
    return clean_text(values).str.replace(WHITESPACE_RUN, "", regex=True).str.upper()


def map_codes(values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """Map source codes case-insensitively; unknown codes become null (report them as failures)."""
    return map_values(clean_text(values).str.lower(), mapping).astype("str")


def map_values(values: pd.Series, mapping: dict) -> pd.Series:
    """`values.map(mapping)`, looking each distinct value up once (columns of codes repeat)."""
    codes, distinct = pd.factorize(values)  # -1 for a missing value: reindexed to missing
    return (pd.Series(distinct, dtype=values.dtype).map(mapping).reindex(codes)
            .set_axis(values.index).rename(values.name))
