"""Supervisors' acknowledgements of escalations, as they come back in a CSV file or table.

Strict: a file with a missing column, an unknown reason or an unreadable date is rejected with
the file, line and field named, so a supervisor's action is never silently dropped.
"""
from __future__ import annotations

import csv
import io
from datetime import date

import pandas as pd

COLUMNS = ("referral_ref", "reason", "acknowledged_by", "acknowledged_on", "note")
REASONS = ("declined", "did_not_engage", "no_yot_record", "no_first_contact", "no_session")


class AcknowledgementError(ValueError):
    """An acknowledgements file that cannot be taken as it is; names file, line and field."""


def read_acknowledgements(data: bytes, file_name: str) -> pd.DataFrame:
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS[:4] if c not in header]
    if missing:
        raise AcknowledgementError(f"{file_name}: missing column(s): {', '.join(missing)}")
    rows = []
    for record in reader:
        line = reader.line_num
        rec = {k.strip().lower(): (v or "").strip() for k, v in record.items() if k}
        if not any(rec.values()):
            continue
        for field in ("referral_ref", "acknowledged_by"):
            if not rec.get(field):
                raise AcknowledgementError(f"{file_name}, line {line}, {field}: required value is blank")
        if rec["reason"] not in REASONS:
            raise AcknowledgementError(f"{file_name}, line {line}, reason: {rec['reason']!r} is not one "
                                       f"of {', '.join(REASONS)}")
        try:
            on = date.fromisoformat(rec["acknowledged_on"])
        except ValueError:
            raise AcknowledgementError(f"{file_name}, line {line}, acknowledged_on: not a date "
                                       "(YYYY-MM-DD)") from None
        rows.append({"referral_ref": rec["referral_ref"].upper(), "reason": rec["reason"],
                     "acknowledged_by": rec["acknowledged_by"], "acknowledged_on": on,
                     "note": rec.get("note") or None, "source": f"{file_name}:{line}"})
    return pd.DataFrame(rows, columns=[*COLUMNS, "source"])
