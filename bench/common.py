"""Helpers shared by the benchmark figures: sizes, peak memory, synthetic stop rows."""

from __future__ import annotations

import os
import random
import resource

import pandas as pd

SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def n_rows(base: int) -> int:
    return max(1000, int(base * SCALE))


def stop_rows(n: int, bad_share: float = 0.0) -> list[dict]:
    """Synthetic stops in the records system's own columns (local times)."""
    from schemas.identifiers import pnc_check_letter
    rng = random.Random(1)
    areas = ["Reading", "Oxford", "Slough", "Milton Keynes", "West Berkshire"]
    start = pd.Timestamp("2026-03-01 00:00:00")
    rows = []
    for i in range(n):
        t = start + pd.Timedelta(seconds=int(i * 86400 / n))
        serial = rng.randint(1, 9_999_999)
        row = {"STOP_REF": f"SS{i:09d}", "STOP_DATETIME": t.strftime("%Y-%m-%d %H:%M:%S"),
               "LPA_NAME": rng.choice(areas), "PERSON_ID": f"P{i:08d}",
               "PNC_ID": f"12/{serial:07d}{pnc_check_letter(12, serial)}", "FORENAME": "Zoë",
               "SURNAME": "O'Brien", "DOB": "2010-05-04", "GENDER": "Female", "HOME_POSTCODE": "RG1 1AA",
               "SEARCH_TYPE": "Person search", "AGE_RANGE": "10-17",
               "LEGISLATION": "Misuse of Drugs Act 1971 (section 23)", "OBJECT_OF_SEARCH": "Controlled drugs",
               "OUTCOME": "Community resolution", "DRUG_NAME": "cannabis", "DRUG_CLASS": "B",
               "QUANTITY": 2.5, "QUANTITY_UNIT": "g", "OFFENCE": "Possession", "OFFICER_ACTION": "Referred",
               "LAST_MODIFIED": (t + pd.Timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")}
        if rng.random() < bad_share:
            row[rng.choice(["LPA_NAME", "GENDER", "HOME_POSTCODE", "DOB"])] = "???"
        rows.append(row)
    return rows


