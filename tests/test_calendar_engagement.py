"""Deadlines in working days, and the engagement state of a referral at the edges."""
from datetime import date

import pandas as pd
import pytest

from schemas.config import Deadlines
from transforms.calendar import WorkingCalendar
from transforms.engagement import assess_engagement, assess_referral

CAL = WorkingCalendar("GB", "ENG")
DEADLINES = Deadlines(yot_record=5, first_contact=10, first_session=20)


def test_working_days_skip_weekends_and_bank_holidays():
    # Friday 19 Dec 2025 + 5 working days: 22, 23, 24 Dec, (25, 26 bank holidays), 29, 30 Dec
    assert CAL.add_working_days(date(2025, 12, 19), 5) == date(2025, 12, 30)
    # Thursday 2 April 2026: Good Friday 3 April and Easter Monday 6 April are not working days
    assert CAL.add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)
    assert CAL.working_days_between(date(2026, 4, 2), date(2026, 4, 7)) == 1
    # leap day counts as an ordinary Thursday
    assert CAL.add_working_days(date(2028, 2, 28), 2) == date(2028, 3, 1)


def _ref(day: date) -> dict:
    return {"referral_ref": "DR-1", "yot_id": "reading", "referral_date": day}


def _assess(case, night, stale=False, referred=date(2026, 3, 2)):
    return assess_referral(_ref(referred), case, yot_stale=stale, night=night, deadlines=DEADLINES,
                           calendar=CAL)


def test_no_yot_record_is_a_breach_only_after_the_deadline():
    due = CAL.add_working_days(date(2026, 3, 2), 5)
    assert _assess(None, due)["state"] == "awaiting_yot_record"
    late = _assess(None, date.fromordinal(due.toordinal() + 1))
    assert late["state"] == "no_yot_record" and late["deadline"] == due


def test_stale_caseload_never_puts_a_child_in_breach():
    result = _assess(None, date(2026, 5, 1), stale=True)
    assert result["state"] == "awaiting_yot_record"
    assert "stale" in result["evidence"]


@pytest.mark.parametrize("case, night, state", [
    ({"case_id": "C", "status": "completed", "status_date": date(2026, 4, 1)}, date(2026, 4, 2), "completed"),
    ({"case_id": "C", "status": "declined"}, date(2026, 3, 3), "declined"),
    ({"case_id": "C", "status": "did_not_engage"}, date(2026, 3, 3), "did_not_engage"),
    ({"case_id": "C", "status": "referred"}, date(2026, 3, 16), "awaiting_contact"),
    ({"case_id": "C", "status": "referred"}, date(2026, 3, 17), "no_first_contact"),
    ({"case_id": "C", "status": "contacted", "first_contact": date(2026, 3, 4)}, date(2026, 3, 30), "contacted"),
    ({"case_id": "C", "status": "contacted", "first_contact": date(2026, 3, 4)}, date(2026, 3, 31), "no_session"),
    ({"case_id": "C", "status": "contacted", "sessions_attended": 1}, date(2026, 5, 1), "engaged"),
])
def test_states_from_the_caseload(case, night, state):
    assert _assess(case, night)["state"] == state


def test_completion_records_outcome_22():
    result = _assess({"case_id": "C", "status": "completed"}, date(2026, 4, 2))
    assert result["crime_outcome"] == 22


def test_assess_engagement_frame_marks_non_engagement():
    referrals = pd.DataFrame([_ref(date(2026, 3, 2)) | {"referral_ref": r} for r in ("A", "B")])
    cases = pd.DataFrame([{"referral_ref": "A", "case_id": "C1", "status": "declined"}])
    out = assess_engagement(referrals, cases, set(), night=date(2026, 3, 20), deadlines=DEADLINES,
                            calendar=CAL).set_index("referral_ref")
    assert out.loc["A", "non_engagement_reason"] == "declined"
    assert out.loc["B", "non_engagement_reason"] == "no_yot_record"


def test_clock_change_nights_count_deadlines_from_the_local_day():
    """A stop at 00:30 BST on the night the clocks go back is a Sunday-25-October referral."""
    from transforms.stop_days import local_stop_day
    stop_times = pd.Series(pd.to_datetime([
        "2026-10-24T22:30:00Z",  # 23:30 BST, Saturday 24 October
        "2026-10-24T23:30:00Z",  # 00:30 BST, Sunday 25 October (clocks go back at 02:00 BST)
        "2026-10-25T01:30:00Z",  # 01:30 GMT, the hour that happens twice, second time round
        "2026-03-28T23:30:00Z",  # 23:30 GMT, Saturday 28 March
        "2026-03-29T01:30:00Z",  # 02:30 BST, Sunday 29 March (01:00-02:00 GMT never happened)
    ], utc=True))
    days = [d.date() for d in local_stop_day(stop_times, "Europe/London")]
    assert days == [date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 25), date(2026, 3, 28),
                    date(2026, 3, 29)]
    # referred on the Sunday: five working days are Monday 26 to Friday 30 October
    assert CAL.add_working_days(date(2026, 10, 25), 5) == date(2026, 10, 30)
    due = CAL.add_working_days(date(2026, 10, 25), 5)
    assert _assess(None, due, referred=date(2026, 10, 25))["state"] == "awaiting_yot_record"
    assert _assess(None, date(2026, 10, 31), referred=date(2026, 10, 25))["state"] == "no_yot_record"
