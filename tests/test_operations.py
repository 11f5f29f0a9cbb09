"""Operations without a scheduler: retention purges, the missed-night check, the engineers' alerts
through the SMTP provider's notifier to a real SMTP server."""
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from connectors import state_db as db
from connectors.mail import airflow_smtp_connection_json
from pipeline.alerts import TaskFailureAlert, alert_html
from pipeline.retention import purge_expired
from pipeline.watchdog import night_status
from schemas.config import Retention, load_config

TODAY = date(2026, 11, 25)


@pytest.fixture
def state(tmp_path):
    store = db.StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    return store


def _run(store, run_id, night, status="succeeded"):
    with store.transaction() as conn:
        store.upsert(conn, db.runs, [{"run_id": run_id, "night": night, "status": status,
                                      "window_start": datetime(2026, 1, 1, tzinfo=timezone.utc),
                                      "window_end": datetime(2026, 1, 2, tzinfo=timezone.utc)}])


def _quarantine(store, key, run_id):
    with store.transaction() as conn:
        store.upsert(conn, db.quarantine, [{
            "source": "records_system", "source_key": key, "status": "held", "reasons": "[]",
            "record": '{"surname": "Example"}', "first_run_id": run_id, "run_id": run_id}])


def test_retention_purges_only_what_is_past_its_days_and_logs_it(state, tmp_path):
    _run(state, "old", date(2026, 8, 1))     # 116 days before: past 90
    _run(state, "recent", date(2026, 9, 1))  # 85 days before: kept
    _quarantine(state, "SS-OLD", "old")
    _quarantine(state, "SS-RECENT", "recent")
    data = tmp_path / "data"
    for night in ("2026-10-25", "2026-10-26", "2026-11-24", "not-a-night"):
        (data / "staging" / night / "run").mkdir(parents=True)
        (data / "staging" / night / "run" / "stops_raw.parquet").write_bytes(b"x")
    (data / "outbound" / "2026-10-20" / "reading").mkdir(parents=True)
    (data / "outbound" / "2026-11-20" / "reading").mkdir(parents=True)
    result = purge_expired(state, data, Retention(staging_days=30, quarantine_days=90), TODAY)
    assert result == {"quarantined_rows": 1, "staging_folders": ["outbound/2026-10-20", "staging/2026-10-25"]}
    assert sorted(p.name for p in (data / "staging").iterdir()) == ["2026-10-26", "2026-11-24", "not-a-night"]
    assert [p.name for p in (data / "outbound").iterdir()] == ["2026-11-20"]
    with state.engine.connect() as conn:
        kept = [k for (k,) in conn.execute(sa.select(db.quarantine.c.source_key))]
        (log,) = conn.execute(sa.select(db.processing_log).where(db.processing_log.c.operation == "erasure")).all()
    assert kept == ["SS-RECENT"]
    assert "records_system:SS-OLD" in log.subject and "2026-10-25" in log.subject
    assert "Example" not in log.subject
    # the same day again purges nothing and logs nothing more
    assert purge_expired(state, data, Retention(staging_days=30, quarantine_days=90), TODAY) == {
        "quarantined_rows": 0, "staging_folders": []}
    with state.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.processing_log)).scalar() == 1


def test_retention_purges_the_staging_area_on_object_storage_too(state, tmp_path, monkeypatch):
    monkeypatch.delenv("DIVERSION_STAGING_URL", raising=False)
    shared = tmp_path / "bucket" / "staging"  # an ObjectStoragePath through file://, as in production s3://
    for night in ("2026-10-01", "2026-11-24"):
        (shared / night / "scheduled__x").mkdir(parents=True)
        (shared / night / "scheduled__x" / "stops_raw.parquet").write_bytes(b"x")
    result = purge_expired(state, tmp_path / "data", Retention(staging_days=30, quarantine_days=90), TODAY,
                           staging_url=f"file://{shared}")
    assert result["staging_folders"] == ["staging/2026-10-01"]
    assert [p.name for p in shared.iterdir()] == ["2026-11-24"]
    with state.engine.connect() as conn:
        (log,) = conn.execute(sa.select(db.processing_log.c.subject)).all()
    assert "2026-10-01" in log.subject


def test_night_status_for_a_succeeded_a_failed_and_a_missing_night(state):
    _run(state, "n1-first", date(2026, 11, 23), status="failed")
    _run(state, "n1-retry", date(2026, 11, 23))
    _run(state, "n2", date(2026, 11, 24), status="running")
    with state.transaction() as conn:
        state.upsert(conn, db.run_steps, [{"run_id": "n2", "step": "fetch_caseloads", "status": "failed",
                                           "seconds": 3.5, "attempts": 3, "error": "SftpUnavailable: x"}])
    assert night_status(state, date(2026, 11, 23))["succeeded"]
    late = night_status(state, date(2026, 11, 24))
    assert not late["succeeded"] and late["latest_status"] == "running"
    assert late["failed_steps"] == ["fetch_caseloads"]
    missing = night_status(state, date(2026, 11, 22))
    assert missing == {"night": date(2026, 11, 22), "succeeded": False, "runs": 0, "latest_run": None,
                       "latest_status": None, "failed_steps": []}


def test_failure_alert_reaches_the_engineers_through_smtp(mail_sink, monkeypatch):
    config = load_config()
    monkeypatch.setenv("AIRFLOW_CONN_" + config.connections.smtp.upper(),
                       airflow_smtp_connection_json(mail_sink.host, mail_sink.port))
    context = {  # what Airflow hands a failure callback (the parts the alert reads)
        "ti": SimpleNamespace(task_id="fetch_caseloads", try_number=3),
        "dag_run": SimpleNamespace(dag_id="diversion_nightly", run_id="scheduled__2026-11-25T02:00:00+00:00",
                                   run_type="scheduled"),
        "exception": ConnectionRefusedError("sftp {{ not a template }}"),
    }
    TaskFailureAlert().notify(context)
    (message,) = mail_sink.messages()
    assert message["To"] == ", ".join(config.report.engineers)
    assert message["Subject"] == "diversion-sync: task fetch_caseloads failed in scheduled__2026-11-25T02:00:00+00:00"
    body = message.get_body(("html",)).get_content()
    assert "ConnectionRefusedError" in body and "fetch_caseloads" in body


def test_alert_html_escapes_and_defuses_templates():
    out = alert_html("t", {"error": "<b>{{ x }}</b>"})
    assert "<b>" not in out and "{{" not in out
