"""The staging area on object storage (Airflow's ObjectStoragePath over a real fsspec `file://`
filesystem): a night run task by task, each rebuilding its run from XCom-shaped JSON as a Celery
worker on another machine would, gives the demo's ground truth and leaves nothing staged on the
worker's local disk.
"""
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.stack import DemoStack
from pipeline import NIGHTLY_STEPS
from pipeline.context import (STAGING_URL_ENV, NightlyRun, is_local, read_frame, staging_location,
                              write_frame)
from pipeline.operations import run_step
from schemas.config import ConfigError, load_config

ACTIVE = ("open", "notified", "acknowledged")


def test_default_staging_stays_a_local_path(tmp_path, monkeypatch):
    monkeypatch.delenv(STAGING_URL_ENV, raising=False)
    from datetime import date
    run = NightlyRun.plan("scheduled__x", date(2026, 11, 24), "Europe/London", root=tmp_path)
    assert isinstance(run.staging_dir, Path)
    assert run.staging_dir == tmp_path / "staging" / "2026-11-24" / "scheduled__x"
    assert isinstance(NightlyRun.from_xcom(run.to_xcom()).staging_dir, Path)


def test_a_staging_url_becomes_an_object_storage_path(tmp_path, monkeypatch):
    from datetime import date
    from airflow.sdk import ObjectStoragePath
    monkeypatch.setenv(STAGING_URL_ENV, f"file://{tmp_path}/bucket/")
    run = NightlyRun.plan("manual__1", date(2026, 11, 24), "Europe/London", root=tmp_path / "data")
    assert isinstance(run.staging_dir, ObjectStoragePath)
    assert str(run.staging_dir) == f"file://{tmp_path}/bucket/2026-11-24/manual__1"
    back = NightlyRun.from_xcom(json.loads(json.dumps(run.to_xcom())))
    assert back == run and isinstance(back.staging_dir, ObjectStoragePath)
    setting = NightlyRun.plan("manual__1", date(2026, 11, 24), "Europe/London", root=tmp_path,
                              staging_url="file:///elsewhere/staging")
    assert setting.staging_dir == run.staging_dir  # the environment overrides the setting
    monkeypatch.delenv(STAGING_URL_ENV)
    setting = NightlyRun.plan("manual__1", date(2026, 11, 24), "Europe/London", root=tmp_path,
                              staging_url="file:///elsewhere/staging")
    assert str(setting.staging_dir) == "file:///elsewhere/staging/2026-11-24/manual__1"
    s3 = staging_location("s3://aws_staging@diversion/staging/2026-11-24/x/stops_raw.parquet")
    assert s3.conn_id == "aws_staging" and not is_local(s3)


def test_frames_round_trip_through_object_storage(tmp_path):
    path = staging_location(f"file://{tmp_path}/obj/stops.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"stop_ref": ["S1", "S2"], "age": [15, 16]})
    write_frame(path, frame)
    assert not path.with_name("stops.parquet.partial").exists()
    pd.testing.assert_frame_equal(read_frame(path), frame)


def test_the_staging_setting_is_validated(tmp_path):
    text = Path("config/scheme.yaml").read_text().replace("  url: null ", "  url: not a url ")
    bad = tmp_path / "scheme.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="staging.url"):
        load_config(bad)
    assert load_config().staging.url is None  # the shipped example stages on local disk


@pytest.fixture(scope="module")
def night_on_object_storage():
    root = Path(tempfile.mkdtemp(prefix="diversion-objstage-"))
    outer = os.environ.pop(STAGING_URL_ENV, None)
    with DemoStack(root / "world") as stack:
        url = f"file://{root}/object-store/staging"
        planned = NightlyRun.plan("scheduled__2026-11-25T02:00:00+00:00", stack.night,
                                  stack.config.scheme.timezone, root=stack.data_dir, staging_url=url)
        res = stack.resources()
        xcom = None
        summary: dict = {}
        for name in NIGHTLY_STEPS:  # each task starts from JSON, as on another worker
            run = planned if xcom is None else NightlyRun.from_xcom(json.loads(json.dumps(xcom)))
            kwargs = {"start_run": {"run_type": "scheduled"},
                      "send_backfill_digest": {"more_runs_pending": False}}.get(name, {})
            result = run_step(name, res, run, **kwargs)
            if name == "start_run":
                xcom = result
            if name == "finish_run":
                summary = result
        yield stack, res, planned, summary, root
    if outer is not None:
        os.environ[STAGING_URL_ENV] = outer


def test_a_night_on_object_storage_gives_the_ground_truth(night_on_object_storage):
    stack, res, _, summary, _ = night_on_object_storage
    truth = stack.world.truth
    with res.state.engine.connect() as conn:
        escalated = {r for (r,) in conn.execute(sa.select(db.escalations.c.referral_ref).where(
            db.escalations.c.state.in_(ACTIVE)))}
    assert escalated == set(truth["escalated_referral_refs"])
    assert summary["stops extracted"] == truth["stops"]
    assert summary["stale YOTs"] == truth["stale_yots"]


def test_staged_files_live_in_the_object_store_only(night_on_object_storage):
    stack, _, run, summary, root = night_on_object_storage
    store = root / "object-store" / "staging" / run.night.isoformat() / "scheduled__2026-11-25T02_00_00_00_00"
    assert len(read_frame(run.staged("stops_raw.parquet"))) == summary["stops extracted"]
    assert (store / "stops_valid.parquet").is_file() and (store / "referrals.parquet").is_file()
    fetched = json.loads(run.staged("caseloads.json").read_text())
    got = {y: i for y, i in fetched.items() if i["status"] == "fetched"}
    assert got and all(i["path"].startswith(f"file://{store}/caseloads/{y}/") for y, i in got.items())
    assert all(staging_location(i["path"]).read_bytes() for i in got.values())
    assert not (stack.data_dir / "staging").exists()  # nothing staged on the worker's disk
    scratch = Path(tempfile.gettempdir()) / "diversion-sync-scratch" / run.night.isoformat()
    leftovers = [p for p in scratch.rglob("*") if p.is_file()] if scratch.exists() else []
    assert [p for p in leftovers if "scheduled__2026-11-25" in str(p)] == []


@pytest.mark.airflow
def test_the_dag_runs_unchanged_with_object_storage_staging(monkeypatch):
    """Through Airflow itself: each task rebuilds the run from XCom and finds its files by URL."""
    from demo.__main__ import DEMO_LOGICAL_DATE
    root = Path(tempfile.mkdtemp(prefix="diversion-objstage-airflow-"))
    store = root / "object-store"
    monkeypatch.setenv(STAGING_URL_ENV, f"file://{store}")
    with DemoStack(root / "world") as stack:
        assert stack.run_airflow("db", "migrate", log_name="migrate.log").returncode == 0
        result = stack.run_airflow("dags", "test", "diversion_nightly", DEMO_LOGICAL_DATE,
                                   log_name="dags-test.log")
        assert result.returncode == 0, (stack.root / "dags-test.log").read_text(errors="replace")[-5000:]
        state = db.StateStore(stack.state_url)
        with state.engine.connect() as conn:
            escalated = {r for (r,) in conn.execute(sa.select(db.escalations.c.referral_ref))}
        assert escalated == set(stack.world.truth["escalated_referral_refs"])
        staged = {p.name for p in (store / "2026-11-24").rglob("*") if p.is_file()}
        assert {"stops_raw.parquet", "stops_valid.parquet", "referrals.parquet", "caseloads.json"} <= staged
        assert not (stack.data_dir / "staging").exists()
