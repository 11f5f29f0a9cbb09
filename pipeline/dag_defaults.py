"""What every diversion DAG shares: the scheme's clock, a daily cron in it, one run at a time, no
catch-up, retries and the engineers' failure alert. Imported by DAG files only."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.timetables.trigger import CronTriggerTimetable

from pipeline.alerts import TaskFailureAlert

TIMEZONE = "Europe/London"


def daily(minute: int, hour: int) -> CronTriggerTimetable:
    """Once a day at local time; `data_interval_end` is the run's own moment, never the wall clock."""
    return CronTriggerTimetable(f"{minute} {hour} * * *", timezone=TIMEZONE, interval=timedelta(days=1))


def dag_defaults(retry_delay: timedelta, *, exponential_backoff: bool = False) -> dict:
    """Keyword arguments for `@dag` besides its id, schedule, description and tags."""
    default_args = {"on_failure_callback": TaskFailureAlert(), "retries": 2, "retry_delay": retry_delay}
    if exponential_backoff:
        default_args["retry_exponential_backoff"] = True
    return {"start_date": pendulum.datetime(2026, 1, 1, tz=TIMEZONE), "catchup": False,
            "max_active_runs": 1, "default_args": default_args}
