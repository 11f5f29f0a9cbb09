"""Engagement per referral, derived each night from the matched caseload and the calendar.

A YOT that sent no fresh export is the YOT's delay, not the child's: its referrals wait and are
never put in breach because of it.
"""
from __future__ import annotations

from datetime import date

import pandas as pd

from schemas.codes import OUTCOME_DIVERSION_COMPLETED
from schemas.config import Deadlines
from transforms.calendar import WorkingCalendar

STATES = ("awaiting_yot_record", "awaiting_contact", "contacted", "engaged", "completed",
          "declined", "did_not_engage", "closed_other", "no_yot_record", "no_first_contact",
          "no_session")
#: States that are non-engagement, each its own escalation reason.
NON_ENGAGEMENT = ("declined", "did_not_engage", "no_yot_record", "no_first_contact", "no_session")


def _iso(day: date | None) -> str:
    return day.isoformat() if day else "not recorded"


def assess_referral(referral: dict, case: dict | None, *, yot_stale: bool, night: date,
                    deadlines: Deadlines, calendar: WorkingCalendar) -> dict:
    """The engagement state of one referral on `night`, with the evidence for it."""
    referred = referral["referral_date"]
    due = {name: calendar.add_working_days(referred, getattr(deadlines, name))
           for name in ("yot_record", "first_contact", "first_session")}
    base = {"referral_ref": referral["referral_ref"], "deadline": None, "crime_outcome": None,
            "yot_case_id": case["case_id"] if case else None,
            "yot_status": case["status"] if case else None}
    if case is None:
        if yot_stale:
            return base | {"state": "awaiting_yot_record", "evidence":
                           f"Referred {referred}; YOT export is stale, so no deadline is applied"}
        if night > due["yot_record"]:
            return base | {"state": "no_yot_record", "deadline": due["yot_record"], "evidence":
                           f"Referred {referred}; no YOT record by {due['yot_record']} "
                           f"({deadlines.yot_record} working days)"}
        return base | {"state": "awaiting_yot_record", "evidence": f"Referred {referred}; "
                       f"YOT record due by {due['yot_record']}"}
    status = case["status"]
    attended = case.get("sessions_attended") or 0
    if status == "completed":
        return base | {"state": "completed", "crime_outcome": OUTCOME_DIVERSION_COMPLETED,
                       "evidence": f"YOT recorded completed on {_iso(case.get('status_date'))}"}
    if status in ("declined", "did_not_engage", "closed_other"):
        label = status.replace("_", " ")
        return base | {"state": status, "evidence": f"YOT recorded '{label}' on {_iso(case.get('status_date'))}"}
    if status == "engaged" or attended > 0:
        return base | {"state": "engaged", "evidence":
                       f"{attended} session(s) attended; first contact {_iso(case.get('first_contact'))}"}
    if case.get("first_contact") or case.get("assessment_date") or status == "contacted":
        if night > due["first_session"]:
            return base | {"state": "no_session", "deadline": due["first_session"], "evidence":
                           f"Referred {referred}; first contact {_iso(case.get('first_contact'))}; no "
                           f"session attended by {due['first_session']} ({deadlines.first_session} working days)"}
        return base | {"state": "contacted", "evidence":
                       f"First contact {_iso(case.get('first_contact'))}; first session due by {due['first_session']}"}
    if night > due["first_contact"]:
        return base | {"state": "no_first_contact", "deadline": due["first_contact"], "evidence":
                       f"Referred {referred}; no first contact by {due['first_contact']} "
                       f"({deadlines.first_contact} working days)"}
    return base | {"state": "awaiting_contact", "evidence":
                   f"Referred {referred}; first contact due by {due['first_contact']}"}


def assess_engagement(referrals: pd.DataFrame, cases: pd.DataFrame, stale_yots: set[str], *,
                      night: date, deadlines: Deadlines, calendar: WorkingCalendar) -> pd.DataFrame:
    """One row per referral: state, non_engagement_reason, deadline, evidence, YOT case and status.

    `cases` holds each matched referral's caseload row (column `referral_ref` plus the row).
    """
    by_ref = {r["referral_ref"]: r for r in _records(cases)}
    rows = [assess_referral(ref, by_ref.get(ref["referral_ref"]), yot_stale=ref["yot_id"] in stale_yots,
                            night=night, deadlines=deadlines, calendar=calendar)
            for ref in _records(referrals)]
    out = pd.DataFrame(rows, columns=["referral_ref", "state", "deadline", "evidence", "yot_case_id",
                                      "yot_status", "crime_outcome"])
    out["non_engagement_reason"] = out["state"].where(out["state"].isin(NON_ENGAGEMENT), None)
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with dates as `date` and nulls as None."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.date
    return [{k: (None if _isna(v) else v) for k, v in rec.items()} for rec in out.to_dict("records")]


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
