"""Did last night's run succeed in time? Read from the state database, so the answer does not
depend on which scheduler or executor ran it."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore


def night_status(state: StateStore, night: date) -> dict:
    """The night's newest run, whether any run of it succeeded, and which steps failed."""
    r, s = db.runs, db.run_steps
    state.migrate()
    with state.engine.connect() as conn:
        runs = conn.execute(sa.select(r.c.run_id, r.c.status).where(r.c.night == night)
                            .order_by(r.c.started_at.desc(), r.c.run_id.desc())).all()
        latest = runs[0] if runs else None
        failed = [] if latest is None else [row.step for row in conn.execute(
            sa.select(s.c.step).where(s.c.run_id == latest.run_id, s.c.status == "failed").order_by(s.c.step))]
    return {"night": night, "succeeded": any(row.status == "succeeded" for row in runs),
            "runs": len(runs), "latest_run": latest.run_id if latest else None,
            "latest_status": latest.status if latest else None, "failed_steps": failed}
