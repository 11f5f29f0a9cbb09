"""The state database's schema comes from its migrations, on SQLite and PostgreSQL: an empty
database gets exactly the tables the code declares, a database made before migrations is taken
over when it matches, anything else is refused before a change, and two migrators do not collide."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from connectors import state_db as db
from connectors.state_db import StateSchemaError, StateStore


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    pg = request.getfixturevalue("postgres_database")
    return f"postgresql+psycopg://{pg['user']}@{pg['host']}:{pg['port']}/{pg['dbname']}"


def _differences(store: StateStore) -> list:
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True, "version_table": db.VERSION_TABLE}), db.metadata)


def _tables(store: StateStore) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names())


def test_migrations_make_exactly_the_declared_schema(state_url):
    """Fails when a table, column, type or index is declared in connectors/state_db.py without a
    migration that makes it (alembic revision --autogenerate writes one: docs/runbook.md)."""
    store = StateStore(state_url)
    head = store.migrate()
    assert _differences(store) == []
    assert _tables(store) == set(db.metadata.tables) | {db.VERSION_TABLE}
    assert store.migrate() == head  # the second time finds nothing to do


def test_a_database_from_before_migrations_is_taken_over_with_its_rows(state_url):
    store = StateStore(state_url)
    db.metadata.create_all(store.engine)  # as every release before migrations made it
    with store.transaction() as conn:
        conn.execute(db.acknowledgements.insert().values(
            referral_ref="dr-old", reason="moved away", acknowledged_by="supervisor 1",
            acknowledged_on=sa.func.current_date(), source="acknowledgements.csv"))
    head = store.migrate()
    assert head
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(db.acknowledgements.c.referral_ref)).scalars().all() == ["dr-old"]
        assert conn.execute(sa.text(f"SELECT version_num FROM {db.VERSION_TABLE}")).scalars().all() == [head]


def test_a_database_unlike_the_first_revision_is_refused_unchanged(state_url):
    store = StateStore(state_url)
    db.metadata.create_all(store.engine)
    with store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE runs DROP COLUMN run_type"))
        conn.execute(sa.text("CREATE TABLE airflow_owned (id integer)"))  # someone else's: not ours to judge
    before = _tables(store)
    with pytest.raises(StateSchemaError) as refused:
        store.migrate()
    message = str(refused.value)
    assert "missing column runs.run_type" in message and "airflow_owned" not in message
    assert "nothing was changed" in message and "password" not in message
    assert _tables(store) == before and db.VERSION_TABLE not in before


def test_two_migrators_at_once_make_the_schema_once(state_url):
    stores = [StateStore(state_url) for _ in range(3)]
    results, errors = [], []
    start = threading.Barrier(len(stores))

    def migrate(store: StateStore) -> None:
        start.wait()
        try:
            results.append(store.migrate())
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(set(results)) == 1 and len(results) == len(stores)
    assert _differences(stores[0]) == []


def test_the_cli_upgrades_or_says_why_not(tmp_path, capsys):
    from pipeline.cli import main
    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert main(["upgrade-state", "--state-url", url]) == 0
    head = ScriptDirectory.from_config(db.migrations_config()).get_current_head()
    assert capsys.readouterr().out.strip() == f"state database at schema revision {head}"
    other = StateStore(f"sqlite:///{tmp_path / 'old.db'}")
    db.metadata.create_all(other.engine)
    with other.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE match_reviews"))
    assert main(["upgrade-state", "--state-url", str(other.engine.url)]) == 2
    assert "missing table match_reviews" in capsys.readouterr().err


def test_the_cli_finds_the_state_database_through_the_airflow_connection(postgres_database, monkeypatch, capsys):
    """As docker-compose's airflow-init runs it: the password comes from the connection only."""
    import json

    from pipeline.cli import main
    from schemas.config import load_config
    conn_id = load_config().connections.state_database
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({
        "conn_type": "postgres", "host": postgres_database["host"], "port": postgres_database["port"],
        "login": postgres_database["user"], "schema": postgres_database["dbname"]}))
    assert main(["upgrade-state", "--from-airflow"]) == 0
    assert "state database at schema revision" in capsys.readouterr().out
    url = f"postgresql+psycopg://{postgres_database['user']}@{postgres_database['host']}:{postgres_database['port']}/{postgres_database['dbname']}"
    assert _differences(StateStore(url)) == []
