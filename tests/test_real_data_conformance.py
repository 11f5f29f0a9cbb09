"""Real published stop-and-search rows against the stop contract.

Each published row (data.police.uk national format, see tests/data/README.md) is mapped onto the raw
stop record the records-system connector hands over, with synthetic identities, and validated.
Nothing may crash, every row is either valid or quarantined with its reasons, and no published code
is ever rejected as unrecognised.
"""
from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from schemas import codes
from schemas.config import load_config
from schemas.identifiers import pnc_check_letter
from transforms.stops import validate_stops

CONFIG = load_config()
SAMPLE = Path(__file__).parent / "data" / "real-stop-and-search-sample.csv"
REAL_DATA = Path(os.environ.get("DIVERSION_REAL_STOP_DATA", "/work/shared/real-data/stop-and-search"))
HEADER = ["Type", "Date", "Part of a policing operation", "Policing operation", "Latitude",
          "Longitude", "Gender", "Age range", "Self-defined ethnicity", "Officer-defined ethnicity",
          "Legislation", "Object of search", "Outcome", "Outcome linked to object of search",
          "Removal of more than just outer clothing"]
#: Published column -> (pipeline field, the code list it must be in).
CODE_COLUMNS = {
    "Type": ("search_type", codes.SEARCH_TYPES),
    "Gender": ("gender", codes.GENDERS),
    "Age range": ("age_range", codes.AGE_RANGES),
    "Self-defined ethnicity": ("self_defined_ethnicity", codes.SELF_DEFINED_ETHNICITIES),
    "Officer-defined ethnicity": ("officer_defined_ethnicity", codes.OFFICER_DEFINED_ETHNICITIES),
    "Legislation": ("legislation", codes.LEGISLATION),
    "Object of search": ("object_of_search", codes.OBJECTS_OF_SEARCH),
    "Outcome": ("outcome", codes.OUTCOMES),
}
#: The only reasons a real published row may be quarantined for, given how identities are added:
#: a child under 10 (below the age of criminal responsibility), and a drugs stop without an age
#: range (so without a synthetic date of birth).
EXPECTED_REASONS = {
    "age at the stop is 10 or over (age of criminal responsibility)",
    "date of birth present for a drugs stop",
}
AGES = {"under 10": (5, 9), "10-17": (10, 17), "18-24": (18, 24), "25-34": (25, 34), "over 34": (35, 80)}
DRUGS = [("cannabis", "B", "2", "g"), ("cannabis resin", "B", "1.5", "g"), ("cocaine", "A", "0.5", "g"),
         ("mdma", "A", "1", "tablets"), ("nitrous oxide", "C", "3", "canisters")]
#: Distinct non-blank values per code-list column in the 21 real files (22,587 rows).
PUBLISHED_VALUE_COUNTS = {"Type": 3, "Gender": 2, "Age range": 5, "Self-defined ethnicity": 17,
                          "Officer-defined ethnicity": 4, "Legislation": 9, "Object of search": 13,
                          "Outcome": 7}
AREAS = sorted(CONFIG.areas)
DISTRICTS = sorted(CONFIG.district_to_yot())


def read_published(path: Path) -> pd.DataFrame:
    """A published file as text: blanks stay blank strings (a blank is data, not a crash)."""
    frame = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8")
    assert list(frame.columns) == HEADER, path.name
    return frame


def _date_of_birth(stop_day: date, age_range: str, n: int) -> str | None:
    """A date of birth giving an age inside the published range on the (local) day of the stop."""
    if age_range not in AGES:
        return None
    low, high = AGES[age_range]
    age = low + n % (high - low + 1)
    birthday = stop_day.replace(year=stop_day.year - age) if not (
        stop_day.month == 2 and stop_day.day == 29) else date(stop_day.year - age, 2, 28)
    return (birthday - timedelta(days=1 + n % 364)).isoformat()


def to_raw_stops(published: pd.DataFrame) -> pd.DataFrame:
    """Published rows as raw stop records (text, as the connector hands them over), with
    synthetic identities; ethnicity as if the force had mapped it."""
    stop_day = (pd.to_datetime(published["Date"], utc=True, format="ISO8601")
                .dt.tz_convert("Europe/London").dt.date)
    rows = []
    for n, (pub, day) in enumerate(zip(published.to_dict("records"), stop_day)):
        drug = (DRUGS[n % len(DRUGS)] if pub["Object of search"] == codes.CONTROLLED_DRUGS
                else (None, None, None, None))
        rows.append({
            "stop_ref": f"RD{n:06d}", "stop_time": pub["Date"], "area": AREAS[n % len(AREAS)],
            "person_id": f"P{n:06d}",
            "pnc_id": f"{n % 100:02d}/{n:07d}{pnc_check_letter(n % 100, n)}" if n % 3 else None,
            "forename": f"Forename{n}", "surname": f"Surname{n}",
            "date_of_birth": _date_of_birth(day, pub["Age range"], n),
            "postcode": f"{DISTRICTS[n % len(DISTRICTS)]} {n % 10}AB" if n % 5 else None,
            **{field: pub[column] for column, (field, _) in CODE_COLUMNS.items()},
            "drug_name": drug[0], "drug_class": drug[1], "quantity": drug[2], "quantity_unit": drug[3],
            "offence": "possession" if drug[0] else None, "officer_action": None,
            "last_modified": pub["Date"],
        })
    return pd.DataFrame(rows, dtype="str")


def check_conformance(published: pd.DataFrame) -> pd.DataFrame:
    """Validate published rows; assert the contract holds. Returns the raw stops with reasons."""
    raw = to_raw_stops(published)
    batch = validate_stops(raw, CONFIG)
    assert batch.counts["read"] == len(published)
    assert batch.counts["valid"] + batch.counts["quarantined"] == len(published)
    assert batch.quarantined["reasons"].map(len).gt(0).all()
    failures = batch.failures
    rejected_codes = failures[failures["check"] == "not a recognised code"]
    assert rejected_codes.empty, rejected_codes[["field", "value"]].drop_duplicates().to_string()
    assert set(failures["check"]) <= EXPECTED_REASONS, set(failures["check"]) - EXPECTED_REASONS
    # only those reasons, and only where the published row explains them
    under_ten = raw["age_range"].eq("under 10")
    drug_stop_without_age = raw["object_of_search"].eq(codes.CONTROLLED_DRUGS) & raw["age_range"].eq("")
    assert set(batch.quarantined.index) == set(raw.index[under_ten | drug_stop_without_age])
    return raw


def test_published_code_values_are_all_in_the_code_lists():
    published = read_published(SAMPLE)
    for column, (_, allowed) in CODE_COLUMNS.items():
        values = set(published[column]) - {""}
        assert values <= set(allowed), (column, values - set(allowed))


def test_sample_has_blanks_in_every_column_the_real_files_leave_blank():
    published = read_published(SAMPLE)
    blank = {c for c in HEADER if published[c].eq("").any()}
    assert blank == set(HEADER) - {"Type", "Date"}  # the only two never blank in the real files


def test_real_sample_conforms():
    published = read_published(SAMPLE)
    raw = check_conformance(published)
    assert len(raw) == len(published) == 162


@pytest.mark.skipif(not REAL_DATA.is_dir(),
                    reason=f"the published stop-and-search files are not on this machine ({REAL_DATA})")
def test_all_published_rows_conform_and_the_sample_covers_their_codes():
    files = sorted(REAL_DATA.glob("*-stop-and-search.csv"))
    assert len(files) == 21
    published = pd.concat([read_published(f) for f in files], ignore_index=True)
    assert len(published) == 22587
    check_conformance(published)
    sample = read_published(SAMPLE)
    for column in CODE_COLUMNS:  # every value published (blank included) is in the shipped sample
        assert set(published[column]) == set(sample[column]), column
        assert len(set(published[column]) - {""}) == PUBLISHED_VALUE_COUNTS[column], column
    assert {c for c in HEADER if published[c].eq("").any()} == set(HEADER) - {"Type", "Date"}
    originals = {line for f in files for line in f.read_bytes().split(b"\r\n")}
    assert all(line in originals for line in SAMPLE.read_bytes().split(b"\r\n")), \
        "the sample's lines are byte-identical to published lines"


def test_sample_covers_every_code_value_published_in_the_real_files():
    """Distinct non-blank values per column in all 21 files (checked value by value against the
    files themselves when they are present). Values of codes.py they never use, e.g. `Mixed`
    officer-defined ethnicity, `Other` gender, `White - Gypsy or Irish Traveller` and
    `Other ethnic group - Arab`, cannot be in a sample of them."""
    sample = read_published(SAMPLE)
    counts = {column: len(set(sample[column]) - {""}) for column in CODE_COLUMNS}
    assert counts == PUBLISHED_VALUE_COUNTS
