"""The SQL each dialect generates, and the pure logic around it (no database).

There is no SQL Server here, so the T-SQL dialect is tested as text: quoting, text conversion,
typed parameters, first rows (TOP) and the options its driver gets. PostgreSQL and SQLite run the
same SQL against real servers in test_records_system.py.
"""
import re
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pytest

from connectors.records_system import (
    DIALECTS, SEPARATOR, RecordsSystem, RecordsSystemError, describe_failure, driver_options,
    redact, with_driver_options)
from schemas.config import load_config
from transforms.timezones import text_to_utc, utc_iso_text

CONFIG = load_config()
UTC = timezone.utc


def _connector(dialect: str, **update) -> RecordsSystem:
    settings = CONFIG.records_system.model_copy(update={"dialect": dialect, **update})
    return RecordsSystem(lambda: None, settings, f"test {dialect}")


def test_tsql_select_quotes_converts_and_types_parameters():
    sql = _connector("mssql").select_sql()
    assert "[STOP_REF]" in sql and '"STOP_REF"' not in sql
    assert "FROM [stop_record]" in sql
    assert "CONVERT(nvarchar(max), [STOP_DATETIME], 121)" in sql      # times: ISO text, style 121
    assert "CONVERT(nvarchar(max), [DOB], 121)" in sql
    assert "CONVERT(nvarchar(max), [SURNAME])" in sql                  # text: no style
    assert "REPLACE(CONVERT(nvarchar(max), [SURNAME]), NCHAR(31), N' ')" in sql
    assert " + NCHAR(31) + " in sql and "||" not in sql                # T-SQL concatenates with +
    assert "COALESCE(" in sql and "N''" in sql                         # a null reads back as blank
    assert sql.count("CAST(? AS datetime2)") == 4 and sql.count("?") == 4
    assert "LIMIT" not in sql


def test_postgresql_and_sqlite_select():
    pg = _connector("postgresql").select_sql()
    assert '"STOP_DATETIME"' in pg and 'CAST("STOP_DATETIME" AS text)' in pg
    assert " || chr(31) || " in pg and pg.count("CAST(? AS timestamp)") == 4
    lite = _connector("sqlite").select_sql()
    assert "[STOP_DATETIME]" in lite and "CAST([STOP_DATETIME] AS TEXT)" in lite
    assert " || char(31) || " in lite
    assert lite.count("?") == 4 and "CAST(?" not in lite              # SQLite compares ISO text


@pytest.mark.parametrize("dialect,expected", [
    ("mssql", "SELECT TOP (0) * FROM [stop_record]"),
    ("postgresql", 'SELECT * FROM "stop_record" LIMIT 0'),
    ("sqlite", "SELECT * FROM [stop_record] LIMIT 0"),
])
def test_first_rows_paging_per_dialect(dialect, expected):
    assert _connector(dialect).probe_sql() == expected
    assert DIALECTS[dialect].first_rows("a, b", "t", 5).count("5") == 1


def test_schema_qualified_table_is_quoted_part_by_part():
    assert DIALECTS["mssql"].quote("dbo.stop_record") == "[dbo].[stop_record]"
    assert DIALECTS["postgresql"].quote("police.stop_record") == '"police"."stop_record"'


@pytest.mark.parametrize("dialect", ["mssql", "postgresql", "sqlite"])
def test_window_is_bound_as_local_iso_text_never_written_into_the_sql(dialect):
    connector = _connector(dialect)
    # 01:00 UTC on the October clock-change morning is 01:00 GMT (the second 01:00 locally)
    assert connector._param(datetime(2026, 10, 25, 1, 0, tzinfo=UTC)) == "2026-10-25 01:00:00"
    assert connector._param(datetime(2026, 6, 10, 23, 0, tzinfo=UTC)) == "2026-06-11 00:00:00"
    assert "2026" not in connector.select_sql()


def test_driver_options_bound_memory_and_time_but_the_force_wins():
    pg = driver_options(CONFIG.records_system.model_copy(update={
        "dialect": "postgresql", "fetch_size": 1234, "query_timeout_seconds": 7}))
    assert pg["UseDeclareFetch"] == "1" and pg["Fetch"] == "1234"
    assert pg["ConnSettings"] == "{SET statement_timeout = 7000}"
    assert driver_options(CONFIG.records_system.model_copy(update={"dialect": "mssql"})) == {}
    cs = with_driver_options("DRIVER={PostgreSQL Unicode};Server=h;usedeclarefetch=0", pg)
    assert "usedeclarefetch=0" in cs and "UseDeclareFetch=1" not in cs
    assert cs.endswith("Fetch=1234;BoolsAsChar=0;ConnSettings={SET statement_timeout = 7000};")


@pytest.mark.parametrize("state,message,problem", [
    ("28000", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user 'etl'.",
     "login refused"),
    ("08001", 'connection to server at "127.0.0.1", port 5432 failed: FATAL:  role "etl" does not exist',
     "login refused"),
    ("08001", "[Microsoft][ODBC Driver 18 for SQL Server]TCP Provider: Error code 0x2749", "cannot reach"),
    ("HYT00", "[Microsoft][ODBC Driver 18 for SQL Server]Query timeout expired", "query timed out"),
    ("57014", "ERROR: canceling statement due to statement timeout", "query timed out"),
    ("HY000", "[SQLite]database is locked (5)", "query timed out"),
    ("42S02", "[SQL Server]Invalid object name 'dbo.stop_record'.", "table not found"),
    ("HY000", "[SQLite]no such table: stop_record (1)", "table not found"),
    ("42S22", "[SQL Server]Invalid column name 'SURNAME'.", "column not found"),
])
def test_failures_are_named_by_state_or_words(state, message, problem):
    assert describe_failure(Exception(state, message)).startswith(problem)


def test_secrets_are_redacted_from_driver_messages():
    text = redact("DRIVER={x};Uid=etl;PWD={p;w=d};Password=hunter2;Server=h")
    assert "p;w=d" not in text and "hunter2" not in text and "Uid=etl" in text


def _packed(*rows: list[str | None]) -> list[str]:
    return [SEPARATOR.join("" if v is None else v for v in row) for row in rows]


def _row(**values) -> list[str | None]:
    row = {f: None for f in CONFIG.records_system.columns}
    row.update(stop_ref="SS1", stop_time="2026-06-10 12:00:00", last_modified="2026-06-10 12:00:00")
    row.update(values)
    return list(row.values())


def test_unpack_trims_blanks_to_null_and_turns_times_to_utc():
    frame = _connector("postgresql").unpack(_packed(
        _row(surname="  O'Brien ", forename=" ", pnc_id=""),
        _row(stop_ref="SS2", stop_time="2026-10-25 01:30:00", surname="李"),
        _row(stop_ref="SS3", stop_time="2026-03-29 01:30:00.250"),
        _row(stop_ref="SS4", stop_time="not a time")))
    assert list(frame["surname"][:2]) == ["O'Brien", "李"]
    assert frame["forename"].isna().all() and frame["pnc_id"].isna().all()
    assert frame["stop_time"].tolist() == [
        "2026-06-10T11:00:00.000000+00:00",     # BST; the chunk has a fraction, so all carry six
        "2026-10-25T00:30:00.000000+00:00",     # the repeated hour: first occurrence (BST)
        "2026-03-29T01:30:00.250000+00:00",     # the missing hour: moved forward by the gap
        "not a time"]                           # kept as given, quarantined later with a reason
    assert frame["_stop_utc"].isna().tolist() == [False, False, False, True]


def test_unpack_refuses_a_row_with_the_wrong_number_of_fields():
    broken = _packed(_row())[0] + SEPARATOR + "extra"
    with pytest.raises(RecordsSystemError, match="row 1 .*expected 22"):
        _connector("sqlite").unpack(_packed(_row()) + [broken])


def test_local_times_on_both_clock_change_nights():
    text = pa.array(["2026-10-25 00:59:59", "2026-10-25 01:00:00", "2026-10-25 02:00:00",
                     "2026-03-29 00:59:59", "2026-03-29 01:00:00", "2026-03-29 02:00:00"])
    utc = utc_iso_text(text_to_utc(text, "Europe/London")).tolist()
    assert utc == ["2026-10-24T23:59:59+00:00", "2026-10-25T00:00:00+00:00", "2026-10-25T02:00:00+00:00",
                   "2026-03-29T00:59:59+00:00", "2026-03-29T01:00:00+00:00", "2026-03-29T01:00:00+00:00"]


def test_text_with_its_own_offset_keeps_it_beside_local_text():
    """A timestamptz column reads back with offsets that change with the clocks."""
    utc = text_to_utc(pa.array(["2026-06-10 12:00:00+01", "2026-12-10 12:00:00+00", "2026-06-10 12:00:00",
                                "2026-06-10T12:00:00.1234567", "junk", None]), "Europe/London")
    assert utc.tolist()[:4] == [pd.Timestamp("2026-06-10 11:00", tz="UTC"), pd.Timestamp("2026-12-10 12:00", tz="UTC"),
                                pd.Timestamp("2026-06-10 11:00", tz="UTC"),
                                pd.Timestamp("2026-06-10 11:00:00.123456", tz="UTC")]
    assert utc.iloc[4:].isna().all()


def test_iso_text_matches_python():
    times = pd.Series(pd.to_datetime(["2028-02-29 23:59:59.000001", "2026-01-01"], utc=True, format="ISO8601"))
    assert utc_iso_text(times).tolist() == [t.isoformat(timespec="microseconds") for t in times]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", utc_iso_text(times[1:]).iloc[0])


class _Cursor:
    """Hands out packed rows in fetchmany chunks, then fails if told to (a dropped connection)."""

    def __init__(self, chunks: int, fail: bool):
        self.left, self.fail, self.calls = chunks, fail, 0

    def fetchmany(self, size):
        self.calls += 1
        if self.left == 0:
            if self.fail:
                raise ConnectionError("server closed the connection")
            return []
        self.left -= 1
        return [(f"row {self.calls}.{i}",) for i in range(size)]


def test_prefetch_hands_over_every_chunk_in_order_then_the_fetch_error():
    from connectors.records_system import _prefetched
    got = []
    with pytest.raises(ConnectionError):
        for chunk in _prefetched(_Cursor(chunks=5, fail=True), 2):
            got.append(chunk)
    assert got == [[f"row {c}.0", f"row {c}.1"] for c in range(1, 6)]


def test_prefetch_stops_fetching_when_the_reader_stops():
    import threading
    from connectors.records_system import _prefetched
    cursor = _Cursor(chunks=1000, fail=False)
    chunks = _prefetched(cursor, 10)
    assert next(chunks) == [f"row 1.{i}" for i in range(10)]
    chunks.close()
    assert cursor.calls <= 4  # one handed over, two waiting, one in hand: memory stays bounded
    assert not any(t.name == "records-system-fetch" for t in threading.enumerate())


def test_keyset_pages_per_dialect():
    tsql = _connector("mssql", fetch_size=500, paging="keyset")
    after = tsql.select_sql("after")
    assert after.endswith("AND [STOP_REF] > ? ORDER BY [STOP_REF] OFFSET 0 ROWS FETCH NEXT 500 ROWS ONLY")
    assert ", [STOP_REF] AS page_key FROM [stop_record]" in after and after.count("?") == 5
    assert tsql.select_sql("null").endswith("AND [STOP_REF] IS NULL")
    assert tsql.select_sql("first").endswith(
        "AND [STOP_REF] IS NOT NULL ORDER BY [STOP_REF] OFFSET 0 ROWS FETCH NEXT 500 ROWS ONLY")
    assert _connector("postgresql", fetch_size=500).select_sql("after").endswith(
        'AND "STOP_REF" > ? ORDER BY "STOP_REF" LIMIT 500')
    assert (_connector("sqlite").paging, _connector("postgresql").paging, _connector("mssql").paging) == (
        "keyset", "cursor", "cursor")
    assert _connector("sqlite", paging="cursor").paging == "cursor"
