"""The night's summary as a person reads it: from the state database, for the demo and the CLI."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore


def load_summary(state: StateStore, *, night: date | None = None, run_id: str | None = None) -> dict:
    """The summary of a run (by id), or of the newest successful run for a night."""
    from pipeline.steps import summarise_run
    if run_id is None:
        query = sa.select(db.runs.c.run_id).where(db.runs.c.status == "succeeded")
        if night is not None:
            query = query.where(db.runs.c.night == night)
        with state.engine.connect() as conn:
            run_id = conn.execute(query.order_by(db.runs.c.finished_at.desc()).limit(1)).scalar()
        if run_id is None:
            raise LookupError(f"no successful run{f' for night {night}' if night else ''}")
    return summarise_run(state, run_id)


def format_summary(summary: dict) -> str:
    width = max(len(k) for k in summary) + 2
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {k:<{width - 2}} {v}" for k, v in value.items())
        elif isinstance(value, list):
            lines.append(f"{key:<{width}} {', '.join(map(str, value)) or 'none'}")
        else:
            lines.append(f"{key:<{width}} {value}")
    return "\n".join(lines)
