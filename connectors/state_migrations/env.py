"""Alembic's entry for the state database. Run through `StateStore.migrate`, which passes the
connection (already in a transaction, and locked against a second migrator) in `attributes`."""
from alembic import context

from connectors.state_db import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=True)  # SQLite alters a table by copying it: batch mode does that
with context.begin_transaction():
    context.run_migrations()
