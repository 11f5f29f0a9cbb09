"""The supervisors' exception report: who did not engage, why, and the evidence.

Pure: rows in, HTML and CSV out. Only the personal data a supervisor needs to act is included
(name, date of birth, PNC id, person id); no address, no ethnicity.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader

REASON_LABELS = {
    "declined": "Declined the diversion",
    "did_not_engage": "YOT recorded did not engage",
    "no_yot_record": "No YOT record by the deadline",
    "no_first_contact": "No first contact by the deadline",
    "no_session": "No session attended by the deadline",
}
CSV_COLUMNS = ["referral_ref", "stop_ref", "person_id", "pnc_id", "forename", "surname",
               "date_of_birth", "area", "stop_date", "yot", "reason", "deadline", "yot_status",
               "yot_case_id", "evidence"]
INPUT_COLUMNS = ["referral_ref", "stop_ref", "person_id", "pnc_id", "forename", "surname",
                 "date_of_birth", "area", "stop_date", "yot_name", "reason", "deadline", "yot_status",
                 "yot_case_id", "evidence"]
_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=True, trim_blocks=True,
                         lstrip_blocks=True)


CHART_CID = "funnel-chart"
CHANGE_LABELS = {
    "resolved": "No longer a non-engager (the YOT now records engagement or the reason no longer holds)",
    "acknowledged": "Acknowledged by a supervisor",
}


@dataclass(frozen=True)
class ExceptionReport:
    group_id: str
    group_name: str
    night: date
    subject: str
    html: str           # for the email: the chart is an inline image (cid:funnel-chart)
    html_file: str      # for the audit copy on disk: the chart is the PNG file beside it
    csv_bytes: bytes
    row_count: int
    change_count: int = 0
    chart_png: bytes | None = None
    kind: str = "exceptions"  # names the files, the attachment and the Message-ID: exceptions, match_review
    text: str | None = None   # the plain-text part (None: the exception report's wording)

    @property
    def chart_file_name(self) -> str:
        return f"{self.kind}_{self.group_id}_funnel.png"


def _text(value: object) -> str:
    """Cell text: blanks for missing values, ISO dates (a timestamp read from SQL counts as its date)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, date) else str(value)


def _casefolded(column: pd.Series) -> pd.Series:
    """Sort key: "de Souza" files with the Ds, not after "Young"."""
    return column.astype("string").str.casefold()


def build_exception_report(escalations: pd.DataFrame, *, group_id: str, group_name: str, night: date,
                           subject_template: str, summary: Mapping[str, int],
                           stale_yots: Mapping[str, date | None],
                           changes: pd.DataFrame | None = None,
                           chart_png: bytes | None = None) -> ExceptionReport:
    """One supervisor group's report for one night.

    `changes` lists cases reported before whose escalation has since changed (columns
    referral_ref, forename, surname, area, reason, change, night).
    """
    missing = [c for c in INPUT_COLUMNS if c not in escalations.columns]
    if missing and not escalations.empty:
        raise ValueError(f"escalations for group {group_id} lack columns {missing}")
    escalations = escalations.reindex(columns=sorted(set(escalations.columns) | set(INPUT_COLUMNS)))
    rows = escalations.sort_values(["area", "surname", "forename", "referral_ref"],
                                   key=_casefolded, na_position="last").to_dict("records")
    records = [{
        "referral_ref": _text(r["referral_ref"]), "stop_ref": _text(r["stop_ref"]),
        "person_id": _text(r["person_id"]), "pnc_id": _text(r["pnc_id"]),
        "forename": _text(r["forename"]), "surname": _text(r["surname"]),
        "date_of_birth": _text(r["date_of_birth"]), "area": _text(r["area"]),
        "stop_date": _text(r["stop_date"]), "yot": _text(r["yot_name"]), "reason": _text(r["reason"]),
        "reason_label": REASON_LABELS.get(r["reason"], _text(r["reason"])),
        "deadline": _text(r["deadline"]), "yot_status": _text(r["yot_status"]),
        "yot_status_label": _text(r["yot_status"]).replace("_", " "),
        "yot_case_id": _text(r["yot_case_id"]), "evidence": _text(r["evidence"]),
    } for r in rows]
    change_rows = [] if changes is None else [{
        "referral_ref": _text(c["referral_ref"]), "name": f"{_text(c['forename'])} {_text(c['surname'])}".strip(),
        "area": _text(c["area"]), "reason": REASON_LABELS.get(c["reason"], _text(c["reason"])),
        "change": CHANGE_LABELS.get(c["change"], _text(c["change"])), "night": _text(c["night"]),
    } for c in changes.sort_values(["area", "referral_ref"]).to_dict("records")]
    subject = subject_template.format(group=group_name, night=night.isoformat())
    chart_name = f"exceptions_{group_id}_funnel.png"

    def render(chart_src: str | None) -> str:
        return _TEMPLATES.get_template("exception_report.html.j2").render(
            subject=subject, group_name=group_name, night=night, rows=records, summary=summary,
            stale_yots={name: _text(stale_yots[name]) for name in sorted(stale_yots)}, changes=change_rows,
            chart_src=chart_src)
    html = render(f"cid:{CHART_CID}" if chart_png else None)
    html_file = render(chart_name if chart_png else None)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return ExceptionReport(group_id=group_id, group_name=group_name, night=night, subject=subject,
                           html=html, html_file=html_file, csv_bytes=buffer.getvalue().encode("utf-8"),
                           row_count=len(records), change_count=len(change_rows), chart_png=chart_png)


REVIEW_GROUP = "analysts"
REVIEW_INPUT_COLUMNS = ["referral_ref", "yot_id", "yot", "case_id", "score", "method", "reasons",
                        "police_forename", "police_surname", "police_date_of_birth",
                        "yot_forename", "yot_surname", "yot_date_of_birth"]
METHOD_LABELS = {"probabilistic": "Personal details compared", "referral_ref": "Same referral reference",
                 "pnc_id": "Same PNC id"}


def build_match_review_report(pairs: pd.DataFrame, *, night: date, subject_template: str,
                              rejected_files: list[str] = ()) -> ExceptionReport:
    """The analysts' report: each ``possible`` pair with both records' names and dates of birth,
    the score and the reasons, and how to send a decision back. The attached CSV is the decision
    file with tonight's pairs and the decision left blank (ids only: no names)."""
    from transforms.review import COLUMNS as DECISION_COLUMNS, HEADER, example_line
    missing = [c for c in REVIEW_INPUT_COLUMNS if c not in pairs.columns]
    if missing and not pairs.empty:
        raise ValueError(f"possible matches lack columns {missing}")
    pairs = pairs.reindex(columns=sorted(set(pairs.columns) | set(REVIEW_INPUT_COLUMNS)))
    ordered = pairs.sort_values(["yot_id", "referral_ref", "score"], ascending=[True, True, False],
                                kind="stable").to_dict("records")
    records = [{
        "referral_ref": _text(r["referral_ref"]), "yot_id": _text(r["yot_id"]), "yot": _text(r["yot"]),
        "case_id": _text(r["case_id"]), "score": f"{float(r['score']):.1f}",
        "method_label": METHOD_LABELS.get(r["method"], _text(r["method"])), "reasons": _text(r["reasons"]),
        "police_name": f"{_text(r['police_forename'])} {_text(r['police_surname'])}".strip(),
        "police_date_of_birth": _text(r["police_date_of_birth"]),
        "yot_name": f"{_text(r['yot_forename'])} {_text(r['yot_surname'])}".strip(),
        "yot_date_of_birth": _text(r["yot_date_of_birth"]),
    } for r in ordered]
    first = records[0] if records else {"referral_ref": "REFERRAL-REF", "yot_id": "yot_id", "case_id": "CASE-ID"}
    example = example_line(first["referral_ref"], first["yot_id"], first["case_id"],
                           decided_on=night.isoformat())
    subject = subject_template.format(night=night.isoformat())
    html = _TEMPLATES.get_template("match_review.html.j2").render(
        subject=subject, night=night, rows=records, rejected_files=list(rejected_files),
        header_line=HEADER, example_line=example)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(DECISION_COLUMNS), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({"referral_ref": r["referral_ref"], "yot_id": r["yot_id"], "case_id": r["case_id"]}
                     for r in records)
    text = (f"{len(records)} possible match(es) between police referrals and YOT cases wait for review "
            f"(night of {night.isoformat()}).\nThe HTML version of this message lists them with the reasons; "
            "send decisions back as a CSV file in the match_reviews folder:\n"
            f"{HEADER}\n{example}\n")
    if rejected_files:
        text += f"{len(rejected_files)} review file(s) were set aside tonight; the HTML version says why.\n"
    return ExceptionReport(group_id=REVIEW_GROUP, group_name="Analysts", night=night, subject=subject,
                           html=html, html_file=html, csv_bytes=buffer.getvalue().encode("utf-8"),
                           row_count=len(records), kind="match_review", text=text)
