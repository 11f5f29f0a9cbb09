"""The records-system connector on real databases through real ODBC drivers (SQLite3, psqlODBC)."""
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pandas as pd
import psycopg
import pytest

from connectors.records_system import RecordsSystem, RecordsSystemError
from pipeline.context import night_window
from schemas.config import load_config

CONFIG = load_config()
COLUMNS = CONFIG.records_system.columns
UTC = timezone.utc
NAMES = ["O'Brien", "Nic Dhòmhnaill", "Zoë", "李", "Smith-Jones",
         "Robert'); DROP TABLE stop_record;--"]


def _types(dialect: str) -> dict[str, str]:
    typed = {COLUMNS["stop_time"]: "TIMESTAMP", COLUMNS["last_modified"]: "TIMESTAMP",
             COLUMNS["date_of_birth"]: "DATE", COLUMNS["quantity"]: "NUMERIC(12,3)"}
    if dialect == "sqlite":
        typed = {COLUMNS["quantity"]: "REAL"}
    return {c: typed.get(c, "TEXT") for c in COLUMNS.values()}


class Source:
    """A stop_record table in a real database, and a connector reading it over ODBC."""

    def __init__(self, dialect, connect, connection_string, placeholder, lock):
        self.dialect, self._connect, self.placeholder = dialect, connect, placeholder
        self.connection_string, self._lock = connection_string, lock
        settings = CONFIG.records_system.model_copy(update={
            "dialect": dialect, "fetch_size": 3,
            "odbc_driver": "SQLite3" if dialect == "sqlite" else "PostgreSQL Unicode"})
        self.connector = RecordsSystem.from_connection_string(connection_string, settings, f"test {dialect}")
        cols = ", ".join(f'"{c}" {t}' for c, t in _types(dialect).items())
        with self._connect() as conn:
            conn.execute(f"CREATE TABLE stop_record ({cols})")
        self.serial = 0

    def add(self, stop_time: str, last_modified: str | None = None, **values) -> str:
        self.serial += 1
        row = {c: None for c in COLUMNS.values()}
        row.update({COLUMNS["stop_ref"]: f"SS{self.serial:04d}", COLUMNS["stop_time"]: stop_time,
                    COLUMNS["last_modified"]: last_modified or stop_time, COLUMNS["area"]: "Reading"})
        row.update({COLUMNS[k]: v for k, v in values.items()})
        marks = ", ".join([self.placeholder] * len(row))
        with self._connect() as conn:
            names = ", ".join(f'"{c}"' for c in row)
            conn.execute(f"INSERT INTO stop_record ({names}) VALUES ({marks})", list(row.values()))
        return row[COLUMNS["stop_ref"]]

    @contextmanager
    def locked(self):
        """Another session holds the stop table exclusively until the block ends."""
        conn = self._lock()
        try:
            yield
        finally:
            conn.rollback()
            conn.close()

    def refs(self, start, end, since=None) -> list[str]:
        chunks = list(self.connector.extract(start, end, since or end))
        return sorted(r for c in chunks for r in c["stop_ref"])

    def rows(self, start, end, since=None):
        return pd.concat(list(self.connector.extract(start, end, since or end)), ignore_index=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def source(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "records.db"

        def connect():
            return sqlite3.connect(path)

        def lock():
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            return conn
        return Source("sqlite", connect, f"DRIVER={{SQLite3}};Database={path};", "?", lock)
    db = request.getfixturevalue("postgres_database")

    def connect():
        return psycopg.connect(autocommit=True, **db)
    conn_str = (f"DRIVER={{PostgreSQL Unicode}};Server={db['host']};Port={db['port']};"
                f"Database={db['dbname']};Uid={db['user']};Pwd=;BoolsAsChar=0;")

    def lock():
        conn = psycopg.connect(**db)
        conn.execute("LOCK TABLE stop_record IN ACCESS EXCLUSIVE MODE")
        return conn
    return Source("postgresql", connect, conn_str, "%s", lock)


def test_window_edges_start_in_end_out(source):
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")  # BST: 23:00 UTC edges
    inside = source.add("2026-06-10 00:00:00")          # local midnight = start: in
    source.add("2026-06-11 00:00:00")                   # local midnight next day = end: out
    source.add("2026-06-09 23:59:59")                   # just before: out
    last = source.add("2026-06-10 23:59:59")            # just before the end: in
    assert source.refs(start, end) == sorted([inside, last])


def test_clock_going_back_night_has_25_hours(source):
    start, end = night_window(datetime(2026, 10, 25).date(), "Europe/London")
    assert end - start == timedelta(hours=25)
    refs = [source.add("2026-10-25 00:00:00"), source.add("2026-10-25 01:30:00"),
            source.add("2026-10-25 23:59:59")]
    source.add("2026-10-24 23:59:59")                   # the evening before: out
    source.add("2026-10-26 00:00:00")                   # the next local midnight = end: out
    rows = source.rows(start, end)
    assert sorted(rows["stop_ref"]) == sorted(refs)
    # the repeated hour is read as its first occurrence (BST): 01:30 local = 00:30 UTC
    assert "2026-10-25T00:30:00+00:00" in set(rows["stop_time"])


def test_clock_going_forward_night_has_23_hours(source):
    start, end = night_window(datetime(2026, 3, 29).date(), "Europe/London")
    assert end - start == timedelta(hours=23)
    ref = source.add("2026-03-29 01:30:00")  # does not exist locally: moved forward one hour
    first = source.add("2026-03-29 00:00:00")           # start (00:00 GMT): in
    last = source.add("2026-03-29 23:59:59")            # 22:59:59 UTC: in
    source.add("2026-03-28 23:59:59")                   # out
    source.add("2026-03-30 00:00:00")                   # end (23:00 UTC): out
    rows = source.rows(start, end)
    assert sorted(rows["stop_ref"]) == sorted([ref, first, last])
    times = dict(zip(rows["stop_ref"], rows["stop_time"]))
    assert times[ref] == "2026-03-29T01:30:00+00:00"
    assert times[first] == "2026-03-29T00:00:00+00:00" and times[last] == "2026-03-29T22:59:59+00:00"


def test_leap_day_and_midnight(source):
    start, end = night_window(datetime(2028, 2, 29).date(), "Europe/London")
    refs = [source.add("2028-02-29 00:00:00"), source.add("2028-02-29 12:00:00")]
    source.add("2028-03-01 00:00:00")
    assert source.refs(start, end) == sorted(refs)


def test_late_modification_is_picked_up_once(source):
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    edited = source.add("2026-05-01 14:00:00", last_modified="2026-06-10 09:00:00")
    source.add("2026-05-01 15:00:00", last_modified="2026-05-01 16:00:00")
    watermark_before = start  # the previous night's successful run ended at this night's start
    assert source.refs(start, end, since=watermark_before) == [edited]
    next_start, next_end = night_window(datetime(2026, 6, 11).date(), "Europe/London")
    assert source.refs(next_start, next_end, since=end) == []


def test_text_round_trips_exactly_and_sql_is_parameterised(source):
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    for name in NAMES:
        source.add("2026-06-10 12:00:00", surname=name, forename=" Zoë ", pnc_id="", quantity=0.25)
    rows = source.rows(start, end)
    assert sorted(rows["surname"]) == sorted(NAMES)
    assert set(rows["forename"]) == {"Zoë"}           # trimmed
    assert rows["pnc_id"].isna().all()                # empty string to null
    # exact decimal text as the source holds it (NUMERIC(12,3) in PostgreSQL, REAL in SQLite)
    assert set(rows["quantity"]) == {"0.250" if source.dialect == "postgresql" else "0.25"}
    assert source.refs(start, end)                    # the table is still there


def test_nulls_in_every_nullable_column(source):
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    source.add("2026-06-10 12:00:00")
    rows = source.rows(start, end)
    nullable = [f for f in COLUMNS if f not in ("stop_ref", "stop_time", "last_modified", "area")]
    assert rows[nullable].isna().all().all()


def test_renamed_column_gives_a_clear_error(source):
    broken = source.connector.settings.model_copy(update={"columns": COLUMNS | {"surname": "FAMILY_NAME"}})
    connector = RecordsSystem(source.connector._connect, broken, "test source")
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    with pytest.raises(RecordsSystemError) as err:
        list(connector.extract(start, end, end))
    assert "test source" in str(err.value) and "family_name" in str(err.value).lower()


def test_unreachable_server_names_the_connection_not_the_password():
    settings = CONFIG.records_system.model_copy(update={"dialect": "postgresql", "odbc_driver": "PostgreSQL Unicode"})
    connector = RecordsSystem.from_connection_string(
        "DRIVER={PostgreSQL Unicode};Server=127.0.0.1;Port=1;Database=x;Uid=u;Pwd=s3cret-pw;",
        settings, "records system (test)", timeout=3)
    start = datetime(2026, 6, 10, tzinfo=UTC)
    with pytest.raises(RecordsSystemError) as err:
        list(connector.extract(start, start + timedelta(days=1), start))
    assert "records system (test)" in str(err.value)
    assert "s3cret-pw" not in str(err.value)


def test_missing_table_names_the_connection_and_the_table(source):
    broken = source.connector.settings.model_copy(update={"table": "stop_record_v2"})
    connector = RecordsSystem(source.connector._connect, broken, "records system (test)")
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    with pytest.raises(RecordsSystemError) as err:
        list(connector.extract(start, end, end))
    assert str(err.value).startswith("records system (test): extraction failed: table not found")
    assert "stop_record_v2" in str(err.value)


def test_bad_login_names_the_connection_not_the_password(postgres_server):
    settings = CONFIG.records_system.model_copy(update={"dialect": "postgresql", "odbc_driver": "PostgreSQL Unicode"})
    connector = RecordsSystem.from_connection_string(
        f"DRIVER={{PostgreSQL Unicode}};Server={postgres_server['host']};Port={postgres_server['port']};"
        "Database=postgres;Uid=no_such_officer;Pwd={s3cret;pw};", settings, "records system (test)")
    start = datetime(2026, 6, 10, tzinfo=UTC)
    with pytest.raises(RecordsSystemError) as err:
        list(connector.extract(start, start + timedelta(days=1), start))
    assert str(err.value).startswith("records system (test): extraction failed: login refused")
    assert "s3cret" not in str(err.value) and "pw}" not in str(err.value)


def test_query_timeout_on_a_locked_table_fails_clearly(source):
    """The source holds a lock past the configured timeout: the task fails instead of hanging."""
    source.add("2026-06-10 12:00:00")
    settings = source.connector.settings.model_copy(update={"query_timeout_seconds": 1})
    connector = RecordsSystem.from_connection_string(source.connection_string, settings, "records system (test)")
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    with source.locked():
        with pytest.raises(RecordsSystemError) as err:
            list(connector.extract(start, end, end))
    assert str(err.value).startswith("records system (test): extraction failed: query timed out")
    assert source.refs(start, end) == ["SS0001"]  # the lock released, the same read succeeds


@pytest.mark.parametrize("paging", ["cursor", "keyset"])
def test_every_stop_is_read_exactly_once_in_either_paging(source, paging):
    """Pages of 3 over 10 stops, including one without a reference and one with a blank one."""
    settings = source.connector.settings.model_copy(update={"paging": paging})
    connector = RecordsSystem(source.connector._connect, settings, "test source")
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    refs = [source.add(f"2026-06-10 {h:02d}:00:00") for h in range(8)]
    source.add("2026-06-10 09:00:00", stop_ref=None, surname="no reference")
    source.add("2026-06-10 10:00:00", stop_ref=" ", surname="blank reference")
    source.add("2026-06-11 10:00:00")  # the next night: out
    rows = pd.concat(list(connector.extract(start, end, end)), ignore_index=True)
    assert len(rows) == 10
    assert sorted(rows["stop_ref"].dropna()) == sorted(refs)
    assert sorted(rows.loc[rows["stop_ref"].isna(), "surname"]) == ["blank reference", "no reference"]


def test_postgresql_timestamptz_columns_keep_their_offsets(postgres_database):
    """A force storing zone-aware times: the text carries the offset, which wins over the policy."""
    db = postgres_database
    types = {c: "TEXT" for c in COLUMNS.values()} | {COLUMNS["stop_time"]: "TIMESTAMPTZ",
                                                     COLUMNS["last_modified"]: "TIMESTAMPTZ"}
    with psycopg.connect(autocommit=True, **db) as conn:
        conn.execute("CREATE TABLE stop_record ({})".format(", ".join(f'"{c}" {t}' for c, t in types.items())))
        for ref, moment in [("IN1", "2026-06-09 23:00:00+00"), ("IN2", "2026-12-10 12:00:00+00"),
                            ("OUT", "2026-06-10 23:00:00+00"), ("IN3", "2026-06-10 22:59:59+00")]:
            conn.execute(f'INSERT INTO stop_record ("{COLUMNS["stop_ref"]}", "{COLUMNS["stop_time"]}", '
                         f'"{COLUMNS["last_modified"]}") VALUES (%s, %s, %s)', [ref, moment, moment])
    settings = CONFIG.records_system.model_copy(update={"dialect": "postgresql", "odbc_driver": "PostgreSQL Unicode"})
    connector = RecordsSystem.from_connection_string(
        f"DRIVER={{PostgreSQL Unicode}};Server={db['host']};Port={db['port']};Database={db['dbname']};"
        f"Uid={db['user']};Pwd=;ConnSettings={{SET TimeZone = 'Europe/London'}};", settings, "test")
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    rows = pd.concat(list(connector.extract(start, end, end)), ignore_index=True)
    assert dict(zip(rows["stop_ref"], rows["stop_time"])) == {
        "IN1": "2026-06-09T23:00:00+00:00", "IN3": "2026-06-10T22:59:59+00:00"}


def test_ethnicity_is_extracted_only_when_mapped(source):
    """Optional, sensitive fields: never in the SELECT unless a force maps them; then read like text."""
    with source._connect() as conn:
        for col in ("SELF_ETHNICITY", "OFFICER_ETHNICITY"):
            conn.execute(f'ALTER TABLE stop_record ADD COLUMN "{col}" TEXT')
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")
    ref = source.add("2026-06-10 12:00:00")
    with source._connect() as conn:
        conn.execute(f'UPDATE stop_record SET "SELF_ETHNICITY" = {source.placeholder}, '
                     f'"OFFICER_ETHNICITY" = {source.placeholder}', [" White - Irish ", "White"])
    assert "ETHNICITY" not in source.connector.select_sql().upper()
    assert not {"self_defined_ethnicity", "officer_defined_ethnicity"} & set(source.rows(start, end))
    mapped = source.connector.settings.model_copy(update={"columns": COLUMNS | {
        "self_defined_ethnicity": "SELF_ETHNICITY", "officer_defined_ethnicity": "OFFICER_ETHNICITY"}})
    rows = pd.concat(list(RecordsSystem(source.connector._connect, mapped, "test source").extract(
        start, end, end)), ignore_index=True)
    assert rows[["stop_ref", "self_defined_ethnicity", "officer_defined_ethnicity"]].values.tolist() == [
        [ref, "White - Irish", "White"]]


@pytest.mark.parametrize("source", ["sqlite"], indirect=True)
def test_sqlite_times_written_with_t_and_fractions_keep_every_edge(source):
    """SQLite compares times as text: a 'T' sorts after a space, so '2026-06-10T09:00' is 'after'
    '2026-06-10 10:00'. The widened SQL window and the exact filter in UTC keep every edge right."""
    start, end = night_window(datetime(2026, 6, 10).date(), "Europe/London")  # 23:00 UTC edges
    since = datetime(2026, 6, 10, 11, 0, tzinfo=UTC)                             # 12:00 local
    inside = source.add("2026-06-10T00:00:00")                          # local midnight = start: in
    source.add("2026-06-11T00:00:00")                                   # end: out
    source.add("2026-06-09T23:59:59.999")                               # just before the start: out
    last = source.add("2026-06-10T23:59:59.5")                          # just before the end: in
    late = source.add("2026-06-01T12:00:00", "2026-06-10T12:00:00")     # edited at the watermark: in
    source.add("2026-06-01T12:00:00", "2026-06-10T11:59:59")            # edited before it: out
    source.add("2026-06-01T12:00:00", "2026-06-11T00:00:00.001")        # edited after the end: out
    rows = source.rows(start, end, since)
    assert sorted(rows["stop_ref"]) == sorted([inside, last, late])
    times = dict(zip(rows["stop_ref"], pd.to_datetime(rows["stop_time"], format="ISO8601", utc=True)))
    assert times[inside] == pd.Timestamp("2026-06-09T23:00:00", tz="UTC")
    assert times[last] == pd.Timestamp("2026-06-10T22:59:59.5", tz="UTC")
