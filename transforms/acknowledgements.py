"""Supervisors' acknowledgements of escalations, as they come back in a CSV file or table.

Strict: a file with a missing column, an unknown reason or an unreadable date is rejected with
the file, line and field named, so a supervisor's action is never silently dropped.
"""
from __future__ import annotations

import pandas as pd

from transforms.decision_files import read_decision_rows

COLUMNS = ("referral_ref", "reason", "acknowledged_by", "acknowledged_on", "note")
REASONS = ("declined", "did_not_engage", "no_yot_record", "no_first_contact", "no_session")


class AcknowledgementError(ValueError):
    """An acknowledgements file that cannot be taken as it is; names file, line and field."""


def read_acknowledgements(data: bytes, file_name: str) -> pd.DataFrame:
    rows = read_decision_rows(data, file_name, required_columns=COLUMNS[:4],
                              required_values=("referral_ref", "acknowledged_by"),
                              choices={"reason": REASONS}, dates=("acknowledged_on",),
                              error=AcknowledgementError)
    return pd.DataFrame([{"referral_ref": str(rec["referral_ref"]).upper(), "reason": rec["reason"],
                          "acknowledged_by": rec["acknowledged_by"], "acknowledged_on": rec["acknowledged_on"],
                          "note": rec.get("note") or None, "source": f"{file_name}:{line}"}
                         for line, rec in rows], columns=[*COLUMNS, "source"])
