"""Alerts to the data engineers through the SMTP provider's notifier: a task that failed for good,
and a night that did not finish in time. Ids, task names and error types only, never personal data.
"""
from __future__ import annotations

import html
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier


def _plain(value: Any) -> str:
    """Text safe in the HTML body and inert to the notifier's Jinja rendering."""
    return html.escape(str(value)).replace("{", "&#123;").replace("}", "&#125;")


def alert_html(title: str, facts: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th align='left'>{_plain(k)}</th><td>{_plain(v)}</td></tr>" for k, v in facts.items())
    return f"<p>{_plain(title)}</p><table>{rows}</table><p>(No personal data in this message.)</p>"


def send_engineers_alert(context: Any, subject: str, body_html: str) -> None:
    """Through SmtpNotifier and the scheme's SMTP connection, to the configured engineers."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from schemas.config import load_config
    config = load_config()
    SmtpNotifier(to=list(config.report.engineers), from_email=config.report.sender,
                 smtp_conn_id=config.connections.smtp, subject=_plain(subject),
                 html_content=body_html).notify(context)


class TaskFailureAlert(BaseNotifier):
    """on_failure_callback: a task failed after its retries. Configuration is read when it fires,
    so parsing the DAG stays light."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        ti, run = context["ti"], context["dag_run"]
        error = context.get("exception")
        facts = {"DAG": run.dag_id, "run": run.run_id, "run type": getattr(run.run_type, "value", run.run_type),
                 "task": ti.task_id, "attempt": getattr(ti, "try_number", "?"),
                 "error": type(error).__name__ if error else "unknown",
                 "what to do": "see the task log; the runbook in docs/runbook.md says how to re-run"}
        send_engineers_alert(context, f"diversion-sync: task {ti.task_id} failed in {run.run_id}",
                             alert_html("A task of the nightly run failed after its retries.", facts))
