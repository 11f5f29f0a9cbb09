"""Read stop records from the police records system over ODBC.

The force's table and column names come from configuration; this module only builds a
parameterised SELECT, reads it in chunks (fetchmany) and hands back the pipeline's stop fields as
text, with times already turned from local wall-clock to UTC. Typing and checks happen later, so
a value that cannot be read is kept as it was and quarantined with a reason, never lost.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta

import pandas as pd

from connectors.odbc_drivers import use_private_driver_config
from schemas.config import RecordsSystem as RecordsSystemSettings
from transforms.timezones import local_to_utc

# A window's edges are compared in UTC after conversion; the SQL window is widened by this much
# so that the clock-change hours are never cut off by a local-time comparison in the source.
_CLOCK_CHANGE_MARGIN = timedelta(hours=2)
_SECRET = re.compile(r"(PWD|PASSWORD)\s*=\s*(\{[^}]*\}|[^;]*)", re.IGNORECASE)
TIME_FIELDS = ("stop_time", "last_modified")


class RecordsSystemError(RuntimeError):
    """The records system could not be read; the message names the connection, never a secret."""


def redact(text: str) -> str:
    return _SECRET.sub(r"\1=***", text)


def _quote(identifier: str, dialect: str) -> str:
    """Quote an identifier. SQLite gets brackets: an unknown "double-quoted" name would silently
    be read as a string literal there, hiding a renamed column."""
    parts = identifier.split(".")
    if dialect in ("mssql", "sqlite"):
        return ".".join(f"[{p}]" for p in parts)
    return ".".join(f'"{p}"' for p in parts)


class RecordsSystem:
    """Stops for a window of stop times plus every stop modified since the watermark."""

    def __init__(self, connect: Callable[[], object], settings: RecordsSystemSettings,
                 name: str) -> None:
        self._connect = connect
        self.settings = settings
        self.name = name

    @classmethod
    def from_connection_string(cls, connection_string: str, settings: RecordsSystemSettings,
                               name: str = "records system", timeout: int = 30) -> "RecordsSystem":
        def connect():
            import pyodbc
            return pyodbc.connect(connection_string, timeout=timeout)
        return cls(connect, settings, name)

    @classmethod
    def from_airflow(cls, conn_id: str, settings: RecordsSystemSettings) -> "RecordsSystem":
        """Through the ODBC provider's hook, so the connection (and its secret) stays in Airflow."""
        def connect():
            from airflow.providers.odbc.hooks.odbc import OdbcHook
            return OdbcHook(odbc_conn_id=conn_id, driver=settings.odbc_driver).get_conn()
        return cls(connect, settings, f"Airflow connection '{conn_id}'")

    def select_sql(self) -> str:
        s = self.settings
        cols = ", ".join(_quote(src, s.dialect) for src in s.columns.values())
        t = _quote(s.columns["stop_time"], s.dialect)
        m = _quote(s.columns["last_modified"], s.dialect)
        return (f"SELECT {cols} FROM {_quote(s.table, s.dialect)} "
                f"WHERE ({t} >= ? AND {t} < ?) OR ({m} >= ? AND {m} < ?)")

    def _param(self, moment: datetime) -> object:
        local = pd.Timestamp(moment).tz_convert(self.settings.source_timezone).tz_localize(None)
        if self.settings.dialect == "sqlite":  # stored as text: compare as ISO text
            return local.strftime("%Y-%m-%d %H:%M:%S")
        return local.to_pydatetime()

    def extract(self, window_start: datetime, window_end: datetime,
                modified_since: datetime) -> Iterator[pd.DataFrame]:
        """Chunks of stops with stop_time in [start, end) or last_modified in [since, end)."""
        if window_start.tzinfo is None or window_end.tzinfo is None or modified_since.tzinfo is None:
            raise ValueError("extraction window edges must be timezone-aware")
        params = [self._param(window_start - _CLOCK_CHANGE_MARGIN),
                  self._param(window_end + _CLOCK_CHANGE_MARGIN),
                  self._param(modified_since - _CLOCK_CHANGE_MARGIN),
                  self._param(window_end + _CLOCK_CHANGE_MARGIN)]
        fields = list(self.settings.columns)
        use_private_driver_config()
        try:
            with closing(self._connect()) as conn, closing(conn.cursor()) as cur:
                cur.execute(self.select_sql(), params)
                while True:
                    rows = cur.fetchmany(self.settings.fetch_size)
                    if not rows:
                        break
                    chunk = self._normalise(pd.DataFrame.from_records(
                        [tuple(r) for r in rows], columns=fields))
                    keep = (
                        ((chunk["_stop_utc"] >= window_start) & (chunk["_stop_utc"] < window_end))
                        | ((chunk["_modified_utc"] >= modified_since)
                           & (chunk["_modified_utc"] < window_end))
                        | chunk["_stop_utc"].isna() | chunk["_modified_utc"].isna())
                    yield chunk.loc[keep].drop(columns=["_stop_utc", "_modified_utc"])
        except RecordsSystemError:
            raise
        except Exception as exc:  # pyodbc.Error and friends: name the connection, hide secrets
            if type(exc).__module__ != "pyodbc":
                raise
            raise RecordsSystemError(
                f"{self.name}: extraction failed: {redact(' '.join(str(a) for a in exc.args))}") from None

    def _normalise(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Every field as trimmed text; times as UTC ISO text (unreadable ones kept as given)."""
        out = pd.DataFrame(index=chunk.index)
        for field in chunk.columns:
            out[field] = chunk[field].map(_as_text, na_action="ignore").astype("str")
        for field in TIME_FIELDS:
            utc = local_to_utc(chunk[field].map(_as_text, na_action="ignore"),
                               self.settings.source_timezone)
            out[f"_{'stop' if field == 'stop_time' else 'modified'}_utc"] = utc
            out[field] = utc.map(lambda t: t.isoformat(), na_action="ignore").astype("str").where(
                utc.notna(), out[field])
        return out


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    return text or None
