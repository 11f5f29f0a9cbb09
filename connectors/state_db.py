"""The pipeline's own state database: referrals, caseloads, matches, engagement, escalations,
quarantine, processed files, disclosures and a summary of every run.

SQLAlchemy Core, so the same code runs on a SQLite file (default) and PostgreSQL (by URL). Every
write is an UPSERT on a natural key, so re-running a night leaves the same rows and no duplicates.
The tables below are what the code expects; the database gets them from the migrations in
`state_migrations/` (`StateStore.migrate`), and a test fails while the two disagree.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    import pandas as pd
    from alembic.config import Config

metadata = sa.MetaData()
# Alembic's own table, named for us: the state database may share a database with Airflow's, and
# Airflow keeps its migrations in `alembic_version`.
VERSION_TABLE = "diversion_sync_schema_version"
_MIGRATIONS = Path(__file__).with_name("state_migrations")
_BASELINE = "0001"
_MIGRATION_LOCK = 0x64697673  # PostgreSQL advisory lock key: one migrator at a time


class StateSchemaError(RuntimeError):
    """The state database's schema is not one the migrations know: nothing was changed."""


def _person_columns() -> list[sa.Column]:
    """The identifying fields a police stop and a YOT case both carry (personal data)."""
    return [sa.Column("pnc_id", sa.String(20)), sa.Column("forename", sa.String(100)),
            sa.Column("surname", sa.String(100)), sa.Column("date_of_birth", sa.Date),
            sa.Column("gender", sa.String(10)), sa.Column("postcode", sa.String(10))]


runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("night", sa.Date, nullable=False, index=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    # scheduled, manual or backfill: a backfill's reports are held and summed up in one digest
    sa.Column("run_type", sa.String(20), nullable=False, server_default="scheduled"),
    sa.Column("digest_id", sa.String(64)),  # the backfill digest that reported this run
)

# How long each step of a run took and how it ended (the operators' view of a night).
run_steps = sa.Table(
    "run_steps", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("step", sa.String(50), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),  # succeeded, failed
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("error", sa.Text),  # the exception's type and message: ids only, never personal data
)

run_counts = sa.Table(
    "run_counts", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("step", sa.String(50), primary_key=True),
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("metric", sa.String(50), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)

watermarks = sa.Table(
    "watermarks", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(250)),
)

stops = sa.Table(
    "stops", metadata,
    sa.Column("stop_ref", sa.String(64), primary_key=True),
    sa.Column("stop_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("area", sa.String(100), nullable=False),
    sa.Column("person_id", sa.String(64), index=True),
    *_person_columns(),
    sa.Column("object_of_search", sa.String(100)),
    sa.Column("drug_name", sa.String(50)),
    sa.Column("drug_class", sa.String(1)),
    sa.Column("quantity", sa.Numeric(12, 3)),
    sa.Column("quantity_unit", sa.String(20)),
    sa.Column("offence", sa.String(30)),
    sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)

eligibility_decisions = sa.Table(
    "eligibility_decisions", metadata,
    sa.Column("stop_ref", sa.String(64), primary_key=True),
    sa.Column("eligible", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(50), nullable=False),
    sa.Column("rule_version", sa.String(30), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)

referrals = sa.Table(
    "referrals", metadata,
    sa.Column("referral_ref", sa.String(80), primary_key=True),
    sa.Column("stop_ref", sa.String(64), nullable=False, unique=True),
    sa.Column("person_id", sa.String(64), index=True),
    sa.Column("yot_id", sa.String(50), nullable=False),
    sa.Column("area", sa.String(100), nullable=False),
    sa.Column("referral_date", sa.Date, nullable=False),
    sa.Column("previous_referral_ref", sa.String(80)),
    sa.Column("run_id", sa.String(250), nullable=False),
)

caseload_rows = sa.Table(
    "caseload_rows", metadata,
    sa.Column("yot_id", sa.String(50), primary_key=True),
    sa.Column("snapshot_date", sa.Date, primary_key=True),
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("referral_ref", sa.String(80)),
    *_person_columns(),
    sa.Column("referral_received", sa.Date),
    sa.Column("first_contact", sa.Date),
    sa.Column("assessment_date", sa.Date),
    sa.Column("sessions_offered", sa.Integer),
    sa.Column("sessions_attended", sa.Integer),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_date", sa.Date),
    sa.Column("source_file", sa.String(255), nullable=False),
    sa.Column("source_line", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)

caseload_snapshots = sa.Table(
    "caseload_snapshots", metadata,
    sa.Column("yot_id", sa.String(50), primary_key=True),
    sa.Column("snapshot_date", sa.Date, primary_key=True),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)

processed_files = sa.Table(
    "processed_files", metadata,
    sa.Column("yot_id", sa.String(50), primary_key=True),
    sa.Column("file_name", sa.String(255), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)

# What the SFTP exchange noticed about a YOT's files in a run: re-sent with other content, still
# being written, refused names, unreachable server. Ids and file names only.
file_events = sa.Table(
    "file_events", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("yot_id", sa.String(50), primary_key=True),
    sa.Column("file_name", sa.String(255), primary_key=True),
    sa.Column("event", sa.String(30), primary_key=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("logged_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

# The referrals CSV sent to each YOT each night: one file per YOT and night, never a second one.
referral_uploads = sa.Table(
    "referral_uploads", metadata,
    sa.Column("yot_id", sa.String(50), primary_key=True),
    sa.Column("night", sa.Date, primary_key=True),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending (planned), uploaded
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("uploaded_at", sa.DateTime(timezone=True)),
)

# Which upload carried each referral to its YOT: a referral is sent once.
referral_exports = sa.Table(
    "referral_exports", metadata,
    sa.Column("referral_ref", sa.String(80), primary_key=True),
    sa.Column("yot_id", sa.String(50), nullable=False),
    sa.Column("night", sa.Date, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)

matches = sa.Table(
    "matches", metadata,
    sa.Column("referral_ref", sa.String(80), primary_key=True),
    sa.Column("yot_id", sa.String(50), primary_key=True),
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)

engagement = sa.Table(
    "engagement", metadata,
    sa.Column("referral_ref", sa.String(80), primary_key=True),
    sa.Column("state", sa.String(30), nullable=False),
    sa.Column("non_engagement_reason", sa.String(30)),
    sa.Column("deadline", sa.Date),
    sa.Column("yot_case_id", sa.String(64)),
    sa.Column("yot_status", sa.String(20)),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("crime_outcome", sa.Integer),
    sa.Column("run_id", sa.String(250), nullable=False),
)

escalations = sa.Table(
    "escalations", metadata,
    sa.Column("referral_ref", sa.String(80), primary_key=True),
    sa.Column("reason", sa.String(30), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),  # open, notified, acknowledged, resolved
    sa.Column("opened_night", sa.Date, nullable=False),
    sa.Column("notified_night", sa.Date),
    sa.Column("resolved_night", sa.Date),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("deadline", sa.Date),
    sa.Column("run_id", sa.String(250), nullable=False),
)

escalation_history = sa.Table(
    "escalation_history", metadata,
    sa.Column("referral_ref", sa.String(80), primary_key=True),
    sa.Column("reason", sa.String(30), primary_key=True),
    sa.Column("night", sa.Date, primary_key=True),
    sa.Column("to_state", sa.String(20), primary_key=True),
    sa.Column("from_state", sa.String(20)),
    sa.Column("run_id", sa.String(250), nullable=False),
)

acknowledgements = sa.Table(  # supervisors' acknowledgements: imported from CSV files or written here
    "acknowledgements", metadata,
    sa.Column("referral_ref", sa.String(80), primary_key=True),
    sa.Column("reason", sa.String(30), primary_key=True),
    sa.Column("acknowledged_by", sa.String(100), nullable=False),
    sa.Column("acknowledged_on", sa.Date, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("source", sa.String(300), nullable=False),
)

# Analysts' decisions on possible matches: imported from <data_dir>/match_reviews/*.csv (or written
# here) and honoured by every later match_referrals. The newest decision per pair stands.
match_reviews = sa.Table(
    "match_reviews", metadata,
    sa.Column("referral_ref", sa.String(80), primary_key=True),
    sa.Column("yot_id", sa.String(50), primary_key=True),
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("decision", sa.String(10), nullable=False),  # confirm, reject
    sa.Column("decided_by", sa.String(100), nullable=False),
    sa.Column("decided_on", sa.Date, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("source", sa.String(300), nullable=False),    # file:line it came from
)

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("source", sa.String(100), primary_key=True),      # e.g. records_system, caseload:reading
    sa.Column("source_key", sa.String(300), primary_key=True),  # stop ref, or file:line
    sa.Column("status", sa.String(20), nullable=False),          # held, released, processed, discarded
    sa.Column("reasons", sa.Text, nullable=False),               # JSON list of {field, check, value}
    sa.Column("record", sa.Text, nullable=False),                # JSON of the original values
    sa.Column("first_run_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)

# How many rows failed each check, per run and source: the data-quality page and its trend.
check_results = sa.Table(
    "check_results", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("field", sa.String(100), primary_key=True),      # "" for a check on the whole row or file
    sa.Column("check", sa.String(300), primary_key=True),
    sa.Column("rows", sa.Integer, nullable=False),
)

# Who released or discarded a quarantined row, when and why (append-only: the audit trail).
quarantine_decisions = sa.Table(
    "quarantine_decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("source_key", sa.String(300), nullable=False),
    sa.Column("decision", sa.String(20), nullable=False),        # released, discarded
    sa.Column("decided_by", sa.String(100), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("corrected_fields", sa.Text),                      # JSON list of field names, never values
)

report_dispatches = sa.Table(
    "report_dispatches", metadata,
    sa.Column("night", sa.Date, primary_key=True),
    sa.Column("group_id", sa.String(50), primary_key=True),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("report_path", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

# Data Protection Act 2018 s.62 log: who consulted or was shown what, when, and why.
processing_log = sa.Table(
    "processing_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("logged_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("operation", sa.String(20), nullable=False),  # collection, consultation, disclosure, ...
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("recipients", sa.Text),
    sa.Column("subject", sa.Text, nullable=False),           # ids only, never names
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
)


class StateStore:
    """Access to the state database; each `transaction()` block commits whole or not at all."""

    def __init__(self, url: str | sa.URL, engine: Engine | None = None) -> None:
        self.engine = engine or sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    def migrate(self) -> str:
        """Bring the schema to the newest revision (an empty database gets every table); returns it.

        The night's first step, the watchdog, retention and the CLI start here, so a new release's
        schema changes are applied by whichever runs first, once: later calls find the newest
        revision and change nothing.
        A database made before migrations began is stamped as the baseline when it matches it.
        """
        from alembic import command
        from alembic.script import ScriptDirectory

        config = migrations_config()
        head = ScriptDirectory.from_config(config).get_current_head()
        with self.engine.begin() as conn:
            if _revision(conn) == head:
                return head
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            elif conn.dialect.name == "sqlite":  # the write lock now, and the DDL inside the transaction
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            config.attributes["connection"] = conn
            if _revision(conn) is None and _has_tables(conn):
                _check_matches_baseline(conn)
                command.stamp(config, _BASELINE)
            command.upgrade(config, "head")
            return _revision(conn)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def upsert(self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]],
               update: Iterable[str] | None = None) -> int:
        """Insert rows, or update the given columns (default: all non-key) where the key exists."""
        if not rows:
            return 0
        keys = [c.name for c in table.primary_key.columns]
        cols = list(update) if update is not None else [c for c in rows[0] if c not in keys]
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)
        if cols:
            stmt = insert.on_conflict_do_update(
                index_elements=keys, set_={c: insert.excluded[c] for c in cols})
        else:
            stmt = insert.on_conflict_do_nothing(index_elements=keys)
        for start in range(0, len(rows), 1000):
            conn.execute(stmt, list(rows[start:start + 1000]))
        return len(rows)

    def record_counts(self, conn: Connection, run_id: str, step: str,
                      counts: Mapping[str, Mapping[str, int]]) -> None:
        """Store {source: {metric: value}} for a step of a run (replacing a retry's figures)."""
        rows = [{"run_id": run_id, "step": step, "source": source, "metric": metric, "value": int(v)}
                for source, metrics in counts.items() for metric, v in metrics.items()]
        self.upsert(conn, run_counts, rows, update=["value"])

    def record_check_failures(self, conn: Connection, run_id: str, source: str,
                              failures: pd.DataFrame) -> None:
        """Rows failing each check (a `failures` frame: row, field, check), replacing a retry's."""
        conn.execute(check_results.delete().where((check_results.c.run_id == run_id)
                                                  & (check_results.c.source == source)))
        if failures.empty:
            return
        from transforms.check_counts import rows_per_check  # pandas: not loaded where DAGs are parsed
        per_check = rows_per_check(failures)
        conn.execute(check_results.insert(), [
            {"run_id": run_id, "source": source, "field": field, "check": check[:300], "rows": int(n)}
            for (field, check), n in per_check.items()])

    def log_processing(self, conn: Connection, *, operation: str, actor: str, subject: str,
                       purpose: str, run_id: str, recipients: Sequence[str] | None = None) -> None:
        conn.execute(processing_log.insert().values(
            operation=operation, actor=actor, subject=subject, purpose=purpose, run_id=run_id,
            recipients=json.dumps(list(recipients)) if recipients else None))


def migrations_config() -> "Config":
    """Alembic's configuration for the state database's migrations (no alembic.ini needed)."""
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def _revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _has_tables(conn: Connection) -> bool:
    return bool(set(sa.inspect(conn).get_table_names()) & set(metadata.tables))


def _check_matches_baseline(conn: Connection) -> None:
    """A database from before migrations must be the baseline's schema exactly (it is the schema
    `create_all` made then); anything else is refused, naming the differences, before any change."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    baseline = _baseline_metadata()
    ours = set(baseline.tables)

    def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
        if type_ == "schema":
            return True
        return (name if type_ == "table" else parent_names.get("table_name")) in ours  # not Airflow's

    # tables, columns, nullability and indexes; not types, which each dialect reflects its own way
    differences = compare_metadata(MigrationContext.configure(conn, opts={
        "compare_type": False, "include_name": include_name}), baseline)
    if differences:
        shown = "; ".join(_describe(d) for d in differences[:10])
        more = f" and {len(differences) - 10} more" if len(differences) > 10 else ""
        raise StateSchemaError(
            f"the state database {conn.engine.url.render_as_string(hide_password=True)} has tables "
            f"but no schema revision, and they differ from the first revision ({_BASELINE}): {shown}{more}. "
            "It was made by an older diversion-sync; nothing was changed. Bring it to that schema "
            "(or restore it into a fresh database) and run again.")


def _baseline_metadata() -> sa.MetaData:
    """The baseline revision's tables, by running it against an empty in-memory database."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    baseline = ScriptDirectory.from_config(migrations_config()).get_revision(_BASELINE).module
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            baseline.upgrade()
        found = sa.MetaData()
        found.reflect(conn)
    return found


_DIFFERENCES = {"add_table": "missing table", "remove_table": "unexpected table",
                "add_column": "missing column", "remove_column": "unexpected column",
                "add_index": "missing index", "remove_index": "unexpected index",
                "modify_nullable": "nullability differs for"}


def _describe(difference: Any) -> str:
    """One of alembic's compare_metadata differences in words ('add' is what the database lacks)."""
    if isinstance(difference, list):  # a column's modifications come together
        return ", ".join(_describe(d) for d in difference)
    kind = difference[0]
    if kind in ("add_column", "remove_column"):
        what = f"{difference[2]}.{difference[3].name}"
    elif kind.startswith("modify_"):
        what = f"{difference[2]}.{difference[3]}"
    else:
        what = getattr(difference[1], "name", "")
    return f"{_DIFFERENCES.get(kind, kind.replace('_', ' '))} {what}".strip()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
