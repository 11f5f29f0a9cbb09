"""100,000 stops through the connector with bounded memory, on real SQLite and PostgreSQL over ODBC.

Each row carries 1,000 characters of text, so the night holds about 100 MB. The read runs in a
child process, which samples its resident size after every chunk: read whole, the driver holds
the result while the chunks are handed out (133 MB more through the SQLite3 driver on one cursor,
240 MB through psqlODBC without a declared cursor); read in chunks of 200 it stays near 25 MB.
A bound on memory, not a timing."""
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import psycopg
import pytest

from schemas.config import load_config

N = 100_000
COLUMNS = load_config().records_system.columns
WIDE = 1000

READER = textwrap.dedent("""
    import json, sys
    from datetime import date
    from connectors.records_system import RecordsSystem
    from pipeline.context import night_window
    from schemas.config import load_config

    dialect, driver, connection_string = sys.argv[1:4]
    settings = load_config().records_system.model_copy(
        update={"dialect": dialect, "odbc_driver": driver, "fetch_size": 200})
    source = RecordsSystem.from_connection_string(connection_string, settings, "volume test")

    def rss_mb():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024

    empty_start, empty_end = night_window(date(2020, 1, 1), "Europe/London")
    assert sum(len(c) for c in source.extract(empty_start, empty_end, empty_end)) == 0  # warm up
    before = rss_mb()
    start, end = night_window(date(2026, 3, 1), "Europe/London")
    rows = widest = 0
    highest = before
    for chunk in source.extract(start, end, end):
        rows += len(chunk)
        widest = max(widest, int(chunk["legislation"].str.len().max()))
        highest = max(highest, rss_mb())  # what the read holds while it runs, chunk by chunk
    print(json.dumps({"rows": rows, "widest": widest, "growth_mb": highest - before}))
""")


def _values(i_expr: str, concat: str, text_fn: str) -> dict[str, str]:
    """SQL expressions for stop i (0..N-1), spread over the night of 1 March 2026 (local)."""
    time = f"{text_fn}('2026-03-01 00:00:00', '+' || ({i_expr} * 86400 / {N}) || ' seconds')"
    return {COLUMNS["stop_ref"]: f"'SS' {concat} {i_expr}", COLUMNS["stop_time"]: time,
            COLUMNS["last_modified"]: time, COLUMNS["area"]: "'Reading'", COLUMNS["surname"]: "'O''Brien'",
            COLUMNS["legislation"]: f"'Misuse of Drugs Act 1971 (section 23) ' {concat} " + "{wide}"}


def _read(dialect: str, driver: str, connection_string: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    out = subprocess.run([sys.executable, "-c", READER, dialect, driver, connection_string],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_sqlite_100k_stops_with_bounded_memory(tmp_path):
    path = tmp_path / "records.db"
    values = _values("i", "||", "datetime")
    values[COLUMNS["legislation"]] = values[COLUMNS["legislation"]].format(wide=f"printf('%.{WIDE}c', 'x')")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE stop_record ({})".format(", ".join(  # keyset pages walk the key
            f"[{c}]{' TEXT PRIMARY KEY' if c == COLUMNS['stop_ref'] else ''}" for c in COLUMNS.values())))
        conn.execute(f"""WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {N - 1})
            INSERT INTO stop_record ({", ".join(f"[{c}]" for c in values)})
            SELECT {", ".join(values.values())} FROM s""")
    result = _read("sqlite", "SQLite3", f"DRIVER={{SQLite3}};Database={path};")
    assert result["rows"] == N and result["widest"] > WIDE
    assert result["growth_mb"] < 60, result  # read whole (cursor paging), 133 MB more


@pytest.mark.usefixtures("postgres_server")
def test_postgresql_100k_stops_with_bounded_memory(postgres_database):
    db = postgres_database
    with psycopg.connect(autocommit=True, **db) as conn:
        conn.execute("CREATE TABLE stop_record ({})".format(", ".join(
            f'"{c}" {"timestamp" if c in (COLUMNS["stop_time"], COLUMNS["last_modified"]) else "text"}'
            for c in COLUMNS.values())))
        time = f"timestamp '2026-03-01' + (i::bigint * 86400 / {N}) * interval '1 second'"
        values = {COLUMNS["stop_ref"]: "'SS' || i", COLUMNS["stop_time"]: time, COLUMNS["last_modified"]: time,
                  COLUMNS["area"]: "'Reading'", COLUMNS["surname"]: "'O''Brien'",
                  COLUMNS["legislation"]: f"'Misuse of Drugs Act 1971 (section 23) ' || repeat('x', {WIDE})"}
        conn.execute(f"""INSERT INTO stop_record ({", ".join(f'"{c}"' for c in values)})
            SELECT {", ".join(values.values())} FROM generate_series(0, {N - 1}) AS i""")
    result = _read("postgresql", "PostgreSQL Unicode",
                   f"DRIVER={{PostgreSQL Unicode}};Server={db['host']};Port={db['port']};"
                   f"Database={db['dbname']};Uid={db['user']};Pwd=;")
    assert result["rows"] == N and result["widest"] > WIDE
    assert result["growth_mb"] < 60, result  # read whole (UseDeclareFetch=0), 240 MB more
