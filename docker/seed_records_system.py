"""Fills the records-system stand-in with the demo world's stops: the same world (seed and night)
as the YOT drops that yot-drops-seed writes, so the stack's first night has stops to refer and
exports to match them against. Run once by the records-system-seed service; a table that already
holds rows is left alone.

python docker/seed_records_system.py   (ODBC connection string in $RECORDS_SEED_ODBC, dialect in
                                         $RECORDS_SEED_DIALECT, default mssql)
"""
from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.records_system import DIALECTS  # noqa: E402
from demo.world import generate_world  # noqa: E402
from schemas.config import SchemeConfig, load_config  # noqa: E402


def demo_stops(config: SchemeConfig) -> list[dict]:
    """The demo world's stop rows, keyed by the source's column names."""
    with tempfile.TemporaryDirectory() as scratch:
        world = generate_world(Path(scratch), config, sftp_root=Path(scratch) / "sftp")
        with sqlite3.connect(world.records_db) as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(f'SELECT * FROM "{config.records_system.table}"')]


def _number(value: object) -> Decimal | None:
    """The demo's free-text quantity ("a few") has no place in a DECIMAL column: it goes in blank."""
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def seed_stops(connection_string: str, config: SchemeConfig, dialect: str = "mssql") -> int:
    """Insert the demo stops (parameterised, one transaction); 0 when the table has rows already."""
    import pyodbc
    rows = demo_stops(config)
    columns = list(config.records_system.columns.values())
    quantity = config.records_system.columns["quantity"]
    d = DIALECTS[dialect]
    table = d.quote(config.records_system.table)
    with pyodbc.connect(connection_string, autocommit=False) as conn:
        cur = conn.cursor()
        if cur.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]:
            return 0
        names = ", ".join(d.quote(c) for c in columns)
        cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})",
                        [[_number(r[c]) if c == quantity else r[c] for c in columns] for r in rows])
        conn.commit()
    return len(rows)


if __name__ == "__main__":
    done = seed_stops(os.environ["RECORDS_SEED_ODBC"], load_config(),
                      os.environ.get("RECORDS_SEED_DIALECT", "mssql"))
    print(f"records system: {done} demo stops inserted" if done else "records system: already seeded")
