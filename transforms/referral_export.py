"""The night's referrals for one YOT as the CSV file it receives.

Headers reuse the YOT's own caseload column names where a field is the same (so the referral
reference it types back is the one we sent), dates use its date format, and rows are sorted so the
same referrals always make the same bytes: a repeated upload is the same file, never a new one.
"""
from __future__ import annotations

import csv
import io

import pandas as pd

from schemas.config import Caseload

#: pipeline field -> header, for fields the caseload export does not have
_OWN_HEADERS = {"referral_date": "Referral Date", "area": "Police Area",
                "previous_referral_ref": "Previous Referral Ref"}
FIELDS = ("referral_ref", "referral_date", "area", "pnc_id", "forename", "surname", "date_of_birth",
          "gender", "postcode", "previous_referral_ref")
_DATES = ("referral_date", "date_of_birth")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """Text for a spreadsheet: blanks stay blank, and a value that a spreadsheet would run as a
    formula is quoted with a leading apostrophe."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def referral_csv(referrals: pd.DataFrame, caseload: Caseload) -> bytes:
    """CSV bytes (UTF-8 with BOM, CRLF) of the given referrals, one row each, sorted by reference."""
    headers = [caseload.columns.get(f) or _OWN_HEADERS[f] for f in FIELDS]
    rows = referrals.sort_values("referral_ref", kind="stable") if len(referrals) else referrals
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for rec in rows.reindex(columns=list(FIELDS)).itertuples(index=False):
        values = rec._asdict()
        for col in _DATES:
            day = values[col]
            values[col] = None if day is None or pd.isna(day) else pd.Timestamp(day).strftime(
                caseload.date_format)
        writer.writerow([_cell(values[f]) for f in FIELDS])
    return out.getvalue().encode("utf-8-sig")
