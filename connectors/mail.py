"""Deliver exception reports by SMTP: our own MIME message, sent through the SMTP provider's hook.

The message is built here (not by the hook) so that it is the same inside and outside Airflow and
carries a deterministic Message-ID: a resend of the same group and night is recognisable.
"""
from __future__ import annotations

import json
import smtplib
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate

from transforms.report import ExceptionReport


class MailDeliveryError(RuntimeError):
    """A report could not be handed to the SMTP server; names the server, not the contents."""


def build_report_message(report: ExceptionReport, *, sender: str, recipients: Sequence[str],
                         message_id_domain: str = "diversion-sync.invalid") -> EmailMessage:
    night = report.night.isoformat()
    message = EmailMessage()
    message["Subject"] = report.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<exceptions.{report.group_id}.{night}@{message_id_domain}>"
    message["X-Diversion-Report"] = f"{report.group_id}/{night}"
    message.set_content(
        f"{report.row_count} young people in {report.group_name} did not engage with their "
        f"diversion (night of {night}); {report.change_count} earlier case(s) changed.\nThe HTML "
        "version of this message and the attached CSV list them with the reason and the evidence.\n")
    message.add_alternative(report.html, subtype="html")
    if report.chart_png:
        from transforms.report import CHART_CID
        message.get_payload()[1].add_related(report.chart_png, maintype="image", subtype="png",
                                             cid=f"<{CHART_CID}>", filename=report.chart_file_name)
    message.add_attachment(report.csv_bytes, maintype="text", subtype="csv",
                           filename=f"exceptions_{report.group_id}_{night}.csv")
    return message


class SmtpMailer:
    """Sends a message through an SMTP client obtained per send (no idle connection held)."""

    def __init__(self, open_client: Callable[[], object], server: str) -> None:
        self._open_client = open_client
        self.server = server

    @classmethod
    def direct(cls, host: str, port: int, *, timeout: float = 30, starttls: bool = False,
               username: str | None = None, password: str | None = None) -> "SmtpMailer":
        def open_client():
            client = smtplib.SMTP(host, port, timeout=timeout)
            if starttls:
                client.starttls()
            if username:
                client.login(username, password or "")
            return client
        return cls(open_client, f"{host}:{port}")

    @classmethod
    def from_airflow(cls, conn_id: str) -> "SmtpMailer":
        """Connection details, TLS and credentials from the Airflow connection via SmtpHook."""
        def open_client():
            from airflow.providers.smtp.hooks.smtp import SmtpHook
            hook = SmtpHook(smtp_conn_id=conn_id)
            hook.get_conn()
            return hook._smtp_client  # the hook's authenticated smtplib client
        return cls(open_client, f"Airflow connection '{conn_id}'")

    def send(self, message: EmailMessage) -> None:
        recipients = [a.strip() for a in message["To"].split(",") if a.strip()]
        try:
            client = self._open_client()
            try:
                refused = client.send_message(message)
            finally:
                try:
                    client.quit()
                except Exception:  # noqa: BLE001 - the message is already accepted or not
                    pass
        except (OSError, smtplib.SMTPException, Exception) as exc:
            raise MailDeliveryError(
                f"report {message['X-Diversion-Report']} to {len(recipients)} recipient(s) not "
                f"delivered via {self.server}: {type(exc).__name__}: {exc}") from None
        if refused:
            raise MailDeliveryError(f"report {message['X-Diversion-Report']}: {len(refused)} of "
                                    f"{len(recipients)} recipient(s) refused by {self.server}")


def airflow_smtp_connection_json(host: str, port: int, *, from_email: str | None = None) -> str:
    """AIRFLOW_CONN_* value for a plain loopback SMTP server (no SSL, no STARTTLS, no login)."""
    extra = {"disable_ssl": True, "disable_tls": True, "timeout": 30, "retry_limit": 2}
    if from_email:
        extra["from_email"] = from_email
    return json.dumps({"conn_type": "smtp", "host": host, "port": port, "extra": extra})
