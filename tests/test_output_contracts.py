"""Contracts on what the pipeline writes: real transform outputs pass, and each named check fails
with a message that names the check and the key, never a personal value."""
from datetime import date

import pandas as pd
import pytest

from schemas.config import Deadlines, load_config
from schemas.contract import ContractBroken, enforce
from schemas.engagement import EngagementAssessment
from schemas.escalation import EscalationRecord
from schemas.match import MatchRecord
from schemas.referral import ReferralRecord, referral_schema
from transforms.calendar import WorkingCalendar
from transforms.eligibility import decide_eligibility, referral_ref_for, route_to_yot
from transforms.engagement import assess_engagement
from transforms.escalation import plan_escalations
from transforms.matching import match_people
from transforms.stops import validate_stops
from tests.stop_rows import raw_frame, raw_stop

CONFIG = load_config()
NIGHT = date(2026, 3, 20)
RUN = "scheduled__2026-03-20T02:00:00+00:00"


def _broken(frame: pd.DataFrame, schema, what: str) -> str:
    with pytest.raises(ContractBroken) as caught:
        enforce(frame, schema, what)
    message = str(caught.value)
    assert message.startswith(what)
    return message


# --- referral ----------------------------------------------------------------------------------

def _referrals() -> pd.DataFrame:
    """Built from validated stops exactly as decide_referrals builds them."""
    batch = validate_stops(raw_frame(
        raw_stop(),
        raw_stop(stop_ref="SS2", person_id="P2", postcode=None, area="Slough",
                 stop_time="2026-03-02T23:30:00+00:00"),
        raw_stop(stop_ref="SS3", stop_time="2026-03-10T12:00:00+00:00"),  # P1 again: linked to SS1
    ), CONFIG)
    assert batch.quarantined.empty
    stops = batch.valid
    decisions = decide_eligibility(stops, pd.DataFrame(), CONFIG)
    eligible = stops[decisions["eligible"]]
    return pd.DataFrame({
        "referral_ref": referral_ref_for(eligible["stop_ref"]),
        "stop_ref": eligible["stop_ref"],
        "person_id": eligible["person_id"],
        "yot_id": route_to_yot(eligible["postcode"], eligible["area"], CONFIG),
        "area": eligible["area"],
        "referral_date": eligible["stop_time"].dt.tz_convert(CONFIG.scheme.timezone).dt.date,
        "previous_referral_ref": decisions.loc[eligible.index, "previous_referral_ref"],
        "run_id": RUN,
    })


def test_real_referrals_meet_the_contract():
    referrals = _referrals()
    assert len(referrals) == 3 and referrals["previous_referral_ref"].notna().sum() == 1
    assert enforce(referrals, referral_schema(CONFIG), "referral") is referrals
    enforce(referrals, ReferralRecord, "referral")


@pytest.mark.parametrize("change, check, key", [
    (lambda f: f.assign(stop_ref=f["stop_ref"].where(f.index != 0, "SS9")),
     "referral reference is DR- and the stop reference", "DR-SS1"),
    (lambda f: f.assign(previous_referral_ref=f["referral_ref"]),
     "a referral is not its own previous referral", "DR-SS2"),
    (lambda f: f.assign(yot_id=f["yot_id"].where(f.index != 0, "nan")),
     "referred to a configured YOT", "DR-SS1"),
    (lambda f: pd.concat([f, f.iloc[[0]]]), "duplicate (must be unique)", "DR-SS1"),
])
def test_referral_checks_name_the_referral(change, check, key):
    message = _broken(change(_referrals()), referral_schema(CONFIG), "referral")
    assert check in message and key in message
    assert "P1" not in message and "2026-03-01" not in message  # no person id, no date


# --- match -------------------------------------------------------------------------------------

def _person(record_id, forename="Olivia", surname="Hartley", dob=date(2009, 3, 14), **extra):
    return {"record_id": record_id, "forename": forename, "surname": surname, "date_of_birth": dob,
            "gender": "F", "postcode": "RG14 5AB", "pnc_id": None, "referral_ref": None} | extra


def _matches() -> pd.DataFrame:
    """match_people on a few children, shaped as match_referrals writes them."""
    left = pd.DataFrame([
        _person("DR-A", referral_ref="DR-A"),
        _person("DR-B", forename="Jack", surname="Dawson", dob=date(2010, 7, 1)),
        _person("DR-C", forename="Amir", surname="Khan", dob=date(2011, 1, 2), referral_ref="DR-C"),
    ])
    right = pd.DataFrame([
        _person("Y1", referral_ref="DR-A"),
        _person("Y2", forename="Jack", surname="Dawson", dob=date(2010, 7, 1)),
        _person("Y3", forename="Zara", surname="Obi", dob=date(2012, 9, 9), referral_ref="DR-C"),
    ])
    pairs = match_people(left, right).assign(yot_id="reading")
    rows = [{"referral_ref": r.left_id, "yot_id": r.yot_id, "case_id": r.right_id, "score": float(r.score),
             "status": r.status, "method": r.method, "reasons": r.reasons, "run_id": RUN}
            for r in pairs.itertuples()]
    return pd.DataFrame(rows)


def test_real_matches_meet_the_contract():
    matches = _matches()
    assert set(zip(matches["method"], matches["status"])) == {
        ("referral_ref", "matched"), ("probabilistic", "matched"), ("referral_ref", "possible")}
    enforce(matches, MatchRecord, "match")


def _set(frame: pd.DataFrame, ref: str, **values) -> pd.DataFrame:
    frame = frame.copy()
    for col, value in values.items():
        frame[col] = frame[col].astype("object")
        frame.loc[frame["referral_ref"] == ref, col] = value
    return frame


@pytest.mark.parametrize("change, check, key", [
    (lambda f: pd.concat([f, _set(f[f["referral_ref"] == "DR-A"], "DR-A", case_id="Y9")]),
     "a referral is matched to at most one case per YOT", "DR-A"),
    (lambda f: pd.concat([f, _set(f[f["referral_ref"] == "DR-A"], "DR-A", referral_ref="DR-Z")]),
     "a YOT case is matched to at most one referral", "Y1"),
    (lambda f: _set(f, "DR-B", score=9.0, status="possible"),
     "a probabilistic pair scores at least the review threshold", "DR-B"),
    (lambda f: _set(f, "DR-B", score=12.0),
     "a probabilistic match scores at least the match threshold", "DR-B"),
    (lambda f: _set(f, "DR-C", reasons="referral reference"),
     "an identifier pair left for review names the conflicting details", "DR-C"),
    (lambda f: _set(f, "DR-A", score=float("inf")).astype({"score": float}), "score is a finite number", "DR-A"),
    (lambda f: _set(f, "DR-A", method="hunch"), "method: not a recognised code", "DR-A"),
    (lambda f: pd.concat([f, f.iloc[[0]]]),
     "duplicate referral_ref + yot_id + case_id (must be unique together)", "DR-A"),
])
def test_match_checks_name_the_referral_and_case(change, check, key):
    matches = _matches()
    message = _broken(change(matches), MatchRecord, "match")
    assert check in message and key in message
    for personal in ("Olivia", "Hartley", "Jack", "Dawson", "Amir", "Khan", "2009"):
        assert personal not in message


# --- engagement --------------------------------------------------------------------------------

CAL = WorkingCalendar("GB", "ENG")
DEADLINES = Deadlines(yot_record=5, first_contact=10, first_session=20)
STATES = {"DR-A": "no_yot_record", "DR-B": "declined", "DR-C": "completed", "DR-D": "engaged", "DR-E": "no_first_contact"}


def _engagement() -> pd.DataFrame:
    """assess_engagement's frame plus as_of and run_id, as assess_engagement (the step) writes it."""
    referrals = pd.DataFrame([{"referral_ref": r, "yot_id": "reading", "referral_date": pd.Timestamp("2026-03-02")}
                              for r in STATES])
    cases = pd.DataFrame([
        {"referral_ref": "DR-B", "case_id": "CB", "status": "declined", "status_date": pd.Timestamp("2026-03-05")},
        {"referral_ref": "DR-C", "case_id": "CC", "status": "completed", "status_date": pd.Timestamp("2026-03-19")},
        {"referral_ref": "DR-D", "case_id": "CD", "status": "engaged", "sessions_attended": 2},
        {"referral_ref": "DR-E", "case_id": "CE", "status": "referred"},
    ])
    result = assess_engagement(referrals, cases, set(), night=NIGHT, deadlines=DEADLINES, calendar=CAL)
    return result.assign(as_of=NIGHT, run_id=RUN, referral_date=date(2026, 3, 2))


def test_real_engagement_meets_the_contract():
    engagement = _engagement()
    assert dict(zip(engagement["referral_ref"], engagement["state"])) == STATES
    enforce(engagement, EngagementAssessment, "engagement assessment")
    enforce(engagement.drop(columns=["referral_date", "run_id"]), EngagementAssessment, "engagement assessment")


@pytest.mark.parametrize("change, check, key", [
    (lambda f: _set(f, "DR-B", non_engagement_reason=None),
     "non-engagement reason is the state exactly when the state is non-engagement", "DR-B"),
    (lambda f: _set(f, "DR-D", deadline=date(2026, 3, 9)), "a deadline is recorded exactly when one was missed", "DR-D"),
    (lambda f: _set(f, "DR-A", deadline=NIGHT), "a missed deadline is before the night it was assessed", "DR-A"),
    (lambda f: _set(f, "DR-E", referral_date=date(2026, 3, 17)), "the deadline falls after the referral was made", "DR-E"),
    (lambda f: _set(f, "DR-A", yot_case_id="CA", yot_status="referred"),
     "a YOT case is linked exactly when the state needs one", "DR-A"),
    (lambda f: _set(f, "DR-D", yot_status=None), "the YOT status is given exactly when a YOT case is linked", "DR-D"),
    (lambda f: _set(f, "DR-D", crime_outcome=22),
     "a completed diversion, and only one, carries the diversion-completed outcome", "DR-D"),
    (lambda f: _set(f, "DR-D", state="happy"), "state: not a recognised code", "DR-D"),
])
def test_engagement_checks_name_the_referral(change, check, key):
    message = _broken(change(_engagement()), EngagementAssessment, "engagement assessment")
    assert check in message and key in message
    assert "2026-03" not in message and "Referred" not in message  # no dates, no evidence text


# --- escalation --------------------------------------------------------------------------------

COLUMNS = ["referral_ref", "reason", "state", "opened_night", "notified_night", "resolved_night",
           "evidence", "deadline"]


def _escalations() -> pd.DataFrame:
    """plan_escalations on tonight's engagement and an existing ledger: opens, acknowledges, resolves."""
    engagement = _engagement()
    ledger = pd.DataFrame([
        ("DR-B", "declined", "notified", date(2026, 3, 6), date(2026, 3, 6), None, "YOT recorded 'declined'", None),
        ("DR-D", "no_first_contact", "notified", date(2026, 3, 17), date(2026, 3, 17), None, "no contact", date(2026, 3, 16)),
    ], columns=COLUMNS)
    acks = pd.DataFrame([{"referral_ref": "DR-B", "reason": "declined", "acknowledged_on": date(2026, 3, 19)}])
    upserts, _ = plan_escalations(engagement, ledger, NIGHT, acks)
    return pd.DataFrame(upserts, columns=COLUMNS)


def test_real_escalations_meet_the_contract():
    escalations = _escalations()
    assert dict(zip(escalations["referral_ref"], escalations["state"])) == {
        "DR-A": "open", "DR-E": "open", "DR-B": "acknowledged", "DR-D": "resolved"}
    enforce(escalations, EscalationRecord, "escalation")


@pytest.mark.parametrize("change, check, key", [
    (lambda f: _set(f, "DR-D", resolved_night=date(2026, 3, 1)),
     "a resolved escalation has a resolved night not before its opened night", "DR-D/no_first_contact"),
    (lambda f: _set(f, "DR-D", resolved_night=None),
     "a resolved escalation has a resolved night not before its opened night", "DR-D/no_first_contact"),
    (lambda f: _set(f, "DR-A", resolved_night=NIGHT), "only a resolved escalation has a resolved night", "DR-A/no_yot_record"),
    (lambda f: _set(f, "DR-A", state="notified"), "a notified escalation has a notified night", "DR-A/no_yot_record"),
    (lambda f: _set(f, "DR-B", notified_night=date(2026, 3, 5)),
     "an escalation is notified no earlier than it was opened", "DR-B/declined"),
    (lambda f: _set(f, "DR-A", state="closed"), "state: not a recognised code", "DR-A/no_yot_record"),
    (lambda f: _set(f, "DR-A", reason="naughty"), "reason: not a recognised code", "DR-A/naughty"),
    (lambda f: pd.concat([f, f.iloc[[0]]]), "duplicate referral_ref + reason (must be unique together)", "DR-A/no_yot_record"),
])
def test_escalation_checks_name_the_referral_and_reason(change, check, key):
    message = _broken(change(_escalations()), EscalationRecord, "escalation")
    assert check in message and key in message
    assert "2026-03" not in message and "declined'" not in message


# --- enforce itself ----------------------------------------------------------------------------

def test_broken_contract_is_a_runtime_error_listing_at_most_ten_keys():
    many = pd.concat([_escalations()] * 15, ignore_index=True)
    many["referral_ref"] = [f"DR-{i:03d}" for i in range(len(many))]
    many["state"] = "closed"
    with pytest.raises(RuntimeError) as caught:
        enforce(many, EscalationRecord, "escalation")
    message = str(caught.value)
    assert "(60: " in message and "and 50 more" in message
    assert "DR-009" in message and "DR-010" not in message
    assert caught.value.failures["state: not a recognised code"][-1].startswith("DR-059")


def test_an_empty_frame_needs_only_its_columns():
    enforce(pd.DataFrame(columns=COLUMNS), EscalationRecord, "escalation")
    with pytest.raises(ContractBroken, match="column missing: evidence"):
        enforce(pd.DataFrame(columns=[c for c in COLUMNS if c != "evidence"]), EscalationRecord, "escalation")


def test_a_missing_column_is_named():
    with pytest.raises(ContractBroken, match="column missing: evidence"):
        enforce(_escalations().drop(columns=["evidence"]), EscalationRecord, "escalation")
