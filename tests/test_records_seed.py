"""The compose stack's records-system stand-in is seeded with the demo world's stops: the seed
goes through a real ODBC driver (psqlODBC here; FreeTDS to SQL Server in the stack), and what the
connector then extracts is what it extracts from the demo's own database."""
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from connectors.records_system import RecordsSystem
from demo.world import generate_world
from schemas.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docker"))
from seed_records_system import seed_stops  # noqa: E402

CONFIG = load_config()
EVER = (datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))


def _extract(connection_string: str, dialect: str, driver: str) -> list[dict]:
    settings = CONFIG.records_system.model_copy(update={"dialect": dialect, "odbc_driver": driver})
    connector = RecordsSystem.from_connection_string(connection_string, settings, f"seed test {dialect}")
    rows = [r for chunk in connector.extract(*EVER, EVER[0]) for r in chunk.to_dict("records")]
    return sorted(rows, key=lambda r: r["stop_ref"])


def test_seeded_stand_in_gives_the_demo_worlds_stops(postgres_database):
    db = postgres_database
    cols = CONFIG.records_system.columns
    types = {cols["stop_time"]: "TIMESTAMP", cols["last_modified"]: "TIMESTAMP", cols["date_of_birth"]: "DATE",
             cols["quantity"]: "NUMERIC(12,3)"}
    with psycopg.connect(autocommit=True, **db) as conn:  # the shape of docker/mssql/init.sql
        conn.execute(f"CREATE TABLE {CONFIG.records_system.table} ("
                     + ", ".join(f'"{c}" {types.get(c, "TEXT")}' for c in cols.values()) + ")")
    odbc = (f"DRIVER={{PostgreSQL Unicode}};Server={db['host']};Port={db['port']};"
            f"Database={db['dbname']};Uid={db['user']};Pwd=;BoolsAsChar=0;")
    inserted = seed_stops(odbc, CONFIG, dialect="postgresql")
    assert inserted > 200
    assert seed_stops(odbc, CONFIG, dialect="postgresql") == 0, "a seeded table is left alone"
    with tempfile.TemporaryDirectory() as scratch:
        world = generate_world(Path(scratch), CONFIG)
        expected = _extract(f"DRIVER={{SQLite3}};Database={world.records_db};", "sqlite", "SQLite3")
    got = _extract(odbc, "postgresql", "PostgreSQL Unicode")
    assert len(got) == inserted == world.truth["stops"]
    blanked = 0
    for mine, theirs in zip(got, expected):
        # NUMERIC(12,3) keeps trailing zeros that REAL drops; free text cannot be a number
        ours, source = pd.to_numeric(mine["quantity"]), pd.to_numeric(theirs["quantity"], errors="coerce")
        if pd.isna(source) and not pd.isna(theirs["quantity"]):
            blanked += 1
        assert (pd.isna(ours) and pd.isna(source)) or ours == pytest.approx(source)
        assert {k: (None if pd.isna(v) else v) for k, v in mine.items() if k != "quantity"} == {
            k: (None if pd.isna(v) else v) for k, v in theirs.items() if k != "quantity"}
    assert blanked == 1  # the demo's "a few": still quarantined, for a quantity without a number
