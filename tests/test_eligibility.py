"""Eligibility at its edges: the 18th birthday, thresholds, intent to supply, a repeat stop."""
import pandas as pd
import pytest

from schemas.config import load_config
from transforms.eligibility import decide_eligibility, route_to_yot
from transforms.stops import validate_stops
from tests.stop_rows import raw_frame, raw_stop

CONFIG = load_config()


def _decide(history=None, **overrides):
    batch = validate_stops(raw_frame(raw_stop(**overrides)), CONFIG)
    assert batch.quarantined.empty, batch.quarantined["reasons"].tolist()
    return decide_eligibility(batch.valid, history if history is not None else pd.DataFrame(),
                              CONFIG).iloc[0]


@pytest.mark.parametrize("overrides, reason", [
    ({}, "eligible"),
    # stop at 23:30 UTC on 2026-05-03 is 00:30 BST on the 4th: the 18th birthday, an adult
    ({"date_of_birth": "2008-05-04", "stop_time": "2026-05-03T23:30:00+00:00"}, "adult"),
    ({"date_of_birth": "2008-05-04", "stop_time": "2026-05-03T22:30:00+00:00"}, "eligible"),
    # born on a leap day: 18 on 1 March in a common year
    ({"date_of_birth": "2008-02-29", "stop_time": "2026-02-28T12:00:00+00:00"}, "eligible"),
    ({"date_of_birth": "2008-02-29", "stop_time": "2026-03-01T12:00:00+00:00"}, "adult"),
    ({"quantity": "10"}, "eligible"),
    ({"quantity": "10.1"}, "larger_quantity"),
    ({"quantity": "10.001"}, "larger_quantity"),  # exact decimals: the smallest step over is over
    # crack cocaine's threshold is 0.5 g
    ({"drug_name": "crack cocaine", "drug_class": "A", "quantity": "0.500"}, "eligible"),
    ({"drug_name": "crack cocaine", "drug_class": "A", "quantity": "0.501"}, "larger_quantity"),
    ({"offence": "Possession with intent to supply"}, "intent_to_supply"),
    ({"offence": "supply"}, "supply"),
    ({"drug_name": None, "drug_class": None, "quantity": None, "quantity_unit": None, "offence": None},
     "no_drug_found"),
    ({"drug_name": "mdma", "drug_class": "A", "quantity": "1.5", "quantity_unit": "g"}, "quantity_unit_mismatch"),
])
def test_rules(overrides, reason):
    assert _decide(**overrides)["reason"] == reason


def _history(state):
    return pd.DataFrame([{"referral_ref": "DR-OLD", "referral_stop_ref": "OLD", "person_id": "P1",
                          "stop_time": pd.Timestamp("2026-01-05T12:00:00Z"), "state": state}])


def test_repeat_stop_after_engagement_is_eligible_and_linked():
    decision = _decide(_history("completed"))
    assert decision["reason"] == "eligible" and decision["previous_referral_ref"] == "DR-OLD"


def test_previous_non_engagement_is_not_eligible():
    assert _decide(_history("did_not_engage"))["reason"] == "previous_non_engagement"


def test_routing_by_home_postcode_then_area():
    postcodes = pd.Series(["RG14 5AB", None, "ZZ1 1ZZ"], dtype="str")
    areas = pd.Series(["Reading", "Slough", "Oxford"], dtype="str")
    assert route_to_yot(postcodes, areas, CONFIG).tolist() == ["west_berkshire", "slough", "oxfordshire"]


def _with_nights(opened, resolved=None):
    return _history("did_not_engage").assign(non_engagement_night=pd.Timestamp(opened),
                                              non_engagement_resolved=pd.Timestamp(resolved))


@pytest.mark.parametrize("opened, resolved, reason", [
    ("2026-02-10", None, "previous_non_engagement"),       # established before the stop (1 March)
    ("2026-03-05", None, "eligible"),                      # only known after it: a re-run agrees
    ("2026-02-10", "2026-02-20", "eligible"),              # the child engaged after all, in time
    ("2026-02-10", "2026-03-01", "previous_non_engagement"),  # resolved only on the stop's day
])
def test_previous_non_engagement_as_known_on_the_stop_day(opened, resolved, reason):
    assert _decide(_with_nights(opened, resolved))["reason"] == reason


def test_repeat_stops_in_one_batch_link_to_each_other():
    """A first night extracting weeks of stops links a repeat stop as a later re-run would."""
    first = raw_stop(stop_ref="SS1", stop_time="2026-03-01T18:30:00+00:00")
    again = raw_stop(stop_ref="SS2", stop_time="2026-03-08T18:30:00+00:00")
    other = raw_stop(stop_ref="SS3", person_id="P2", stop_time="2026-03-09T18:30:00+00:00")
    batch = validate_stops(raw_frame(first, again, other), CONFIG).valid
    decisions = decide_eligibility(batch, pd.DataFrame(), CONFIG).set_index("stop_ref")
    assert decisions["eligible"].all()
    linked = {k: v if isinstance(v, str) else None for k, v in decisions["previous_referral_ref"].items()}
    assert linked == {"SS1": None, "SS2": "DR-SS1", "SS3": None}
