"""diversion_watchdog: each morning at the configured time, alert the data engineers if last
night's run has not succeeded (failed, still running, or never started). Thin wiring only."""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from pipeline.dag_defaults import daily, dag_defaults
from schemas.config import load_config

OPERATIONS = load_config().operations  # a small YAML file: the check time must be known when parsing


@dag(
    dag_id="diversion_watchdog",
    description="Alerts the data engineers when last night's diversion run did not finish in time",
    schedule=daily(minute=OPERATIONS.night_due_by.minute, hour=OPERATIONS.night_due_by.hour),
    **dag_defaults(timedelta(minutes=2)),
    tags=["diversion", "operations"],
)
def diversion_watchdog():
    @task
    def check_last_night() -> dict:
        from pipeline.alerts import alert_html, send_engineers_alert
        from pipeline.context import night_for_schedule
        from pipeline.resources import state_url_from_airflow
        from pipeline.watchdog import night_status
        from connectors.state_db import StateStore
        config = load_config()
        ctx = get_current_context()
        night = night_for_schedule(ctx["data_interval_end"], config.scheme.timezone)
        status = night_status(StateStore(state_url_from_airflow(config.connections.state_database)), night)
        if not status["succeeded"]:
            send_engineers_alert(ctx, f"diversion-sync: night {night} has not succeeded by "
                                      f"{config.operations.night_due_by:%H:%M}",
                                 alert_html("Last night's run did not finish in time.", status))
        return {k: str(v) for k, v in status.items()}

    check_last_night()


diversion_watchdog()
