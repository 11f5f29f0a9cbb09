"""A 7-night backfill through a real Airflow scheduler (LocalExecutor, metadata in PostgreSQL),
compared with the same seven nights run one by one; then the same backfill again changes nothing.

The README's backfill command is the one used here: `airflow backfill create` with inclusive
datetimes, so nights N..M are the runs from the morning of N+1 to 02:00 on the morning of M+1, and
one run at a time (without it the DAG's first task holds later nights back, at a slower pace).
"""
import tempfile
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.airflow_services import AirflowServices
from demo.stack import DemoStack
from pipeline.context import NightlyRun
from pipeline.runner import run_backfill
from tests.state_snapshot import STATE_TABLES, assert_same_state, snapshot

pytestmark = pytest.mark.airflow

FIRST, LAST = date(2026, 11, 10), date(2026, 11, 16)
NIGHTS = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
DOMAIN_TABLES = tuple(t for t in STATE_TABLES if t != "report_dispatches")


def _backfill_args(first: date, last: date) -> list[str]:
    return ["backfill", "create", "--dag-id", "diversion_nightly",
            "--from-date", (first + timedelta(days=1)).isoformat(),
            "--to-date", f"{last + timedelta(days=1)}T02:00:00+00:00", "--max-active-runs", "1"]


@pytest.fixture
def metadata_database(postgres_server):
    name = f"diversion_airflow_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **postgres_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://{postgres_server['user']}@{postgres_server['host']}:{postgres_server['port']}/{name}"
    with psycopg.connect(dbname="postgres", autocommit=True, **postgres_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _world(prefix: str) -> DemoStack:
    stack = DemoStack(Path(tempfile.mkdtemp(prefix=prefix))).__enter__()
    stack.repeat_exports(NIGHTS)
    return stack


def test_seven_night_backfill_through_the_scheduler(metadata_database):
    stack = _world("diversion-bf-airflow-")
    try:
        with AirflowServices(stack, metadata_database) as airflow:
            airflow.wait_for_dag("diversion_nightly")
            airflow.cli(*_backfill_args(FIRST, LAST), log_name="airflow-backfill-create.log")
            runs = airflow.wait_for_runs("diversion_nightly", len(NIGHTS))
            assert sorted(r["state"] for r in runs) == ["success"] * len(NIGHTS), runs
            assert all(r["run_id"].startswith("backfill__") for r in runs)
            state = db.StateStore(stack.state_url)
            with state.engine.connect() as conn:
                recorded = conn.execute(sa.select(db.runs.c.night, db.runs.c.run_type, db.runs.c.status)
                                        .order_by(db.runs.c.night)).all()
            assert recorded == [(n, "backfill", "succeeded") for n in NIGHTS]
            messages = stack.mail.messages()
            assert [m["X-Diversion-Report"] for m in messages] == [f"backfill-digest/{FIRST}/{LAST}"]
            after_first = snapshot(state)

            # the same backfill again: Airflow creates no runs for nights it has run (reprocess
            # behaviour "none"), so nothing changes and nobody is mailed; re-running every step of
            # those nights ("completed") is tested without a scheduler in test_backfill_policy.py
            out = airflow.cli(*_backfill_args(FIRST, LAST), log_name="airflow-backfill-again.log", check=False)
            assert len(airflow.runs("diversion_nightly")) == len(NIGHTS), out[-2000:]
            assert_same_state(after_first, snapshot(state))
            assert len(stack.mail.messages()) == 1

        one_by_one = _world("diversion-bf-single-")
        try:
            single = one_by_one.resources()
            run_backfill(single, [NightlyRun.plan(f"manual__{n}", n, one_by_one.config.scheme.timezone,
                                                  root=one_by_one.data_dir) for n in NIGHTS])
            assert_same_state(snapshot(state, DOMAIN_TABLES), snapshot(single.state, DOMAIN_TABLES))
        finally:
            one_by_one.__exit__(None, None, None)
    finally:
        stack.__exit__(None, None, None)
