"""diversion_retention: each day, purge staged files and quarantined rows older than the
configured retention, logging each purge. Thin wiring only."""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from pipeline.dag_defaults import daily, dag_defaults


@dag(
    dag_id="diversion_retention",
    description="Purges personal data past its retention period (staging, quarantine)",
    schedule=daily(minute=30, hour=5),
    **dag_defaults(timedelta(minutes=5)),
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
        return purge_expired(state, data_dir(), config.retention, today, staging_url=config.staging.url)

    purge()


diversion_retention()
