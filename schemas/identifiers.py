"""Formats of the identifiers that join police and YOT records: PNC ids and UK postcodes."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.text import arrow_text

# PNC id: two-digit year, a serial of up to 7 digits, and a check letter (e.g. 09/1234567X).
PNC_PATTERN = r"^\d{2}/\d{1,7}[A-Z]$"
_PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
_CHECK_LETTERS = pa.array(list(_PNC_CHECK_LETTERS))
_PNC_ASCII_PATTERN = PNC_PATTERN.replace(r"\d", "[0-9]")  # the same on ASCII text, and RE2 reads it
# Full UK postcode, normalised to upper case with one space (e.g. RG14 5AB, SW1A 1AA).
POSTCODE_PATTERN = r"^[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}$"
_SPACES = re.compile(r"\s+")


def pnc_check_letter(year: int, serial: int) -> str:
    """The PNC check letter: (two-digit year and 7-digit serial as one number) mod 23."""
    return _PNC_CHECK_LETTERS[int(f"{year % 100:02d}{serial:07d}") % 23]


def pnc_is_valid(pnc: str) -> bool:
    if not re.fullmatch(PNC_PATTERN, pnc):
        return False
    year, rest = pnc.split("/")
    return pnc_check_letter(int(year), int(rest[:-1])) == rest[-1]


def pnc_ids_valid(pncs: pd.Series) -> pd.Series:
    """`pnc_is_valid` for a whole column at once (missing values are not valid).

    ASCII values are read by Arrow's kernels in bulk (for ASCII, the pattern's `\\d` is [0-9],
    which is all RE2 reads it as); any other value by Python, one by one, as `pnc_is_valid` reads
    Unicode digits."""
    strings = arrow_text(pncs.astype("str")).combine_chunks()
    ascii_ = pc.fill_null(pc.string_is_ascii(strings), False)
    formed = pc.fill_null(pc.and_(ascii_, pc.match_substring_regex(strings, _PNC_ASCII_PATTERN)), False)
    text = pc.filter(strings, formed)
    year = pc.cast(pc.utf8_slice_codeunits(text, 0, 2), pa.int64()).to_numpy()
    serial = pc.cast(pc.utf8_slice_codeunits(text, 3, -1), pa.int64()).to_numpy()
    expected = _CHECK_LETTERS.take(pa.array((year * 10_000_000 + serial) % 23))
    out = np.zeros(len(pncs), dtype=bool)
    out[formed.to_numpy(zero_copy_only=False)] = pc.equal(
        pc.utf8_slice_codeunits(text, -1, 2**31 - 1), expected).to_numpy(zero_copy_only=False)
    others = np.flatnonzero(~ascii_.to_numpy(zero_copy_only=False) & pncs.notna().to_numpy())
    if len(others):
        out[others] = [pnc_is_valid(v) for v in pncs.iloc[others]]
    return pd.Series(out, index=pncs.index, dtype=bool)


def normalise_pnc(pnc: str | None) -> str | None:
    if pnc is None:
        return None
    out = _SPACES.sub("", str(pnc)).upper()
    return out or None


def normalise_postcode(postcode: str | None) -> str | None:
    """Upper case with a single space before the inward code; None when blank."""
    if postcode is None:
        return None
    compact = _SPACES.sub("", str(postcode)).upper()
    if not compact:
        return None
    if len(compact) > 3:
        return f"{compact[:-3]} {compact[-3:]}"
    return compact


def postcode_district(postcode: str | None) -> str | None:
    norm = normalise_postcode(postcode)
    if norm is None or " " not in norm:
        return None
    return norm.split(" ")[0]
