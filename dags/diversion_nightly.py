"""diversion_nightly: each night, from the records system to the supervisors' exception report.

Thin wiring only: every task calls one function of pipeline.steps, which works without Airflow.
Tasks hand data over as files in the run's staging folder; XCom carries small metadata.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from pipeline import NIGHTLY_STEPS
from pipeline.dag_defaults import daily, dag_defaults


def _run():
    """The run's plan, from the XCom of `plan` (imports stay inside tasks: fast DAG parsing)."""
    from pipeline.context import NightlyRun
    ti = get_current_context()["ti"]
    return NightlyRun.from_xcom(ti.xcom_pull(task_ids="plan"))


def _more_runs_pending() -> bool:
    """Whether other runs of this DAG wait (a backfill's later nights): max_active_runs is 1."""
    ctx = get_current_context()
    ti, dag_id = ctx["ti"], ctx["dag_run"].dag_id
    return (ti.get_dr_count(dag_id=dag_id, states=["queued"]) > 0
            or ti.get_dr_count(dag_id=dag_id, states=["running"]) > 1)


def _resources():
    from pipeline.resources import airflow_resources
    return airflow_resources()


@dag(
    dag_id="diversion_nightly",
    description="Youth drug diversion: stops, referrals, YOT caseloads, engagement, escalations",
    schedule=daily(minute=0, hour=2),
    **dag_defaults(timedelta(minutes=5), exponential_backoff=True),
    params={"night": Param(None, type=["null", "string"], format="date",
                           description="Night to process (YYYY-MM-DD); default: the day before the run")},
    tags=["diversion"],
)
def diversion_nightly():
    @task
    def plan() -> dict:
        from pipeline.context import NightlyRun, night_for_schedule
        from pipeline.operations import run_step
        from schemas.config import load_config
        import datetime as dt
        ctx = get_current_context()
        config = load_config()
        night = ctx["params"].get("night")
        night = (dt.date.fromisoformat(night) if night
                 else night_for_schedule(ctx["data_interval_end"], config.scheme.timezone))
        run = NightlyRun.plan(ctx["run_id"], night, config.scheme.timezone, staging_url=config.staging.url)
        return run_step("start_run", _resources(), run, run_type=getattr(ctx["dag_run"].run_type, "value", str(ctx["dag_run"].run_type)))

    def step(name: str):
        @task(task_id=name)
        def one_step() -> dict:
            from pipeline.operations import run_step
            kwargs = {"more_runs_pending": _more_runs_pending()} if name == "send_backfill_digest" else {}
            return run_step(name, _resources(), _run(), **kwargs)
        return one_step

    @task.sensor(task_id="wait_for_earlier_nights", poke_interval=60, timeout=12 * 3600, mode="reschedule")
    def wait_for_earlier_nights() -> bool:
        """Nights build on each other: a backfill run may start only once earlier nights are done."""
        ti = get_current_context()["ti"]
        return all(ti.get_previous_dagrun(state=s) is None for s in ("running", "queued"))

    previous = wait_for_earlier_nights() >> plan()
    for name in NIGHTLY_STEPS[1:]:  # start_run is part of plan
        current = step(name)()
        previous >> current
        previous = current


diversion_nightly()
