"""The operators' record of a run: each step's duration and outcome, and the last nights as a table.

Both the DAG and the plain runner call steps through `run_step`, so a night run either way leaves
the same record behind.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore
from pipeline.context import NightlyRun
from pipeline.resources import Resources

log = logging.getLogger(__name__)


def run_step(name: str, res: Resources, run: NightlyRun, **kwargs: Any) -> Any:
    """Call `pipeline.steps.<name>` and record how long it took and whether it failed."""
    from pipeline import steps
    started = time.monotonic()
    try:
        result = getattr(steps, name)(res, run, **kwargs)
    except Exception as exc:
        _record(res.state, run.run_id, name, "failed", time.monotonic() - started,
                f"{type(exc).__name__}: {exc}"[:2000])
        raise
    _record(res.state, run.run_id, name, "succeeded", time.monotonic() - started, None)
    return result


def _record(state: StateStore, run_id: str, step: str, status: str, seconds: float,
            error: str | None) -> None:
    """Best effort: a step's outcome must not be masked by a failure to write it down."""
    try:
        with state.transaction() as conn:
            previous = conn.execute(sa.select(db.run_steps.c.attempts).where(
                db.run_steps.c.run_id == run_id, db.run_steps.c.step == step)).scalar()
            state.upsert(conn, db.run_steps, [{
                "run_id": run_id, "step": step, "status": status, "seconds": round(seconds, 3),
                "attempts": (previous or 0) + 1, "error": error}])
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not record step %s of run %s: %s", step, run_id, type(exc).__name__)


NIGHT_COLUMNS = ("night", "run_id", "type", "status", "seconds", "slowest step", "stops", "quarantined",
                 "referred", "matched", "escalated", "warnings")


def _runs(state: StateStore, query: sa.Select) -> pd.DataFrame:
    with state.engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).fetchall(), columns=[c.name for c in db.runs.columns])


def last_nights(state: StateStore, last: int = 7) -> pd.DataFrame:
    """The newest run of each of the last `last` nights, one row each, newest first."""
    r = db.runs
    runs = _runs(state, sa.select(r).order_by(r.c.night.desc(), r.c.started_at.desc()))
    return describe_runs(state, runs.drop_duplicates("night").head(last))


def nights_of_runs(state: StateStore, run_ids: list[str]) -> pd.DataFrame:
    """The same table for the given runs, oldest night first (a backfill's digest)."""
    r = db.runs
    return describe_runs(state, _runs(state, sa.select(r).where(r.c.run_id.in_(run_ids)).order_by(r.c.night)))


def describe_runs(state: StateStore, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: type, status, time, slowest step, counts and warnings."""
    if runs.empty:
        return pd.DataFrame(columns=NIGHT_COLUMNS)
    s, ids = db.run_steps, list(runs["run_id"])
    with state.engine.connect() as conn:
        steps = pd.DataFrame(conn.execute(sa.select(s).where(s.c.run_id.in_(ids))).fetchall(),
                             columns=[c.name for c in s.columns])
        counts = pd.DataFrame(conn.execute(sa.select(db.run_counts).where(
            db.run_counts.c.run_id.in_(ids))).fetchall(), columns=[c.name for c in db.run_counts.columns])
    rows = []
    for run in runs.itertuples():
        mine = steps[steps["run_id"] == run.run_id]
        got = counts[counts["run_id"] == run.run_id]

        def count(step: str, metric: str, source: str | None = None) -> int:
            hit = got[(got["step"] == step) & (got["metric"] == metric)]
            if source is not None:
                hit = hit[hit["source"] == source]
            return int(hit["value"].sum())

        slowest = mine.sort_values("seconds").iloc[-1] if len(mine) else None
        warnings = []
        stale = got[(got["step"] == "engagement") & (got["source"] == "stale_yots")]["metric"]
        if len(stale):
            warnings.append("stale: " + ", ".join(sorted(stale)))
        rejected = count("validate", "file_rejected")
        if rejected:
            warnings.append(f"{rejected} file(s) rejected")
        failed = mine[mine["status"] == "failed"]["step"]
        if len(failed):
            warnings.append("failed: " + ", ".join(failed))
        retried = mine[mine["attempts"] > 1]["step"]
        if len(retried):
            warnings.append("retried: " + ", ".join(retried))
        rows.append({
            "night": run.night, "run_id": run.run_id, "type": run.run_type, "status": run.status,
            "seconds": round(float(mine["seconds"].sum()), 1),
            "slowest step": "" if slowest is None else f"{slowest['step']} {slowest['seconds']:.1f}s",
            "stops": count("extract", "extracted"), "quarantined": count("validate", "quarantined"),
            "referred": count("eligibility", "referred"), "matched": count("match", "matched", "all"),
            "escalated": count("escalation", "opened", "all"), "warnings": "; ".join(warnings),
        })
    return pd.DataFrame(rows, columns=NIGHT_COLUMNS)


def format_nights(table: pd.DataFrame) -> str:
    if table.empty:
        return "no runs recorded"
    return table.to_string(index=False)
