"""diversion_nightly: each night, from the records system to the supervisors' exception report.

Thin wiring only: every task calls one function of pipeline.steps, which works without Airflow.
Tasks hand data over as files in the run's staging folder; XCom carries small metadata.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from pipeline import NIGHTLY_STEPS

TIMEZONE = "Europe/London"


def _run():
    """The run's plan, from the XCom of `plan` (imports stay inside tasks: fast DAG parsing)."""
    from pipeline.context import NightlyRun
    ti = get_current_context()["ti"]
    return NightlyRun.from_xcom(ti.xcom_pull(task_ids="plan"))


def _resources():
    from pipeline.resources import airflow_resources
    return airflow_resources()


@dag(
    dag_id="diversion_nightly",
    description="Youth drug diversion: stops, referrals, YOT caseloads, engagement, escalations",
    schedule=CronTriggerTimetable("0 2 * * *", timezone=TIMEZONE, interval=timedelta(days=1)),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5),
                  "retry_exponential_backoff": True},
    params={"night": Param(None, type=["null", "string"], format="date",
                           description="Night to process (YYYY-MM-DD); default: the day before the run")},
    tags=["diversion"],
)
def diversion_nightly():
    @task
    def plan() -> dict:
        from pipeline import steps
        from pipeline.context import NightlyRun, night_for_schedule
        from schemas.config import load_config
        import datetime as dt
        ctx = get_current_context()
        config = load_config()
        night = ctx["params"].get("night")
        night = (dt.date.fromisoformat(night) if night
                 else night_for_schedule(ctx["data_interval_end"], config.scheme.timezone))
        run = NightlyRun.plan(ctx["run_id"], night, config.scheme.timezone)
        return steps.start_run(_resources(), run)

    def step(name: str):
        @task(task_id=name)
        def run_step() -> dict:
            from pipeline import steps
            return getattr(steps, name)(_resources(), _run())
        return run_step

    previous = plan()
    for name in NIGHTLY_STEPS[1:]:  # start_run is part of plan
        current = step(name)()
        previous >> current
        previous = current


diversion_nightly()
