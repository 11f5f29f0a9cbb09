"""Write a new state-database revision from what `connectors/state_db.py` declares and the newest
revision lacks (alembic autogenerate, against a scratch SQLite database at the newest revision).

Usage: python scripts/new_state_revision.py "what changed"
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

from connectors.state_db import StateStore, migrations_config


def main(message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store = StateStore(f"sqlite:///{Path(scratch) / 'head.db'}")
        store.migrate()
        config = migrations_config()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            script = command.revision(config, message=message, autogenerate=True)
    print(f"wrote {script.path}: read it before committing")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
