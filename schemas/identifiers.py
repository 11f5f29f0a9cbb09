"""Formats of the identifiers that join police and YOT records: PNC ids and UK postcodes."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

# PNC id: two-digit year, a serial of up to 7 digits, and a check letter (e.g. 09/1234567X).
PNC_PATTERN = r"^\d{2}/\d{1,7}[A-Z]$"
_PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
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
    """`pnc_is_valid` for a whole column at once (missing values are not valid)."""
    pncs = pncs.astype("str")
    ok = pncs.str.fullmatch(PNC_PATTERN).fillna(False).astype(bool)
    # ASCII digits are read as numbers in bulk; other (Unicode) digits by Python, one by one
    ascii_ = ok & pncs.str.isascii().fillna(False).astype(bool)
    text = pncs[ascii_]
    year = text.str.slice(0, 2).astype("int64[pyarrow]").to_numpy()  # pyarrow reads digits in bulk
    serial = text.str.slice(3, -1).astype("int64[pyarrow]").to_numpy()
    expected = np.array(list(_PNC_CHECK_LETTERS), dtype=object)[(year * 10_000_000 + serial) % 23]
    out = pd.Series(False, index=pncs.index, dtype=bool)
    out[ascii_] = text.str.slice(-1).to_numpy(dtype=object) == expected
    others = ok & ~ascii_
    if others.any():
        out[others] = [pnc_is_valid(v) for v in pncs[others]]
    return out


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
