"""The supervisors' exception report, pure: rows in, HTML and CSV out; no server involved."""
import csv
import io
from datetime import date

import pandas as pd
import pytest

from transforms.report import CSV_COLUMNS, REASON_LABELS, build_exception_report

NIGHT = date(2026, 3, 2)
SUBJECT = "Youth drug diversion: young people not engaging ({group}, {night})"


def escalation(ref: str, surname: str, *, area: str = "Reading", forename: str = "Sam", **changes) -> dict:
    row = dict(referral_ref=ref, stop_ref=f"SS{ref}", person_id=f"P{ref}", pnc_id=f"26/{ref}X",
               forename=forename, surname=surname, date_of_birth=date(2010, 5, 17), area=area,
               stop_date=date(2026, 2, 3), yot_name="Reading YOT", reason="no_first_contact",
               deadline=date(2026, 2, 17), yot_status="referred", yot_case_id=f"YC{ref}",
               evidence="Referral 2026-02-03; no first contact recorded by 2026-02-17 (10 working days)")
    return row | changes


def report_for(rows: list[dict], *, stale: dict | None = None, summary: dict | None = None):
    return build_exception_report(
        pd.DataFrame(rows), group_id="west", group_name="Western LPAs", night=NIGHT,
        subject_template=SUBJECT, summary=summary or {"referred": 9, "newly escalated": len(rows)},
        stale_yots=stale or {})


def csv_rows(report) -> list[dict]:
    return list(csv.DictReader(io.StringIO(report.csv_bytes.decode("utf-8"))))


def table_refs(html: str, refs: list[str]) -> list[str]:
    """The given referral refs in the order they first appear in the HTML."""
    return sorted(refs, key=html.index)


def test_rows_sorted_by_area_then_surname_case_insensitively():
    rows = [escalation("R1", "Young", area="West Berkshire"), escalation("R2", "de Souza"),
            escalation("R3", "Adams"), escalation("R4", "Zane"), escalation("R5", "Brown", area="Bracknell")]
    report = report_for(rows)
    expected = ["R5", "R3", "R2", "R4", "R1"]  # Bracknell; Reading: Adams, de Souza, Zane; West Berkshire
    assert [r["referral_ref"] for r in csv_rows(report)] == expected
    assert table_refs(report.html, [r["referral_ref"] for r in rows]) == expected
    assert report.row_count == 5


def test_subject_and_reason_labels():
    rows = [escalation(f"R{i}", f"Surname{i}", reason=reason, deadline=None if reason in
                       ("declined", "did_not_engage") else date(2026, 2, 17))
            for i, reason in enumerate(REASON_LABELS)]
    report = report_for(rows)
    assert report.subject == ("Youth drug diversion: young people not engaging "
                              "(Western LPAs, 2026-03-02)")
    assert set(REASON_LABELS) == {"declined", "did_not_engage", "no_yot_record", "no_first_contact",
                                  "no_session"}
    for label in REASON_LABELS.values():
        assert label in report.html
    assert [r["reason"] for r in csv_rows(report)] == list(REASON_LABELS)  # codes, not labels, in the CSV


def test_names_and_evidence_are_html_escaped():
    report = report_for([escalation("R1", "O'Brien", forename="Siân"),
                         escalation("R2", "Ng", evidence="<script>alert('x')</script> & more")])
    assert "O&#39;Brien" in report.html and "O'Brien" not in report.html
    assert "<script>" not in report.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in report.html
    assert "Siân" in report.html


def test_csv_parses_back_to_the_same_rows():
    rows = [escalation("R1", "O'Brien", forename="Siân", pnc_id=None, yot_case_id=None, yot_status=None,
                       reason="no_yot_record"),
            escalation("R2", "Ng", reason="did_not_engage", deadline=None, yot_status="did_not_engage",
                       evidence='Said "no", twice; YOT recorded did_not_engage on 2026-02-20')]
    parsed = csv_rows(report_for(rows))
    assert list(parsed[0]) == CSV_COLUMNS
    expected = [{"referral_ref": r["referral_ref"], "stop_ref": r["stop_ref"], "person_id": r["person_id"],
                 "pnc_id": r["pnc_id"] or "", "forename": r["forename"], "surname": r["surname"],
                 "date_of_birth": r["date_of_birth"].isoformat(), "area": r["area"],
                 "stop_date": r["stop_date"].isoformat(), "yot": r["yot_name"], "reason": r["reason"],
                 "deadline": r["deadline"].isoformat() if r["deadline"] else "",
                 "yot_status": r["yot_status"] or "", "yot_case_id": r["yot_case_id"] or "",
                 "evidence": r["evidence"]} for r in sorted(rows, key=lambda r: r["surname"].casefold())]
    assert parsed == expected


def test_timestamps_read_from_sql_are_written_as_dates():
    row = escalation("R1", "Adams", date_of_birth=pd.Timestamp("2010-05-17"),
                     deadline=pd.Timestamp("2026-02-17"))
    (parsed,) = csv_rows(report_for([row]))
    assert (parsed["date_of_birth"], parsed["deadline"]) == ("2010-05-17", "2026-02-17")


def test_only_the_minimum_personal_data_leaves():
    row = escalation("R1", "Adams", home_address="1 High Street", ethnicity="W1")
    report = report_for([row])
    assert "High Street" not in report.html and "High Street" not in report.csv_bytes.decode()
    assert list(csv_rows(report)[0]) == CSV_COLUMNS


def test_a_missing_column_is_an_error_not_a_blank_cell():
    row = escalation("R1", "Adams")
    del row["evidence"]
    with pytest.raises(ValueError, match="evidence"):
        report_for([row])


def test_empty_report_says_no_new_escalations():
    report = report_for([])
    assert report.row_count == 0
    assert "No new escalations tonight" in report.html
    assert "<th>Referral</th>" not in report.html
    assert csv_rows(report) == []
    assert report.csv_bytes.decode("utf-8").strip() == ",".join(CSV_COLUMNS)


def test_summary_counts_shown():
    report = report_for([escalation("R1", "Adams")],
                        summary={"referred": 41, "engaged": 37, "not engaged": 4, "YOT records missing": 2})
    for label, value in [("Referred", 41), ("Engaged", 37), ("Not engaged", 4), ("YOT records missing", 2)]:
        assert label in report.html
        assert f">{value}</td>" in report.html


def test_stale_yots_listed_with_the_no_escalation_promise():
    report = report_for([], stale={"Slough YOT": None, "Reading YOT": date(2026, 2, 27)})
    assert "No child is escalated because of a YOT's delay" in report.html
    assert "Slough YOT: no export received" in report.html
    assert "Reading YOT: newest export 2026-02-27" in report.html
    assert report.html.index("Reading YOT:") < report.html.index("Slough YOT:")


def test_no_stale_note_when_all_yots_are_current():
    assert "YOT data not up to date" not in report_for([escalation("R1", "Adams")]).html
