"""The escalation ledger opens once per reason, resolves when the reason goes, and is idempotent."""
from datetime import date

import pandas as pd

from transforms.escalation import plan_escalations

NIGHT = date(2026, 3, 20)
COLUMNS = ["referral_ref", "reason", "state", "opened_night", "notified_night", "resolved_night",
           "evidence", "deadline"]


def _engagement(*rows):
    return pd.DataFrame([{"referral_ref": r, "non_engagement_reason": why, "evidence": "e", "deadline": None}
                         for r, why in rows], columns=["referral_ref", "non_engagement_reason", "evidence", "deadline"])


def _ledger(*rows):
    return pd.DataFrame([dict(zip(COLUMNS, r)) for r in rows], columns=COLUMNS)


def test_new_non_engagement_opens_an_escalation():
    upserts, history = plan_escalations(_engagement(("A", "declined"), ("B", None)), _ledger(), NIGHT)
    assert [(u["referral_ref"], u["reason"], u["state"]) for u in upserts] == [("A", "declined", "open")]
    assert history[0]["to_state"] == "open"


def test_rerun_changes_nothing():
    ledger = _ledger(("A", "declined", "notified", NIGHT, NIGHT, None, "e", None))
    assert plan_escalations(_engagement(("A", "declined")), ledger, NIGHT) == ([], [])


def test_child_engages_after_all_resolves_it():
    ledger = _ledger(("A", "no_first_contact", "notified", date(2026, 3, 1), date(2026, 3, 1), None, "e", None))
    upserts, history = plan_escalations(_engagement(("A", None)), ledger, NIGHT)
    assert upserts[0]["state"] == "resolved" and upserts[0]["resolved_night"] == NIGHT
    assert history[0]["from_state"] == "notified"


def test_new_reason_for_same_referral_is_its_own_entry():
    ledger = _ledger(("A", "no_first_contact", "notified", date(2026, 3, 1), date(2026, 3, 1), None, "e", None))
    upserts, _ = plan_escalations(_engagement(("A", "did_not_engage")), ledger, NIGHT)
    states = {(u["reason"], u["state"]) for u in upserts}
    assert states == {("did_not_engage", "open"), ("no_first_contact", "resolved")}


def _acks(*rows):
    return pd.DataFrame([{"referral_ref": r, "reason": why, "acknowledged_on": on} for r, why, on in rows])


def test_acknowledgement_moves_notified_to_acknowledged_once():
    ledger = _ledger(("A", "declined", "notified", date(2026, 3, 1), date(2026, 3, 1), None, "e", None))
    acks = _acks(("A", "declined", date(2026, 3, 19)))
    upserts, history = plan_escalations(_engagement(("A", "declined")), ledger, NIGHT, acks)
    assert [(u["state"], u["notified_night"]) for u in upserts] == [("acknowledged", date(2026, 3, 1))]
    assert history[0]["from_state"] == "notified" and history[0]["to_state"] == "acknowledged"
    acked = _ledger(("A", "declined", "acknowledged", date(2026, 3, 1), date(2026, 3, 1), None, "e", None))
    assert plan_escalations(_engagement(("A", "declined")), acked, NIGHT, acks) == ([], [])


def test_acknowledgement_dated_after_the_night_waits():
    ledger = _ledger(("A", "declined", "notified", date(2026, 3, 1), date(2026, 3, 1), None, "e", None))
    acks = _acks(("A", "declined", date(2026, 3, 21)))
    assert plan_escalations(_engagement(("A", "declined")), ledger, NIGHT, acks) == ([], [])


def test_acknowledged_case_still_resolves_when_the_child_engages():
    ledger = _ledger(("A", "no_session", "acknowledged", date(2026, 3, 1), date(2026, 3, 1), None, "e", None))
    upserts, _ = plan_escalations(_engagement(("A", None)), ledger, NIGHT)
    assert upserts[0]["state"] == "resolved"
