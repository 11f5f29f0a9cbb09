"""Each stop check: a row that fails it is quarantined with that reason; a good row passes."""
import pytest

from schemas.config import load_config
from transforms.stops import validate_stops
from tests.stop_rows import GOOD_PNC, raw_frame, raw_stop

CONFIG = load_config()


def _reasons(**overrides):
    batch = validate_stops(raw_frame(raw_stop(), raw_stop(**({"stop_ref": "SS2"} | overrides))), CONFIG)
    assert batch.counts["read"] == 2
    assert batch.counts["valid"] + batch.counts["quarantined"] == 2
    assert "SS1" in set(batch.valid["stop_ref"])
    if batch.quarantined.empty:
        return []
    return [r["check"] for r in batch.quarantined.iloc[0]["reasons"]]


def test_good_row_is_typed():
    batch = validate_stops(raw_frame(raw_stop()), CONFIG)
    row = batch.valid.iloc[0]
    assert batch.quarantined.empty
    assert row["postcode"] == "RG1 1AA" and row["drug_name"] == "cannabis"
    assert row["offence"] == "possession" and row["quantity"] == 2.5
    assert str(row["stop_time"].tz) == "UTC"


@pytest.mark.parametrize("overrides, reason", [
    ({"area": "Gotham"}, "not a recognised code"),
    ({"gender": "M"}, "not a recognised code"),
    ({"legislation": "Misuse of Drugs Act (s23)"}, "not a recognised code"),
    ({"pnc_id": "09/1234567Q" if not GOOD_PNC.endswith("Q") else "09/1234567R"}, "PNC id check letter"),
    ({"pnc_id": "1234567"}, "not in the expected format"),
    ({"postcode": "RG1"}, "not in the expected format"),
    ({"date_of_birth": "2027-01-01"}, "date of birth before the stop"),
    ({"date_of_birth": "2019-01-01"}, "age at the stop is 10 or over (age of criminal responsibility)"),
    ({"date_of_birth": "1900-01-01"}, "age at the stop is at most 110"),
    ({"date_of_birth": None}, "date of birth present for a drugs stop"),
    ({"date_of_birth": "31/02/2010"}, "not a date"),
    ({"quantity": "-1"}, "must be more than 0"),
    ({"quantity": "lots"}, "not a number"),
    ({"quantity_unit": "bags"}, "not a recognised code"),
    ({"drug_name": "mystery powder"}, "drug is in the reference table"),
    ({"drug_class": "A"}, "drug class matches the reference table"),
    ({"offence": "Dealing"}, "offence is a configured code"),
    ({"stop_time": "yesterday"}, "not a date-time"),
])
def test_each_check_quarantines_with_its_reason(overrides, reason):
    assert reason in _reasons(**overrides)


def test_blanks_where_published_data_has_them_are_accepted():
    assert _reasons(gender=None, outcome=None, legislation=None, postcode=None, pnc_id=None) == []


def test_nitrous_oxide_class_c_only_from_8_november_2023():
    before = dict(drug_name="nitrous oxide", drug_class="C", quantity="2", quantity_unit="canisters",
                  stop_time="2023-11-07T12:00:00+00:00", last_modified="2023-11-07T13:00:00+00:00",
                  date_of_birth="2008-01-01")
    assert _reasons(**before) == []  # not yet controlled: the class is not checked
    assert _reasons(**(before | {"drug_class": "B", "stop_time": "2023-11-09T12:00:00+00:00"})) == [
        "drug class matches the reference table"]


def test_quarantined_row_keeps_its_original_values():
    batch = validate_stops(raw_frame(raw_stop(postcode=" rg1  1aa", quantity="lots")), CONFIG)
    assert batch.quarantined.iloc[0]["quantity"] == "lots"
    assert batch.quarantined.iloc[0]["postcode"] == " rg1  1aa"


def test_duplicate_stop_refs_are_both_quarantined():
    batch = validate_stops(raw_frame(raw_stop(), raw_stop(quantity="3")), CONFIG)
    assert batch.valid.empty and len(batch.quarantined) == 2
    assert all("duplicate (must be unique)" in [r["check"] for r in reasons]
               for reasons in batch.quarantined["reasons"])
