"""Late edits across nights, through the pipeline's own steps, on a real SQLite source over ODBC.

The watermark (last-modified time read up to) lives in the state database and moves only in
`finish_run`: a night whose extraction fails leaves it where it was, so the retry reads every
late edit, and the night after does not read them again.
"""
import sqlite3
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import state_db as db
from connectors.records_system import RecordsSystem, RecordsSystemError
from connectors.state_db import StateStore
from pipeline import steps
from pipeline.context import NightlyRun
from pipeline.resources import Resources
from schemas.config import load_config

CONFIG = load_config()
COLUMNS = CONFIG.records_system.columns


@pytest.fixture
def world(tmp_path):
    path = tmp_path / "records.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE stop_record ({})".format(", ".join(f"[{c}]" for c in COLUMNS.values())))
    settings = CONFIG.records_system.model_copy(update={"dialect": "sqlite", "odbc_driver": "SQLite3"})
    source = RecordsSystem.from_connection_string(f"DRIVER={{SQLite3}};Database={path};", settings, "records")
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    res = Resources(config=CONFIG, state=state, records=source, open_sftp=None, mailer=None,
                    data_dir=tmp_path / "data")
    return path, res


def _stop(path, ref: str, stop_time: str, modified: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"INSERT OR REPLACE INTO stop_record ([{COLUMNS['stop_ref']}], [{COLUMNS['stop_time']}], "
                     f"[{COLUMNS['last_modified']}], [{COLUMNS['area']}]) VALUES (?, ?, ?, 'Reading')",
                     [ref, stop_time, modified])


def _night(res: Resources, night: date) -> NightlyRun:
    run = NightlyRun.plan(f"scheduled__{night}", night, "Europe/London", root=res.data_dir)
    steps.start_run(res, run)
    return run


def _extracted(run: NightlyRun) -> list[str]:
    return sorted(pd.read_parquet(run.staged("stops_raw.parquet"))["stop_ref"])


def _watermark(res: Resources):
    with res.state.engine.connect() as conn:
        value = conn.execute(sa.select(db.watermarks.c.value)).scalar()
    return None if value is None else pd.Timestamp(value).tz_localize(None)


def test_failed_night_keeps_the_watermark_and_the_retry_reads_late_edits_once(world):
    path, res = world
    _stop(path, "SS1", "2026-05-01 14:00:00", "2026-05-01 15:00:00")
    _stop(path, "SS2", "2026-06-10 12:00:00", "2026-06-10 12:00:00")
    first = _night(res, date(2026, 6, 10))
    steps.extract_stops(res, first)
    steps.finish_run(res, first)
    assert _extracted(first) == ["SS1", "SS2"]  # first run: stops modified in the look-back too
    assert _watermark(res) == pd.Timestamp("2026-06-10 23:00")  # the night's end, 00:00 BST

    _stop(path, "SS1", "2026-05-01 14:00:00", "2026-06-11 09:00:00")  # quantity corrected
    _stop(path, "SS3", "2026-06-11 08:00:00", "2026-06-11 08:00:00")
    second = _night(res, date(2026, 6, 11))
    good = res.records
    res.records = RecordsSystem(good._connect, good.settings.model_copy(update={
        "columns": COLUMNS | {"stop_time": "STOP_DT"}}), "records")  # the source renamed a column
    with pytest.raises(RecordsSystemError, match="STOP_DT"):
        steps.extract_stops(res, second)
    assert not (second.staging_dir / "stops_raw.parquet").exists()  # nothing half-extracted
    assert _watermark(res) == pd.Timestamp("2026-06-10 23:00")      # not advanced

    res.records = good                                              # Airflow retries the task
    steps.extract_stops(res, second)
    steps.finish_run(res, second)
    assert _extracted(second) == ["SS1", "SS3"]
    assert _watermark(res) == pd.Timestamp("2026-06-11 23:00")

    third = _night(res, date(2026, 6, 12))
    steps.extract_stops(res, third)
    assert _extracted(third) == []                                  # the edit is not read twice
