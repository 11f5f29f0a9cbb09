"""The connector inside Airflow: the ODBC provider's hook builds the connection from an Airflow
connection (here given the way Airflow reads one from its environment), secret included."""
import json
import sqlite3
from datetime import date

import pytest

from connectors.records_system import RecordsSystem, RecordsSystemError
from pipeline.context import night_window
from schemas.config import load_config

CONFIG = load_config()
COLUMNS = CONFIG.records_system.columns


def _settings(dialect: str, driver: str):
    return CONFIG.records_system.model_copy(update={"dialect": dialect, "odbc_driver": driver})


def test_reads_through_an_airflow_connection(tmp_path, monkeypatch):
    path = tmp_path / "records.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE stop_record ({})".format(", ".join(f"[{c}]" for c in COLUMNS.values())))
        conn.execute(f"INSERT INTO stop_record ([{COLUMNS['stop_ref']}], [{COLUMNS['stop_time']}], "
                     f"[{COLUMNS['last_modified']}]) VALUES ('SS1', '2026-06-10 12:00:00', '2026-06-10 12:00:00')")
    monkeypatch.setenv("AIRFLOW_CONN_TEST_RECORDS", json.dumps({"conn_type": "odbc", "schema": str(path)}))
    source = RecordsSystem.from_airflow("test_records", _settings("sqlite", "SQLite3"))
    start, end = night_window(date(2026, 6, 10), "Europe/London")
    assert [list(c["stop_ref"]) for c in source.extract(start, end, end)] == [["SS1"]]


def test_airflow_connection_failure_names_it_and_hides_its_password(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEST_RECORDS_DOWN", json.dumps({
        "conn_type": "odbc", "host": "127.0.0.1", "port": 1, "schema": "records", "login": "etl",
        "password": "s3cret-pw"}))
    settings = _settings("postgresql", "PostgreSQL Unicode").model_copy(update={"login_timeout_seconds": 3})
    source = RecordsSystem.from_airflow("test_records_down", settings)
    start, end = night_window(date(2026, 6, 10), "Europe/London")
    with pytest.raises(RecordsSystemError) as err:
        list(source.extract(start, end, end))
    message = str(err.value)
    assert message.startswith("Airflow connection 'test_records_down': extraction failed: cannot reach the server")
    assert "s3cret-pw" not in message
