"""Stop typing and validation: a good row is typed, blanks are data, quarantine keeps the original.

Each contract check, failing and passing, is in tests/test_contract_checks.py.
"""
from decimal import Decimal

import pytest

from schemas.config import load_config
from transforms.stops import validate_stops
from tests.stop_rows import raw_frame, raw_stop

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
    assert row["offence"] == "possession" and row["quantity"] == Decimal("2.5")
    assert str(row["stop_time"].tz) == "UTC"


# One failing and one passing row per contract check: tests/test_contract_checks.py.


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


@pytest.mark.parametrize("text, read", [("0.1", "0.100"), ("2.50", "2.500"), ("1e1", "10.000"),
                                        ("0.0005", None), ("a few", None), ("NaN", None), ("1e12", None)])
def test_quantities_are_exact_decimals_or_quarantined(text, read):
    batch = validate_stops(raw_frame(raw_stop(quantity=text)), CONFIG)
    if read is None:
        (reasons,) = batch.quarantined["reasons"]
        expected = "more than 3 decimal places" if text == "0.0005" else "not a number"
        assert reasons == [{"field": "quantity", "check": expected, "value": text}]
    else:
        value = batch.valid["quantity"].iloc[0]
        assert isinstance(value, Decimal) and str(value) == read
