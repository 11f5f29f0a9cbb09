"""The exception report (pure) and its delivery to a real SMTP server, directly and via Airflow."""
import csv
import io
from datetime import date

import pandas as pd
import pytest

from connectors.mail import (MailDeliveryError, SmtpMailer, airflow_smtp_connection_json,
                             build_report_message)
from transforms.report import CSV_COLUMNS, build_exception_report

NIGHT = date(2026, 3, 2)


def _row(ref, surname, area="Reading", **kw):
    base = dict(referral_ref=ref, stop_ref="S" + ref, person_id="P" + ref, pnc_id=None, forename="Zoë",
                surname=surname, date_of_birth=date(2010, 1, 1), area=area, stop_date=date(2026, 2, 1),
                yot_name="Reading", reason="declined", deadline=None, yot_status="declined",
                yot_case_id="C" + ref, evidence="YOT recorded 'declined' on 2026-02-10")
    return base | kw


def _report(rows, stale=None):
    return build_exception_report(pd.DataFrame(rows), group_id="west", group_name="Western LPAs",
                                  night=NIGHT, subject_template="Not engaging ({group}, {night})",
                                  summary={"referrals assessed": 3, "newly escalated": len(rows)},
                                  stale_yots=stale or {})


def test_rows_sorted_labelled_and_escaped():
    report = _report([_row("2", "Young", area="West Berkshire"), _row("1", "O'Brien"),
                      _row("3", "Adams", reason="no_first_contact", deadline=date(2026, 2, 15),
                           evidence="<script>alert(1)</script>")])
    html = report.html
    assert report.subject == "Not engaging (Western LPAs, 2026-03-02)"
    assert html.index("Adams") < html.index("O&#39;Brien") < html.index("Young")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "No first contact by the deadline" in html and "Declined the diversion" in html
    rows = list(csv.DictReader(io.StringIO(report.csv_bytes.decode("utf-8"))))
    assert [r["referral_ref"] for r in rows] == ["3", "1", "2"]
    assert list(rows[0]) == CSV_COLUMNS
    assert rows[0]["deadline"] == "2026-02-15" and rows[1]["surname"] == "O'Brien"


def test_empty_report_says_so_and_lists_stale_yots():
    report = _report([], stale={"Slough": None, "Reading": date(2026, 2, 27)})
    assert report.row_count == 0
    assert "No new escalations tonight" in report.html
    assert "Slough: no export received yet" in report.html
    assert "Reading: newest export 2026-02-27" in report.html


def _send_and_receive(mailer, sink):
    message = build_report_message(_report([_row("1", "O'Brien")]), sender="sync@tvp.example",
                                   recipients=["a@tvp.example", "b@tvp.example"])
    mailer.send(message)
    (received,) = sink.messages()
    assert sink.envelopes == [["a@tvp.example", "b@tvp.example"]]
    assert received["Subject"] == "Not engaging (Western LPAs, 2026-03-02)"
    assert received["Message-ID"] == "<exceptions.west.2026-03-02@diversion-sync.invalid>"
    assert "O&#39;Brien" in received.get_body(("html",)).get_content()
    (attachment,) = list(received.iter_attachments())
    assert attachment.get_filename() == "exceptions_west_2026-03-02.csv"
    assert list(csv.DictReader(io.StringIO(attachment.get_content())))[0]["referral_ref"] == "1"


def test_send_directly_to_a_real_smtp_server(mail_sink):
    _send_and_receive(SmtpMailer.direct(mail_sink.host, mail_sink.port), mail_sink)


def test_send_through_the_airflow_smtp_connection(mail_sink, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEST_SMTP", airflow_smtp_connection_json(mail_sink.host, mail_sink.port))
    _send_and_receive(SmtpMailer.from_airflow("test_smtp"), mail_sink)


def test_unreachable_server_is_a_clear_error():
    from demo.mailsink import free_port
    message = build_report_message(_report([_row("1", "X")]), sender="s@tvp.example", recipients=["a@tvp.example"])
    with pytest.raises(MailDeliveryError, match="west/2026-03-02 to 1 recipient"):
        SmtpMailer.direct("127.0.0.1", free_port(), timeout=3).send(message)
