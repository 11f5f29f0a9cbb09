"""The escalation ledger: what changed tonight, keyed by referral and reason.

A case is opened once per reason and notified once; when the child engages after all, or the
reason no longer holds, the entry is resolved. Re-running a night changes nothing.
"""
from __future__ import annotations

from datetime import date

import pandas as pd

ACTIVE = ("open", "notified", "acknowledged")


def plan_escalations(engagement: pd.DataFrame, ledger: pd.DataFrame, night: date,
                     acknowledgements: pd.DataFrame | None = None) -> tuple[list[dict], list[dict]]:
    """Ledger rows to upsert and history rows to add, given tonight's engagement.

    `acknowledgements` (referral_ref, reason, acknowledged_on) move an open or notified entry to
    acknowledged; an acknowledged entry still resolves when its reason goes away.
    """
    current = {(r.referral_ref, r.non_engagement_reason): r
               for r in engagement.dropna(subset=["non_engagement_reason"]).itertuples()}
    existing = {(r.referral_ref, r.reason): r for r in ledger.itertuples()}
    upserts, history = [], []
    for key, row in current.items():
        old = existing.get(key)
        if old is not None and old.state in ACTIVE:
            continue
        upserts.append({"referral_ref": key[0], "reason": key[1], "state": "open",
                        "opened_night": night, "notified_night": None, "resolved_night": None,
                        "evidence": row.evidence, "deadline": _day(row.deadline)})
        history.append({"referral_ref": key[0], "reason": key[1], "night": night,
                        "from_state": None if old is None else old.state, "to_state": "open"})
    acked = set()
    if acknowledgements is not None and len(acknowledgements):
        acked = {(a.referral_ref, a.reason) for a in acknowledgements.itertuples()
                 if a.acknowledged_on <= night}
    for key in acked & set(existing):
        old = existing[key]
        if old.state in ("open", "notified") and key in current:
            upserts.append(_ledger_row(old) | {"state": "acknowledged"})
            history.append({"referral_ref": key[0], "reason": key[1], "night": night,
                            "from_state": old.state, "to_state": "acknowledged"})
    for key, old in existing.items():
        if old.state in ACTIVE and key not in current and old.opened_night <= night:
            upserts.append(_ledger_row(old) | {"state": "resolved", "resolved_night": night})
            history.append({"referral_ref": key[0], "reason": key[1], "night": night,
                            "from_state": old.state, "to_state": "resolved"})
    return upserts, history


def _ledger_row(old: object) -> dict:
    return {"referral_ref": old.referral_ref, "reason": old.reason, "state": old.state,
            "opened_night": old.opened_night, "notified_night": old.notified_night,
            "resolved_night": old.resolved_night, "evidence": old.evidence, "deadline": old.deadline}


def _day(value: object) -> date | None:
    if value is None or (not isinstance(value, date) and pd.isna(value)):
        return None
    return value.date() if isinstance(value, pd.Timestamp) else value
