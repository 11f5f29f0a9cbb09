"""Every check of the stop and caseload contracts, through the public validation functions.

One case per check: a row that fails it is quarantined with that check's readable name among its
reasons, and a row that passes it (at the boundary where there is one) goes on as valid.
"""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from schemas.config import load_config
from schemas.identifiers import pnc_check_letter
from tests.stop_rows import GOOD_PNC, raw_frame, raw_stop
from transforms.caseload import read_export, validate_caseload
from transforms.stops import validate_stops

CONFIG = load_config()
BAD_LETTER_PNC = GOOD_PNC[:-1] + ("R" if GOOD_PNC.endswith("Q") else "Q")
NO_DRUG = dict(drug_name=None, drug_class=None, quantity=None, quantity_unit=None, offence=None,
               object_of_search="Stolen goods", outcome="A no further action disposal")
NITROUS = dict(drug_name="nitrous oxide", quantity="2", quantity_unit="canisters",
               date_of_birth="2008-01-01")


def _reasons(batch, key: str, ref: str) -> list[tuple]:
    rows = batch.quarantined[batch.quarantined[key] == ref]
    assert len(rows) == 1, f"{ref} was not quarantined"
    return [(r["field"], r["check"]) for r in rows.iloc[0]["reasons"]]


# --- the stop record (schemas/stop.py: StopRecord and stop_schema) ------------------------------

STOP_CASES = [  # (field or None for a whole-row check, check as a person reads it, fails, passes)
    ("stop_ref", "required value is blank", {"stop_ref": " "}, {}),
    ("stop_time", "required value is blank", {"stop_time": None}, {}),
    ("stop_time", "not a date-time", {"stop_time": "01/03/2026 18:30"}, {"stop_time": "2026-03-01T18:30:00Z"}),
    ("last_modified", "required value is blank", {"last_modified": ""}, {}),
    ("last_modified", "not a date-time", {"last_modified": "2026-13-01T19:00:00+00:00"}, {}),
    ("area", "required value is blank", {"area": None}, {}),
    ("area", "area is a configured local policing area", {"area": "Gotham"}, {"area": " Windsor & Maidenhead "}),
    ("pnc_id", "not in the expected format", {"pnc_id": "1234567"}, {"pnc_id": GOOD_PNC.lower()}),
    ("pnc_id", "PNC id check letter", {"pnc_id": BAD_LETTER_PNC},
     {"pnc_id": f"26/1{pnc_check_letter(26, 1)}"}),
    ("date_of_birth", "not a date", {"date_of_birth": "31/02/2010"}, {"date_of_birth": "2010-02-28"}),
    ("gender", "not a recognised code", {"gender": "M"}, {"gender": "Other"}),
    ("postcode", "not in the expected format", {"postcode": "RG1"}, {"postcode": "sw1a1aa"}),
    ("search_type", "required value is blank", {"search_type": None}, {}),
    ("search_type", "not a recognised code", {"search_type": "Foot search"}, {"search_type": "Vehicle search"}),
    ("age_range", "not a recognised code", {"age_range": "10 to 17"}, {"age_range": None}),
    ("legislation", "not a recognised code", {"legislation": "Misuse of Drugs Act (s23)"},
     {"legislation": "Psychoactive Substances Act 2016 (s36(2))"}),
    ("object_of_search", "not a recognised code", {"object_of_search": "Drugs"},
     {"object_of_search": "Psychoactive substances"}),
    ("outcome", "not a recognised code", {"outcome": "NFA"}, {"outcome": "Khat or Cannabis warning"}),
    ("self_defined_ethnicity", "not a recognised code", {"self_defined_ethnicity": "White British"},
     {"self_defined_ethnicity": "White - Gypsy or Irish Traveller"}),
    ("officer_defined_ethnicity", "not a recognised code", {"officer_defined_ethnicity": "W1"},
     {"officer_defined_ethnicity": "Mixed"}),
    ("drug_class", "not a recognised code", {"drug_class": "D"}, {"drug_class": "class b"}),
    ("quantity", "not a number", {"quantity": "2,5"}, {"quantity": "2.50"}),
    ("quantity", "must be more than 0", {"quantity": "0"}, {"quantity": "0.01"}),
    ("quantity_unit", "quantity unit is allowed", {"quantity_unit": "bags"}, {"quantity_unit": "G"}),
    ("offence", "offence is a configured code", {"offence": "Dealing"}, {"offence": "PWITS"}),
    (None, "date of birth before the stop", {"date_of_birth": "2026-03-02"}, {}),
    # stop at 00:30 on 1 July local time (23:30 UTC on 30 June): the local day decides the age
    (None, "age at the stop is 10 or over (age of criminal responsibility)",
     {"stop_time": "2026-06-30T23:30:00+00:00", "date_of_birth": "2016-07-02"},
     {"stop_time": "2026-06-30T23:30:00+00:00", "date_of_birth": "2016-07-01"}),
    (None, "age at the stop is at most 110", {"date_of_birth": "1915-03-01"}, {"date_of_birth": "1915-03-02"}),
    (None, "date of birth present for a drugs stop", {"date_of_birth": None}, NO_DRUG | {"date_of_birth": None}),
    (None, "quantity and unit given together", {"quantity_unit": None}, {"quantity": None, "quantity_unit": None}),
    (None, "offence recorded when a drug was found", {"offence": None}, NO_DRUG),
    (None, "drug is in the reference table", {"drug_name": "mystery powder"}, {"drug_name": " Cannabis Resin "}),
    (None, "drug class matches the reference table", {"drug_class": "A"}, {"drug_class": "Class B"}),
    # nitrous oxide is class C from 8 November 2023 (local day); before that its class is not checked
    (None, "drug class matches the reference table",
     NITROUS | {"drug_class": "B", "stop_time": "2023-11-08T00:30:00+00:00"},
     NITROUS | {"drug_class": "B", "stop_time": "2023-11-07T23:30:00+00:00"}),
]


@pytest.mark.parametrize("field, check, fails, passes", STOP_CASES,
                         ids=[f"{f or 'row'}: {c}" for f, c, *_ in STOP_CASES])
def test_stop_check(field, check, fails, passes):
    failing = raw_stop(**({"stop_ref": "FAIL"} | fails))
    batch = validate_stops(raw_frame(failing, raw_stop(**({"stop_ref": "PASS"} | passes))), CONFIG)
    assert batch.counts == {"read": 2, "valid": 1, "quarantined": 1}
    assert (field, check) in _reasons(batch, "stop_ref", failing["stop_ref"])
    assert list(batch.valid["stop_ref"]) == ["PASS"]


def test_the_schemes_time_zone_decides_the_day_of_a_stop_and_so_the_age():
    """Both children turn 10 on 1 July. 23:30 UTC on 30 June is 1 July in London, still 30 June in
    UTC; 04:30 UTC on 1 July is 1 July in London and UTC, still 30 June in Chicago."""
    rows = raw_frame(raw_stop(stop_ref="LATE", stop_time="2026-06-30T23:30:00+00:00", date_of_birth="2016-07-01"),
                     raw_stop(stop_ref="EARLY", stop_time="2026-07-01T04:30:00+00:00", date_of_birth="2016-07-01"))
    held = {}
    for zone in ("Europe/London", "UTC", "America/Chicago"):
        config = CONFIG.model_copy(update={"scheme": CONFIG.scheme.model_copy(update={"timezone": zone})})
        batch = validate_stops(rows, config)
        held[zone] = set(batch.quarantined["stop_ref"])
        for ref in held[zone]:
            assert _reasons(batch, "stop_ref", ref) == [
                (None, "age at the stop is 10 or over (age of criminal responsibility)")]
    assert held == {"Europe/London": set(), "UTC": {"LATE"}, "America/Chicago": {"LATE", "EARLY"}}


def test_stop_ref_must_be_unique():
    batch = validate_stops(raw_frame(raw_stop(stop_ref="SS1"), raw_stop(stop_ref="SS1", quantity="3"),
                                     raw_stop(stop_ref="SS2")), CONFIG)
    assert list(batch.valid["stop_ref"]) == ["SS2"]
    assert len(batch.quarantined) == 2
    for reasons in batch.quarantined["reasons"]:
        assert ("stop_ref", "duplicate (must be unique)") in [(r["field"], r["check"]) for r in reasons]


def test_ethnicity_unmapped_is_blank_and_never_required():
    assert "self_defined_ethnicity" not in CONFIG.records_system.columns
    batch = validate_stops(raw_frame(raw_stop()), CONFIG)
    assert batch.counts["valid"] == 1
    assert batch.valid[["self_defined_ethnicity", "officer_defined_ethnicity"]].isna().all().all()


# --- the caseload row (schemas/caseload.py: CaseloadRow and caseload_schema) --------------------

SETTINGS = CONFIG.caseload
FILE_DATE = date(2026, 3, 10)


def caseload_row(**overrides) -> dict:
    """One export row by pipeline field; values as a YOT's system writes them."""
    row = {"case_id": "YC1", "referral_ref": "dr-ss1", "pnc_id": GOOD_PNC, "forename": "Zoë",
           "surname": "O'Brien", "date_of_birth": "04/05/2010", "gender": "F", "postcode": "rg1 1aa",
           "referral_received": "02/03/2026", "first_contact": "03/03/2026",
           "assessment_date": "05/03/2026", "sessions_offered": "4", "sessions_attended": "2",
           "status": "Engaged", "status_date": "05/03/2026"}
    row.update(overrides)
    return row


def caseload_export(*rows: dict) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SETTINGS.columns.values())
    for row in rows:
        writer.writerow(["" if row[f] is None else row[f] for f in SETTINGS.columns])
    return out.getvalue().encode("utf-8")


def validate_export(*rows: dict):
    return validate_caseload(read_export(caseload_export(*rows), "caseload_reading_20260310.csv", SETTINGS),
                             SETTINGS, FILE_DATE)


_LAST = "10/03/2026"     # the export's own date: allowed
_AFTER = "11/03/2026"    # the day after: a date in the future of the export

CASELOAD_CASES = [
    ("case_id", "required value is blank", {"case_id": " "}, {}),
    ("pnc_id", "not in the expected format", {"pnc_id": "09-1234567"}, {"pnc_id": None}),
    ("gender", "gender is Male, Female or Other", {"gender": "X"}, {"gender": "male"}),
    ("postcode", "not in the expected format", {"postcode": "RG1"}, {"postcode": "RG11AA"}),
    *[(f, "not a date (%d/%m/%Y)", {f: "2026-03-02"}, {f: None})
      for f in ("date_of_birth", "referral_received", "first_contact", "assessment_date", "status_date")],
    ("sessions_offered", "not a whole number", {"sessions_offered": "2.5"}, {"sessions_offered": "4.0"}),
    ("sessions_offered", "must be at least 0", {"sessions_offered": "-1", "sessions_attended": "-2"},
     {"sessions_offered": "0", "sessions_attended": "0"}),
    ("sessions_attended", "not a whole number", {"sessions_attended": "two"}, {"sessions_attended": None}),
    ("sessions_attended", "must be at least 0", {"sessions_attended": "-1"}, {"sessions_attended": "0"}),
    ("status", "status is a known caseload status", {"status": "lost"}, {"status": "DNE"}),
    ("status", "required value is blank", {"status": ""}, {"status": "Closed - Other"}),
    (None, "dates in order (referral received, first contact, assessment)",
     {"first_contact": "01/03/2026"}, {"first_contact": "02/03/2026", "assessment_date": "02/03/2026"}),
    (None, "dates in order (referral received, first contact, assessment)",
     {"assessment_date": "02/03/2026"}, {"assessment_date": "03/03/2026"}),
    (None, "sessions attended not more than sessions offered",
     {"sessions_attended": "5"}, {"sessions_attended": "4"}),
    (None, "no date after the export's date",
     {"referral_received": _AFTER, "first_contact": _AFTER, "assessment_date": _AFTER},
     {"referral_received": _LAST, "first_contact": _LAST, "assessment_date": _LAST}),
    (None, "no date after the export's date",
     {"first_contact": _AFTER, "assessment_date": _AFTER}, {"first_contact": _LAST, "assessment_date": _LAST}),
    (None, "no date after the export's date", {"assessment_date": _AFTER}, {"assessment_date": _LAST}),
    (None, "no date after the export's date", {"status_date": _AFTER}, {"status_date": _LAST}),
]


@pytest.mark.parametrize("field, check, fails, passes", CASELOAD_CASES,
                         ids=[f"{f or 'row'}: {c}: {sorted(fails)[0]}" for f, c, fails, _ in CASELOAD_CASES])
def test_caseload_check(field, check, fails, passes):
    fail_ref = " " if "case_id" in fails else "FAIL"
    batch = validate_export(caseload_row(**({"case_id": "FAIL"} | fails)),
                            caseload_row(**({"case_id": "PASS"} | passes)))
    assert batch.counts == {"read": 2, "valid": 1, "quarantined": 1}
    assert (field, check) in _reasons(batch, "case_id", fail_ref)
    assert list(batch.valid["case_id"]) == ["PASS"]


def test_case_id_must_be_unique():
    batch = validate_export(caseload_row(case_id="YC1"), caseload_row(case_id="YC1", surname="Other"),
                            caseload_row(case_id="YC2"))
    assert list(batch.valid["case_id"]) == ["YC2"]
    assert len(batch.quarantined) == 2
    for reasons in batch.quarantined["reasons"]:
        assert ("case_id", "duplicate (must be unique)") in [(r["field"], r["check"]) for r in reasons]
