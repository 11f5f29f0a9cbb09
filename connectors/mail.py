"""Deliver exception reports by SMTP: our own MIME message, sent through the SMTP provider's hook.

The message is built here (not by the hook) so that it is the same inside and outside Airflow and
carries a deterministic Message-ID: a resend of the same group and night is recognisable.
"""
from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, getaddresses

from transforms.report import ExceptionReport


class MailDeliveryError(RuntimeError):
    """A report could not be handed to the SMTP server; names the server, not the contents."""


def build_report_message(report: ExceptionReport, *, sender: str, recipients: Sequence[str],
                         message_id_domain: str = "diversion-sync.invalid") -> EmailMessage:
    """Plain-text summary, the HTML report and the CSV, under a Message-ID fixed by group and night."""
    if not recipients:
        raise ValueError(f"no recipients for the exception report of group {report.group_id}")
    night = report.night.isoformat()
    message = EmailMessage()
    message["Subject"] = report.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{report.kind}.{report.group_id}.{night}@{message_id_domain}>"
    message["X-Diversion-Report"] = f"{report.group_id}/{night}"
    message.set_content(report.text or (
        f"{report.row_count} young people in {report.group_name} did not engage with their "
        f"diversion (night of {night}); {report.change_count} earlier case(s) changed.\nThe HTML "
        "version of this message and the attached CSV list them with the reason and the evidence.\n"))
    message.add_alternative(report.html, subtype="html")
    if report.chart_png:
        from transforms.report import CHART_CID
        message.get_payload()[1].add_related(report.chart_png, maintype="image", subtype="png",
                                             cid=f"<{CHART_CID}>", filename=report.chart_file_name)
    message.add_attachment(report.csv_bytes, maintype="text", subtype="csv",  # bytes as built: base64
                           params={"charset": "utf-8"},  # without it readers decode as ASCII
                           filename=f"{report.kind}_{report.group_id}_{night}.csv")
    return message


Client = smtplib.SMTP  # what an opener hands back; SmtpHook's sync client is one too


class SmtpMailer:
    """Sends a message through an SMTP client obtained per send (no idle connection held).

    `open_client` returns a connected, authenticated client; `server` ("host:port") names the
    server in errors.
    """

    def __init__(self, open_client: Callable[[], Client], server: str) -> None:
        self._open_client = open_client
        self.server = server

    @classmethod
    def direct(cls, host: str, port: int, *, timeout: float = 30, starttls: bool = False,
               username: str | None = None, password: str | None = None) -> SmtpMailer:
        """Plain smtplib; STARTTLS verifies the server's certificate against the system CAs."""
        def open_client() -> Client:
            client = smtplib.SMTP(host, port, timeout=timeout)
            try:
                if starttls:
                    client.starttls(context=ssl.create_default_context())
                if username:
                    client.login(username, password or "")
            except BaseException:
                client.close()
                raise
            return client
        return cls(open_client, f"{host}:{port}")

    @classmethod
    def from_airflow(cls, conn_id: str) -> SmtpMailer:
        """Host, port, SSL/STARTTLS and credentials from the Airflow connection, via SmtpHook.

        The hook only connects and logs in. Its own send_email_smtp builds a different MIME message
        (HTML only, attachments read from files) and retries DATA on any error, which can deliver
        the same disclosure twice; so our message goes through the hook's smtplib client instead.
        """
        def open_client() -> Client:
            from airflow.providers.smtp.hooks.smtp import SmtpHook
            hook = SmtpHook(smtp_conn_id=conn_id)
            try:
                hook.get_conn()
            finally:
                if hook.smtp_connection is not None:  # loaded before dialling: name the server
                    mailer.server = f"{hook.host}:{hook.port} (Airflow connection '{conn_id}')"
            client = hook._smtp_client  # no public accessor: get_conn() returns the hook itself
            if client is None:
                raise smtplib.SMTPServerDisconnected(f"SmtpHook gave no client for '{conn_id}'")
            return client
        mailer = cls(open_client, f"Airflow connection '{conn_id}'")
        return mailer

    def send(self, message: EmailMessage) -> None:
        """Hand the message to the server; MailDeliveryError (with the cause chained) if it is not taken."""
        count = len(_envelope_recipients(message))
        report = message["X-Diversion-Report"]
        try:
            client = self._open_client()
            try:
                refused = client.send_message(message)
            finally:
                try:
                    client.quit()
                except Exception:  # noqa: BLE001 - the message is already accepted or not
                    client.close()
        except Exception as exc:  # any failure here means the report was not delivered
            raise MailDeliveryError(f"report {report} to {count} recipient(s) not delivered via "
                                    f"{self.server}: {_describe(exc)}") from exc
        if refused:
            raise MailDeliveryError(f"report {report}: {len(refused)} of {count} recipient(s) refused "
                                    f"by {self.server} (domains {sorted(_domains(refused))})")


def _envelope_recipients(message: EmailMessage) -> list[str]:
    """Whom smtplib's send_message will address: To, Cc and Bcc."""
    fields = [str(v) for h in ("To", "Cc", "Bcc") for v in message.get_all(h, [])]
    return [address for _, address in getaddresses(fields) if address]


def _domains(addresses: object) -> set[str]:
    return {str(a).rpartition("@")[2] for a in addresses}


def _describe(exc: BaseException) -> str:
    """The cause in one line, without mailbox names (a refused-recipients error lists them)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return (f"SMTPRecipientsRefused: all {len(exc.recipients)} recipient(s) refused "
                f"(domains {sorted(_domains(exc.recipients))})")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"SMTPSenderRefused: {exc.smtp_code} {exc.smtp_error!r}"
    return f"{type(exc).__name__}: {exc}"


def airflow_smtp_connection_json(host: str, port: int, *, from_email: str | None = None) -> str:
    """AIRFLOW_CONN_* value for a plain loopback SMTP server (no SSL, no STARTTLS, no login).

    SmtpHook defaults to SMTP over SSL *and* STARTTLS; both must be switched off by extras.
    """
    extra = {"disable_ssl": True, "disable_tls": True, "timeout": 30, "retry_limit": 2}
    if from_email:
        extra["from_email"] = from_email
    return json.dumps({"conn_type": "smtp", "host": host, "port": port, "extra": extra})
