"""Benchmark figure: extraction. `python -m bench extraction` prints its line.

1,000,000 stops (BENCH_SCALE scales it) are made inside PostgreSQL by generate_series, so this
process never holds them; the connector then reads them over psqlODBC, and PostgreSQL's own
`COPY ... TO STDOUT` reads the same rows in the same run: the ceiling. Peak memory is this
process's maximum resident size, which the connector keeps bounded by its fetch size.
"""
from __future__ import annotations

import time
import uuid
from datetime import date

from bench.common import n_rows, peak_mb

_TYPES = {"STOP_DATETIME": "timestamp", "LAST_MODIFIED": "timestamp", "DOB": "date",
          "QUANTITY": "numeric(12,3)"}


def _fill(conn, columns: list[str], n: int) -> None:
    """The stop table, in the source's own column names, filled by the server itself."""
    conn.execute("CREATE TABLE stop_record ({})".format(
        ", ".join(f'"{c}" {_TYPES.get(c, "text")}' for c in columns)))
    values = {
        "STOP_REF": "'SS' || lpad(i::text, 9, '0')",
        "STOP_DATETIME": "timestamp '2026-03-01' + (i * 86400.0 / {n}) * interval '1 second'",
        "LPA_NAME": "(ARRAY['Reading','Oxford','Slough','Milton Keynes','West Berkshire'])[1 + i % 5]",
        "PERSON_ID": "'P' || lpad(i::text, 8, '0')", "PNC_ID": "'12/' || lpad(i::text, 7, '0') || 'X'",
        "FORENAME": "(ARRAY['Zoë','Siobhán','李','Amir'])[1 + i % 4]",
        "SURNAME": "(ARRAY['O''Brien','Nic Dhòmhnaill','Smith-Jones','王'])[1 + i % 4]",
        "DOB": "date '2009-01-01' + (i % 2500)", "GENDER": "'Female'", "HOME_POSTCODE": "'RG1 1AA'",
        "SEARCH_TYPE": "'Person search'", "AGE_RANGE": "'10-17'",
        "LEGISLATION": "'Misuse of Drugs Act 1971 (section 23)'", "OBJECT_OF_SEARCH": "'Controlled drugs'",
        "OUTCOME": "'Community resolution'", "DRUG_NAME": "'cannabis'", "DRUG_CLASS": "'B'",
        "QUANTITY": "2.5 + (i % 7)", "QUANTITY_UNIT": "'g'", "OFFENCE": "'Possession'",
        "OFFICER_ACTION": "CASE WHEN i % 10 = 0 THEN NULL ELSE 'Referred' END",
        "LAST_MODIFIED": "timestamp '2026-03-01' + (i * 86400.0 / {n}) * interval '1 second' + interval '30 minutes'",
    }
    exprs = ", ".join(values[c].format(n=n) for c in columns)
    conn.execute(f"INSERT INTO stop_record SELECT {exprs} FROM generate_series(0, {n - 1}) AS i")
    conn.execute("ANALYZE stop_record")


def run() -> str:
    import psycopg

    from connectors.records_system import RecordsSystem
    from pipeline.context import night_window
    from schemas.config import load_config
    from tests.fixtures.postgres import running_postgres

    n = n_rows(1_000_000)
    settings = load_config().records_system.model_copy(
        update={"dialect": "postgresql", "odbc_driver": "PostgreSQL Unicode"})
    columns = list(settings.columns.values())
    dbname = f"diversion_bench_{uuid.uuid4().hex[:8]}"
    with running_postgres() as server:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'CREATE DATABASE "{dbname}"')
        try:
            with psycopg.connect(dbname=dbname, autocommit=True, **server) as conn:
                _fill(conn, columns, n)
            start, end = night_window(date(2026, 3, 1), "Europe/London")
            connector = RecordsSystem.from_connection_string(
                f"DRIVER={{PostgreSQL Unicode}};Server={server['host']};Port={server['port']};"
                f"Database={dbname};Uid={server['user']};Pwd=;", settings, "bench")
            t0 = time.perf_counter()
            got = sum(len(chunk) for chunk in connector.extract(start, end, end))
            took = time.perf_counter() - t0
            peak = peak_mb()
            select = "SELECT {} FROM stop_record".format(", ".join(f'"{c}"' for c in columns))
            t0 = time.perf_counter()
            copied = 0
            with psycopg.connect(dbname=dbname, **server) as conn, conn.cursor() as cur:
                with cur.copy(f"COPY ({select}) TO STDOUT") as copy:
                    for block in copy:
                        copied += bytes(block).count(b"\n")
            ceiling = time.perf_counter() - t0
        finally:
            with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    assert got == copied == n, (got, copied, n)
    return (f"extraction postgresql-odbc {n} rows: {n / took:,.0f} rows/s, peak {peak:.0f} MB "
            f"(fetch size {settings.fetch_size}); postgres COPY TO STDOUT {n / ceiling:,.0f} rows/s, "
            f"ratio {ceiling / took:.2f}")
