"""Re-sending a report that was sent before (a supervisor lost it, a mailbox bounced): the exact
message kept at dispatch, sent again, and logged as a new disclosure with who asked and why."""
from __future__ import annotations

from datetime import date
from email import message_from_bytes, policy
from email.utils import getaddresses
from pathlib import Path

from connectors.mail import SmtpMailer
from connectors.state_db import StateStore
from pipeline.reporting import sent_message_path


def resend_report(state: StateStore, mailer: SmtpMailer, reports_root: Path, night: date, key: str, *,
                  requested_by: str, reason: str, to: list[str] | None = None) -> list[str]:
    """Send the kept message for (night, key) again, to its recipients or to `to`; returns them."""
    path = sent_message_path(reports_root / night.isoformat(), key)
    if not path.is_file():
        raise FileNotFoundError(f"no message was sent for {key} on the night of {night} ({path} missing)")
    message = message_from_bytes(path.read_bytes(), policy=policy.SMTP)
    recipients = to or [addr for _, addr in getaddresses(message.get_all("To", []))]
    if to:
        del message["To"]
        message["To"] = ", ".join(to)
    message["X-Diversion-Resent"] = f"{night} at the request of {requested_by}"
    with state.transaction() as conn:
        state.log_processing(conn, operation="disclosure", actor=requested_by, recipients=recipients,
                             subject=f"re-sent {key} for {night} (Message-ID {message['Message-ID']})",
                             purpose=f"re-sent: {reason}", run_id=f"resend__{night}__{key}")
        mailer.send(message)
    return recipients
