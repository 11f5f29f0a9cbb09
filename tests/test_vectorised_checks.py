"""The vectorised forms used on whole columns give exactly what their one-value forms give."""
from __future__ import annotations

import random
import re
import sys

import pandas as pd

from schemas.identifiers import pnc_check_letter, pnc_ids_valid, pnc_is_valid
from transforms.text import WHITESPACE_RUN, map_values


def test_whitespace_run_is_pythons_whitespace():
    pythons = {c for c in map(chr, range(sys.maxunicode + 1)) if re.fullmatch(r"\s", c)}
    assert set(WHITESPACE_RUN[1:-2]) == pythons
    values = pd.Series(["a\u00a0b", " x\t\x0by\u3000", "\u200bz", "plain", None], dtype="str")
    assert values.str.replace(WHITESPACE_RUN, "", regex=True).equals(values.str.replace(r"\s+", "", regex=True))


def test_pnc_ids_valid_matches_pnc_is_valid():
    rng = random.Random(3)
    values = []
    for _ in range(5000):
        year, serial = rng.randint(0, 99), rng.randint(0, 9_999_999)
        pnc = f"{year:02d}/{serial}{pnc_check_letter(year, serial)}"
        values.append(rng.choice([pnc, pnc[:-1] + rng.choice("ZABCDEFGHJKLMNPQRTUVWXY"), pnc + "\n",
                                  pnc.replace("1", "\u0661"), pnc.lower(), f"0{pnc}"]))
    values += ["", "12/12345678A", "1/1A", "12/A", "00/0000000Z", "99/9999999X", None]
    for dtype in ("str", object):
        got = pnc_ids_valid(pd.Series(values, dtype=dtype)).tolist()
        assert got == [v is not None and pnc_is_valid(v) for v in values]


def test_map_values_is_series_map():
    values = pd.Series(["cannabis", None, "cocaine", "other", "cannabis"], index=[5, 6, 7, 8, 9],
                       dtype="str", name="drug_name")
    for mapping in ({"cannabis": "B", "cocaine": "A"}, {"cocaine": pd.Timestamp("2023-11-08")}, {}):
        pd.testing.assert_series_equal(map_values(values, mapping), values.map(mapping))
    empty = pd.Series([], dtype="str")
    pd.testing.assert_series_equal(map_values(empty, {"a": "b"}), empty.map({"a": "b"}))
