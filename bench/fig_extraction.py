"""Benchmark figure: extraction. `python -m bench extraction` prints its line."""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import n_rows, peak_mb, stop_rows


def run() -> str:
    from connectors.records_system import RecordsSystem
    from pipeline.context import night_window
    from schemas.config import load_config
    n = n_rows(200_000)
    config = load_config()
    folder = Path(tempfile.mkdtemp())
    db = folder / "records.db"
    rows = stop_rows(n)
    cols = list(config.records_system.columns.values())
    with sqlite3.connect(db) as con:
        con.execute(f"CREATE TABLE stop_record ({', '.join(cols)})")
        con.executemany(f"INSERT INTO stop_record VALUES ({','.join('?' * len(cols))})",
                        [[r[c] for c in cols] for r in rows])
    del rows
    start, end = night_window(date(2026, 3, 1), "Europe/London")
    t0 = time.perf_counter()
    with sqlite3.connect(db) as con:
        native = sum(1 for _ in con.execute("SELECT * FROM stop_record"))
    ceiling = time.perf_counter() - t0
    connector = RecordsSystem.from_connection_string(f"DRIVER={{SQLite3}};Database={db};", config.records_system)
    t0 = time.perf_counter()
    got = sum(len(c) for c in connector.extract(start, end, end))
    took = time.perf_counter() - t0
    shutil.rmtree(folder)
    assert got == native == n, (got, native, n)
    return (f"extraction sqlite-odbc {n} rows: {n / took:,.0f} rows/s, peak {peak_mb():.0f} MB; "
            f"sqlite3 native read {n / ceiling:,.0f} rows/s, ratio {ceiling / took:.2f}")
