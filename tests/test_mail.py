"""Exception reports delivered to a real SMTP server (aiosmtpd on loopback), directly and via Airflow."""
import csv
import io
import json
import re
import smtplib
from datetime import date

import pandas as pd
import pytest

from connectors.mail import (MailDeliveryError, SmtpMailer, airflow_smtp_connection_json,
                             build_report_message)
from demo.mailsink import MailSink, free_port
from transforms.report import build_exception_report

NIGHT = date(2026, 3, 2)
SENDER = "diversion-sync@police.example"
RECIPIENTS = ["west.supervisors@police.example", "duty.sergeant@police.example"]


def escalation(ref: str, surname: str, **changes) -> dict:
    row = dict(referral_ref=ref, stop_ref=f"SS{ref}", person_id=f"P{ref}", pnc_id=None, forename="Siân",
               surname=surname, date_of_birth=date(2010, 5, 17), area="Reading", stop_date=date(2026, 2, 3),
               yot_name="Reading YOT", reason="declined", deadline=None, yot_status="declined",
               yot_case_id=f"YC{ref}", evidence="YOT recorded 'declined' on 2026-02-10")
    return row | changes


@pytest.fixture
def report():
    rows = [escalation("DR-0001", "O'Brien"),
            escalation("DR-0002", "Adams", reason="no_session", deadline=date(2026, 2, 24),
                       yot_status="contacted", evidence="First contact 2026-02-05; no session by 2026-02-24")]
    return build_exception_report(
        pd.DataFrame(rows), group_id="west", group_name="Western LPAs", night=NIGHT,
        subject_template="Youth drug diversion: young people not engaging ({group}, {night})",
        summary={"referred": 7, "newly escalated": 2}, stale_yots={})


def test_message_layout(report):
    message = build_report_message(report, sender=SENDER, recipients=RECIPIENTS)
    assert message.get_content_type() == "multipart/mixed"
    body, attachment = message.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    plain = body.get_body(("plain",)).get_content()
    assert "2 young people" in plain and "attached CSV" in plain
    assert "O'Brien" not in plain  # names only in the HTML and the attachment
    assert attachment.get_content_type() == "text/csv" and attachment.get_content_charset() == "utf-8"
    assert attachment.get_filename() == "exceptions_west_2026-03-02.csv"
    assert message["Message-ID"] == "<exceptions.west.2026-03-02@diversion-sync.invalid>"
    assert message["X-Diversion-Report"] == "west/2026-03-02"


def test_message_id_is_the_same_for_a_resend(report):
    first = build_report_message(report, sender=SENDER, recipients=RECIPIENTS, message_id_domain="tvp.example")
    again = build_report_message(report, sender=SENDER, recipients=RECIPIENTS[:1], message_id_domain="tvp.example")
    assert first["Message-ID"] == again["Message-ID"] == "<exceptions.west.2026-03-02@tvp.example>"


def test_a_report_needs_recipients(report):
    with pytest.raises(ValueError, match="west"):
        build_report_message(report, sender=SENDER, recipients=[])


def assert_delivered(sink: MailSink, report) -> None:
    (received,) = sink.messages()
    assert sink.envelopes == [RECIPIENTS]
    assert received["Subject"] == report.subject
    assert received["From"] == SENDER
    assert received["X-Diversion-Report"] == "west/2026-03-02"
    html = received.get_body(("html",)).get_content()
    table = html[html.index("<tbody>"):html.index("</tbody>")]
    assert re.findall(r"DR-\d{4}", table) == ["DR-0002", "DR-0001"]  # Adams before O'Brien
    assert "O&#39;Brien" in table and "No session attended by the deadline" in table
    (attachment,) = received.iter_attachments()
    assert attachment.get_filename() == "exceptions_west_2026-03-02.csv"
    assert attachment.get_content_charset() == "utf-8"
    assert attachment.get_payload(decode=True) == report.csv_bytes
    assert attachment.get_content().encode("utf-8") == report.csv_bytes
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert [(r["referral_ref"], r["surname"], r["forename"]) for r in rows] == [
        ("DR-0002", "Adams", "Siân"), ("DR-0001", "O'Brien", "Siân")]
    (path,) = sink.paths()
    assert path.parent == sink.directory
    assert path.name == "0001-exceptions.west.2026-03-02_diversion-sync.invalid.eml".replace("_", "@")


def test_send_directly(mail_sink, report):
    SmtpMailer.direct(mail_sink.host, mail_sink.port, timeout=10).send(
        build_report_message(report, sender=SENDER, recipients=RECIPIENTS))
    assert_delivered(mail_sink, report)


def test_send_through_the_airflow_smtp_connection(mail_sink, report, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DIVERSION_SMTP",
                       airflow_smtp_connection_json(mail_sink.host, mail_sink.port))
    SmtpMailer.from_airflow("diversion_smtp").send(
        build_report_message(report, sender=SENDER, recipients=RECIPIENTS))
    assert_delivered(mail_sink, report)


def test_connection_json_switches_off_ssl_and_starttls():
    conn = json.loads(airflow_smtp_connection_json("127.0.0.1", 2525))
    assert (conn["conn_type"], conn["host"], conn["port"]) == ("smtp", "127.0.0.1", 2525)
    assert conn["extra"]["disable_ssl"] is True and conn["extra"]["disable_tls"] is True
    assert "login" not in conn and "password" not in conn


def test_airflow_defaults_would_not_reach_a_plain_server(mail_sink, report, monkeypatch):
    """Why the extras matter: SmtpHook speaks SMTP-over-SSL unless told not to."""
    monkeypatch.setenv("AIRFLOW_CONN_DIVERSION_SMTP", json.dumps(
        {"conn_type": "smtp", "host": mail_sink.host, "port": mail_sink.port,
         "extra": {"timeout": 5, "retry_limit": 0}}))
    with pytest.raises(MailDeliveryError, match=f"{mail_sink.host}:{mail_sink.port}"):
        SmtpMailer.from_airflow("diversion_smtp").send(
            build_report_message(report, sender=SENDER, recipients=RECIPIENTS))
    assert mail_sink.messages() == []


def test_unreachable_port_raises_mail_delivery_error(report):
    port = free_port()
    message = build_report_message(report, sender=SENDER, recipients=RECIPIENTS)
    with pytest.raises(MailDeliveryError) as caught:
        SmtpMailer.direct("127.0.0.1", port, timeout=5).send(message)
    text = str(caught.value)
    assert f"127.0.0.1:{port}" in text and "2 recipient(s)" in text and "west/2026-03-02" in text
    assert isinstance(caught.value.__cause__, OSError)
    assert "duty.sergeant" not in text


def test_unreachable_port_via_airflow_names_the_server(report, monkeypatch):
    port = free_port()
    monkeypatch.setenv("AIRFLOW_CONN_DIVERSION_SMTP", airflow_smtp_connection_json("127.0.0.1", port))
    with pytest.raises(MailDeliveryError, match=f"127.0.0.1:{port}.*2 recipient|2 recipient.*127.0.0.1:{port}"):
        SmtpMailer.from_airflow("diversion_smtp").send(
            build_report_message(report, sender=SENDER, recipients=RECIPIENTS))


def test_refused_recipients_are_counted_not_listed(mail_sink, report, monkeypatch):
    """A server refusing every recipient: the error gives the count and domain, not the mailboxes."""
    def refuse(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({a: (550, b"no such user") for a in RECIPIENTS})
    monkeypatch.setattr(smtplib.SMTP, "send_message", refuse)
    with pytest.raises(MailDeliveryError) as caught:
        SmtpMailer.direct(mail_sink.host, mail_sink.port, timeout=5).send(
            build_report_message(report, sender=SENDER, recipients=RECIPIENTS))
    assert "all 2 recipient(s) refused" in str(caught.value) and "police.example" in str(caught.value)
    assert "west.supervisors" not in str(caught.value)


def test_sink_keeps_arrival_order_and_does_not_overwrite_a_resend(tmp_path, report):
    message = build_report_message(report, sender=SENDER, recipients=RECIPIENTS)
    for _ in range(2):
        with MailSink(tmp_path / "mail") as sink:  # a second sink on the same folder
            SmtpMailer.direct(sink.host, sink.port, timeout=10).send(message)
    assert [p.name.split("-", 1)[0] for p in sink.paths()] == ["0001", "0002"]
    assert [m["Message-ID"] for m in sink.messages()] == [message["Message-ID"]] * 2
    assert sink.envelopes == [RECIPIENTS]  # this sink's own envelopes only
