"""Read stop records from the police records system over ODBC.

The force's table and column names come from configuration; this module builds one parameterised
SELECT in the source's dialect, streams it in chunks (fetchmany on a cursor, or keyset pages
where the driver would hold a whole result) and hands back the pipeline's stop fields as text, with times already turned from local wall-clock to UTC. Typing and checks
happen later, so a value that cannot be read is kept as it was and quarantined with a reason,
never lost.

Why one packed column: ODBC drivers pay per value fetched (psqlODBC about 0.8 us, pyodbc more),
which capped a 22-column read near 55,000 rows/s. The SELECT instead asks the server for each
row's fields as text joined by the unit separator (U+001F), which the source's own text can no
longer hold (the SQL replaces it with a space), and the chunk is split back into columns in
Arrow, without Python work per value.
"""
from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors.odbc_drivers import use_private_driver_config
from schemas.config import RecordsSystem as RecordsSystemSettings
from transforms.timezones import text_to_utc, utc_iso_text

# A window's edges are compared in UTC after conversion; the SQL window is widened by this much
# so that the clock-change hours are never cut off by a local-time comparison in the source.
_CLOCK_CHANGE_MARGIN = timedelta(hours=2)
_SECRET = re.compile(r"(PWD|PASSWORD)\s*=\s*(\{[^}]*\}|[^;]*)", re.IGNORECASE)
SEPARATOR = "\x1f"
TIME_FIELDS = ("stop_time", "last_modified")
DATE_FIELDS = ("date_of_birth",)


class RecordsSystemError(RuntimeError):
    """The records system could not be read; the message names the connection, never a secret."""


def redact(text: str) -> str:
    return _SECRET.sub(r"\1=***", text)


@dataclass(frozen=True)
class Dialect:
    """What differs between sources: quoting, text conversion, typed parameters, first rows.

    Parameters are always ODBC markers (`?`) holding ISO text; the dialect says how the server
    reads that text as a time-stamp (SQLite stores times as ISO text and compares text).
    """

    name: str
    open_quote: str
    close_quote: str
    concat: str
    separator: str          # SQL for the unit separator, U+001F
    blank: str              # SQL literal for the empty string
    space: str              # SQL literal for one space
    timestamp_param: str

    def quote(self, identifier: str) -> str:
        return ".".join(f"{self.open_quote}{p}{self.close_quote}" for p in identifier.split("."))

    def as_text(self, column: str, kind: str) -> str:
        """The column as text, separator-free, never null (a null reads back as blank)."""
        q = self.quote(column)
        if self.name == "mssql":
            style = ", 121" if kind in ("time", "date") else ""  # 121: yyyy-mm-dd hh:mi:ss.fffffff
            text = f"CONVERT(nvarchar(max), {q}{style})"
        elif self.name == "postgresql":
            text = f"CAST({q} AS text)"  # psqlODBC sets DateStyle ISO on every connection
        else:
            text = f"CAST({q} AS TEXT)"
        return f"COALESCE(REPLACE({text}, {self.separator}, {self.space}), {self.blank})"

    def first_rows(self, select_list: str, source: str, n: int) -> str:
        """`SELECT ... FROM source` cut to its first n rows: TOP in T-SQL, LIMIT elsewhere."""
        if self.name == "mssql":
            return f"SELECT TOP ({int(n)}) {select_list} FROM {source}"
        return f"SELECT {select_list} FROM {source} LIMIT {int(n)}"

    def page(self, sql: str, order_by: str, n: int) -> str:
        """One keyset page: the first n rows in key order. T-SQL pages with OFFSET/FETCH."""
        if self.name == "mssql":
            return f"{sql} ORDER BY {order_by} OFFSET 0 ROWS FETCH NEXT {int(n)} ROWS ONLY"
        return f"{sql} ORDER BY {order_by} LIMIT {int(n)}"

    def timestamp_value(self, local: pd.Timestamp) -> str:
        return local.strftime("%Y-%m-%d %H:%M:%S")


DIALECTS = {
    # SQLite: brackets, because an unknown "double-quoted" name is silently read as a string there,
    # hiding a renamed column.
    "sqlite": Dialect("sqlite", "[", "]", " || ", "char(31)", "''", "' '", "?"),
    "postgresql": Dialect("postgresql", '"', '"', " || ", "chr(31)", "''", "' '", "CAST(? AS timestamp)"),
    "mssql": Dialect("mssql", "[", "]", " + ", "NCHAR(31)", "N''", "N' '", "CAST(? AS datetime2)"),
}


def field_kind(field: str) -> str:
    return "time" if field in TIME_FIELDS else "date" if field in DATE_FIELDS else "text"


def driver_options(settings: RecordsSystemSettings) -> dict[str, str]:
    """Connection-string options the driver needs for a bounded, typed, timed-out read.

    psqlODBC reads a whole result into memory unless it declares a cursor (UseDeclareFetch),
    and it does not take ODBC's query timeout, so the server's statement_timeout is set instead.
    The SQLite3 driver's Timeout is how long it waits on a locked database.
    """
    timeout_ms = settings.query_timeout_seconds * 1000
    if settings.dialect == "postgresql":
        return {"UseDeclareFetch": "1", "Fetch": str(settings.fetch_size), "BoolsAsChar": "0",
                "ConnSettings": f"{{SET statement_timeout = {timeout_ms}}}"}
    if settings.dialect == "sqlite":
        return {"Timeout": str(timeout_ms)}
    return {}


def apply_query_timeout(conn, settings: RecordsSystemSettings) -> None:
    """SQL Server's drivers take ODBC's query timeout; the others get theirs in driver_options."""
    if settings.dialect == "mssql":
        conn.timeout = settings.query_timeout_seconds


def with_driver_options(connection_string: str, options: dict[str, str]) -> str:
    """Add options the connection string does not already set (the force's own choice wins)."""
    present = {part.split("=", 1)[0].strip().lower() for part in connection_string.split(";") if "=" in part}
    extra = "".join(f"{k}={v};" for k, v in options.items() if k.lower() not in present)
    if extra and connection_string and not connection_string.rstrip().endswith(";"):
        connection_string += ";"
    return connection_string + extra


_PROBLEMS = [  # (SQLSTATEs, words in the driver's message, what went wrong); first match wins
    ({"28000", "28P01"}, ("authentication failed", "login failed", "role \"", "password"),
     "login refused"),
    ({"57014", "HYT00"}, ("statement timeout", "timeout expired", "database is locked"),
     "query timed out"),
    ({"42P01", "42S02"}, ("no such table", "relation \"", "invalid object name"), "table not found"),
    ({"42703", "42S22"}, ("no such column", "column \"", "invalid column name"), "column not found"),
    ({"08001", "08S01", "08004", "HYT01"}, ("connect",), "cannot reach the server"),
]


def describe_failure(exc: BaseException) -> str:
    """The problem in a few words, then the driver's own message with any secret removed.

    Drivers share SQLSTATEs loosely (psqlODBC reports a refused login as 08001, SQLite says
    HY000 for everything), so the message's words are read as well as the state.
    """
    state = str(exc.args[0]) if exc.args else ""
    message = " ".join(str(a) for a in exc.args[1:]) or str(exc)
    low = message.lower()
    problem = next((what for states, words, what in _PROBLEMS
                    if state in states or any(w in low for w in words)), "query failed")
    return f"{problem}: {redact(message).strip()}"


def _prefetched(cur, size: int) -> Iterator[list[str]]:
    """The packed rows, chunk by chunk, the next fetched while the last is unpacked.

    The driver and pyodbc release the GIL while they wait for the server and convert text, so
    one fetching thread overlaps them with the Arrow work here. At most two chunks wait, so
    memory stays bounded; an error in the fetch is raised here, in the caller's thread.
    """
    chunks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            while rows := cur.fetchmany(size):
                if not put([r[0] for r in rows]):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    worker = threading.Thread(target=fetch, name="records-system-fetch", daemon=True)
    worker.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


class RecordsSystem:
    """Stops for a window of stop times plus every stop modified since the watermark."""

    def __init__(self, connect: Callable[[], object], settings: RecordsSystemSettings,
                 name: str) -> None:
        self._connect = connect
        self.settings = settings
        self.name = name
        self.dialect = DIALECTS[settings.dialect]

    @classmethod
    def from_connection_string(cls, connection_string: str, settings: RecordsSystemSettings,
                               name: str = "records system", timeout: int | None = None) -> "RecordsSystem":
        def connect():
            import pyodbc
            return pyodbc.connect(with_driver_options(connection_string, driver_options(settings)),
                                  timeout=timeout or settings.login_timeout_seconds)
        return cls(connect, settings, name)

    @classmethod
    def from_airflow(cls, conn_id: str, settings: RecordsSystemSettings) -> "RecordsSystem":
        """Through the ODBC provider's hook, so the connection (and its secret) stays in Airflow."""
        def connect():
            import pyodbc
            from airflow.providers.odbc.hooks.odbc import OdbcHook
            hook = OdbcHook(odbc_conn_id=conn_id, driver=settings.odbc_driver)
            kwargs = {"timeout": settings.login_timeout_seconds} | hook.connect_kwargs
            return pyodbc.connect(with_driver_options(hook.odbc_connection_string, driver_options(settings)),
                                  **kwargs)
        return cls(connect, settings, f"Airflow connection '{conn_id}'")

    @property
    def paging(self) -> str:
        """How the read stays bounded: a streaming cursor, or keyset pages where the driver
        would hold a whole result (the SQLite3 driver does, whatever its StepAPI says)."""
        return self.settings.paging or ("keyset" if self.settings.dialect == "sqlite" else "cursor")

    def select_sql(self, page: str | None = None) -> str:
        """The extraction SELECT. With `page`, one keyset page over the stop reference: "null"
        (stops without one, all at once), "first", or "after" (the page after a given one)."""
        s, d = self.settings, self.dialect
        packed = f" {d.concat.strip()} {d.separator} {d.concat.strip()} ".join(
            d.as_text(src, field_kind(field)) for field, src in s.columns.items())
        t, m, p = d.quote(s.columns["stop_time"]), d.quote(s.columns["last_modified"]), d.timestamp_param
        key = d.quote(s.columns["stop_ref"])
        sql = (f"SELECT {packed} AS packed{f', {key} AS page_key' if page else ''} FROM {d.quote(s.table)} "
               f"WHERE (({t} >= {p} AND {t} < {p}) OR ({m} >= {p} AND {m} < {p}))")
        if page == "null":
            return f"{sql} AND {key} IS NULL"
        if page == "first":
            return d.page(f"{sql} AND {key} IS NOT NULL", key, s.fetch_size)
        if page == "after":
            return d.page(f"{sql} AND {key} > ?", key, s.fetch_size)
        return sql

    def probe_sql(self) -> str:
        """No rows, every column: the header to check the column mapping against."""
        return self.dialect.first_rows("*", self.dialect.quote(self.settings.table), 0)

    def _param(self, moment: datetime) -> str:
        local = pd.Timestamp(moment).tz_convert(self.settings.source_timezone).tz_localize(None)
        return self.dialect.timestamp_value(local)

    def extract(self, window_start: datetime, window_end: datetime,
                modified_since: datetime) -> Iterator[pd.DataFrame]:
        """Chunks of stops with stop_time in [start, end) or last_modified in [since, end)."""
        if window_start.tzinfo is None or window_end.tzinfo is None or modified_since.tzinfo is None:
            raise ValueError("extraction window edges must be timezone-aware")
        params = [self._param(window_start - _CLOCK_CHANGE_MARGIN),
                  self._param(window_end + _CLOCK_CHANGE_MARGIN),
                  self._param(modified_since - _CLOCK_CHANGE_MARGIN),
                  self._param(window_end + _CLOCK_CHANGE_MARGIN)]
        use_private_driver_config()
        try:
            with closing(self._connect()) as conn:
                apply_query_timeout(conn, self.settings)
                cur = conn.cursor()
                self._check_columns(cur)
                if self.paging == "keyset":
                    chunks = self._keyset_pages(cur, params)
                else:
                    cur.execute(self.select_sql(), params)
                    chunks = _prefetched(cur, self.settings.fetch_size)
                for packed in chunks:
                    chunk = self.unpack(packed)
                    keep = (
                        ((chunk["_stop_utc"] >= window_start) & (chunk["_stop_utc"] < window_end))
                        | ((chunk["_modified_utc"] >= modified_since)
                           & (chunk["_modified_utc"] < window_end))
                        | chunk["_stop_utc"].isna() | chunk["_modified_utc"].isna())
                    yield chunk.loc[keep].drop(columns=["_stop_utc", "_modified_utc"]).reset_index(drop=True)
        except RecordsSystemError:
            raise
        except Exception as exc:  # pyodbc.Error and friends: name the connection, hide secrets
            if type(exc).__module__ != "pyodbc":
                raise
            raise RecordsSystemError(f"{self.name}: extraction failed: {describe_failure(exc)}") from None

    def _keyset_pages(self, cur, params: list[str]) -> Iterator[list[str]]:
        """Page by page in stop-reference order, each page its own query. A stop edited between
        pages is read as it is then; one added behind the last page carries a later
        last-modified time, so the next night's run reads it."""
        size = self.settings.fetch_size
        cur.execute(self.select_sql("null"), params)
        while rows := cur.fetchmany(size):
            yield [r[0] for r in rows]
        sql, after = self.select_sql("first"), []
        while True:
            cur.execute(sql, params + after)
            rows = cur.fetchall()  # at most one page
            if rows:
                yield [r[0] for r in rows]
            if len(rows) < size:
                return
            sql, after = self.select_sql("after"), [rows[-1][1]]

    def _check_columns(self, cur) -> None:
        """A renamed or missing source column fails here, by name, before any row is read."""
        cur.execute(self.probe_sql())
        present = {d[0].lower() for d in cur.description}
        cur.fetchall()
        missing = [(field, col) for field, col in self.settings.columns.items() if col.lower() not in present]
        if missing:
            named = ", ".join(f"{col} (for {field})" for field, col in missing)
            raise RecordsSystemError(
                f"{self.name}: column not found in table {self.settings.table}: {named}; "
                f"check records_system.columns in the configuration")

    def unpack(self, packed: list[str]) -> pd.DataFrame:
        """Packed rows to one trimmed text column per field (blank is null); times to UTC text."""
        fields = list(self.settings.columns)
        n = len(fields)
        parts = pc.split_pattern(pa.array(packed, type=pa.large_string()), SEPARATOR)
        counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
        if len(counts) and (counts != n).any():  # the SQL removes separators: this is a dialect bug
            row = int(np.flatnonzero(counts != n)[0])
            raise RecordsSystemError(f"{self.name}: row {row} of a chunk came back with "
                                     f"{counts[row]} fields, expected {n}")
        flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
        flat = pc.if_else(pc.equal(flat, ""), pa.scalar(None, pa.large_string()), flat)
        columns = {field: flat.take(np.arange(i, len(flat), n)) for i, field in enumerate(fields)}
        frame = pd.DataFrame({field: pd.Series(col, dtype="str") for field, col in columns.items()})
        for field in TIME_FIELDS:
            utc = text_to_utc(columns[field], self.settings.source_timezone)
            frame[f"_{'stop' if field == 'stop_time' else 'modified'}_utc"] = utc
            frame[field] = utc_iso_text(utc).where(utc.notna(), frame[field])
        return frame
