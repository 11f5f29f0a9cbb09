"""Questions several steps and reports ask of the state database, answered in one place."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore
from schemas.config import SchemeConfig


def _frame(state: StateStore, query: sa.Select) -> pd.DataFrame:
    with state.engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def newest_snapshots(state: StateStore, night: date) -> dict[str, date]:
    """Each YOT's newest caseload snapshot date up to the night."""
    s = db.caseload_snapshots
    snaps = _frame(state, sa.select(s.c.yot_id, sa.func.max(s.c.snapshot_date).label("latest"))
                   .where(s.c.snapshot_date <= night).group_by(s.c.yot_id))
    return dict(zip(snaps["yot_id"], pd.to_datetime(snaps["latest"]).dt.date)) if len(snaps) else {}


def stale_yots(state: StateStore, config: SchemeConfig, night: date) -> dict[str, date | None]:
    """YOTs whose newest export is too old or absent, with its date (None when never received)."""
    latest = newest_snapshots(state, night)
    limit = night - timedelta(days=config.caseload.stale_after_days)
    return {y: latest.get(y) for y in config.yots if latest.get(y) is None or latest[y] < limit}


def file_warnings(state: StateStore, run_id: str) -> list[str]:
    """What the YOT exchange noticed in the run (a changed re-send, a server down, a refused name,
    a file set aside): YOT ids, file names and events, no personal data."""
    events = _frame(state, sa.select(db.file_events).where(db.file_events.c.run_id == run_id)
                    .order_by(db.file_events.c.yot_id, db.file_events.c.event))
    return [f"{e.yot_id}: {e.file_name}: {e.event}: {e.detail}" for e in events.itertuples()]
