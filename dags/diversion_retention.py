"""diversion_retention: each day, purge staged files and quarantined rows older than the
configured retention, logging each purge. Thin wiring only."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from pipeline.alerts import TaskFailureAlert

TIMEZONE = "Europe/London"


@dag(
    dag_id="diversion_retention",
    description="Purges personal data past its retention period (staging, quarantine)",
    schedule=CronTriggerTimetable("30 5 * * *", timezone=TIMEZONE, interval=timedelta(days=1)),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args={"on_failure_callback": TaskFailureAlert(), "retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["diversion", "operations"],
)
def diversion_retention():
    @task
    def purge() -> dict:
        from connectors.state_db import StateStore
        from pipeline.context import data_dir
        from pipeline.resources import state_url_from_airflow
        from pipeline.retention import purge_expired
        from schemas.config import load_config
        config = load_config()
        today = get_current_context()["data_interval_end"].in_timezone(config.scheme.timezone).date()
        state = StateStore(state_url_from_airflow(config.connections.state_database))
        return purge_expired(state, data_dir(), config.retention, today)

    purge()


diversion_retention()
