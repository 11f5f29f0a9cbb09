"""Vectorised clean-up of text columns as they arrive from other systems."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Python's `\s` spelled out as the characters themselves: pyarrow's regex engine (RE2) runs it on
# the whole column at once, where `\s` would send every value through Python's `re` (RE2's `\s`
# misses some of them, so pandas falls back).
_WHITESPACE = "".join(map(chr, [0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
                                *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))
WHITESPACE_RUN = f"[{_WHITESPACE}]+"


_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # the "str" dtype


def arrow_text(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow strings behind a "str" column (no copy); None for any other column."""
    if values.dtype == _TEXT and isinstance(values.array, pd.arrays.ArrowStringArray):
        return values.array.__arrow_array__()  # the Arrow array protocol: the array itself
    return None


def text_series(strings: pa.ChunkedArray, like: pd.Series) -> pd.Series:
    """Arrow strings as a "str" column with `like`'s index and name (no copy)."""
    return pd.Series(pd.arrays.ArrowStringArray(strings, dtype=_TEXT), index=like.index, name=like.name,
                     copy=False)


def clean_text(values: pd.Series) -> pd.Series:
    """Trim; blank strings become null (a blank is data to report, not a value)."""
    strings = arrow_text(values)
    if strings is None:
        s = values.astype("str").str.strip()
        return s.where(values.notna() & (s != ""), None).astype("str")
    # One pass of Arrow kernels, the same as `.str.strip()` and the `where` above; a column that is
    # already clean (the records-system connector trims and blanks) keeps its own buffers.
    trimmed = pc.utf8_trim_whitespace(strings)
    if _text_bytes(trimmed) == _text_bytes(strings):  # trimming only removes: nothing was trimmed
        trimmed = strings
    blank = pc.equal(trimmed, "")
    if pc.any(blank).as_py():
        trimmed = pc.if_else(blank, pa.scalar(None, trimmed.type), trimmed)
    return text_series(trimmed, values)


def drop_whitespace(values: pd.Series) -> pd.Series:
    """`values.str.replace(WHITESPACE_RUN, "", regex=True)`: spaces by a literal replace, and the
    regex only when another whitespace character may be left (on a "str" column)."""
    strings = arrow_text(values)
    if strings is None:
        return values.str.replace(WHITESPACE_RUN, "", regex=True)
    if pc.any(pc.match_substring(strings, " ")).as_py():
        strings = pc.replace_substring(strings, " ", "")
    # Other whitespace is a control character or not ASCII: printable ASCII text has none.
    printable_ascii = (_all(pc.string_is_ascii(strings)) and _all(pc.ascii_is_printable(strings)))
    if not printable_ascii and pc.any(pc.match_substring_regex(strings, f"[{_WHITESPACE}]")).as_py():
        strings = pc.replace_substring_regex(strings, WHITESPACE_RUN, "")
    return text_series(strings, values)


def _all(flags: pa.ChunkedArray) -> bool:
    return pc.all(flags).as_py() is not False  # nulls (and no values) do not count against


def _text_bytes(strings: pa.ChunkedArray) -> int:
    return pc.sum(pc.binary_length(strings)).as_py() or 0


def normalise_postcodes(values: pd.Series) -> pd.Series:
    """Upper case, one space before the inward code (RG14 5AB)."""
    compact = drop_whitespace(clean_text(values)).str.upper()  # a "str" column: Arrow strings
    strings = arrow_text(compact)
    # `compact.str[:-3] + " " + compact.str[-3:]` where longer than 3, in Arrow kernels (slices
    # count characters, as pandas does; tests/test_vectorised_checks.py)
    spaced = pc.binary_join_element_wise(pc.utf8_slice_codeunits(strings, 0, -3),
                                         pc.utf8_slice_codeunits(strings, -3, 2**31 - 1),
                                         pa.scalar(" ", strings.type))
    return text_series(pc.if_else(pc.greater(pc.utf8_length(strings), 3), spaced, strings), compact)


def normalise_pnc_ids(values: pd.Series) -> pd.Series:
    return drop_whitespace(clean_text(values)).str.upper()


def map_codes(values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """Map source codes case-insensitively; unknown codes become null (report them as failures)."""
    return map_values(clean_text(values).str.lower(), mapping).astype("str")


def map_values(values: pd.Series, mapping: dict) -> pd.Series:
    """`values.map(mapping)`, looking each distinct value up once (columns of codes repeat)."""
    codes, distinct = pd.factorize(values)  # -1 for a missing value: reindexed to missing
    return (pd.Series(distinct, dtype=values.dtype).map(mapping).reindex(codes)
            .set_axis(values.index).rename(values.name))
