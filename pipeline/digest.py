"""Backfill policy: a backfilled night's reports are written to disk but not mailed to supervisors
(they are past nights, not news); once the backfill has run its last night, the data engineers get
one digest of every night it ran. Escalations a backfill opens stay open and reach the supervisors
once, in the next scheduled night's report. Nightly runs send any digest a backfill left owing.
"""
from __future__ import annotations

import hashlib
import logging
from email.message import EmailMessage

import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db
from pipeline.context import NightlyRun
from pipeline.operations import nights_of_runs
from pipeline.resources import Resources

log = logging.getLogger(__name__)


def run_type_of(res: Resources, run_id: str) -> str:
    with res.state.engine.connect() as conn:
        return conn.execute(sa.select(db.runs.c.run_type).where(db.runs.c.run_id == run_id)).scalar() or "scheduled"


def _owed(res: Resources) -> pd.DataFrame:
    """Backfill runs that finished and no digest has reported yet, oldest night first."""
    r = db.runs
    with res.state.engine.connect() as conn:
        result = conn.execute(sa.select(r.c.run_id, r.c.night).where(
            r.c.run_type == "backfill", r.c.status == "succeeded", r.c.digest_id.is_(None))
            .order_by(r.c.night, r.c.run_id))
        return pd.DataFrame(result.fetchall(), columns=["run_id", "night"])


def _open_escalations(res: Resources) -> int:
    with res.state.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.escalations).where(
            db.escalations.c.state == "open")).scalar()


def send_backfill_digest(res: Resources, run: NightlyRun, more_runs_pending: bool = False) -> dict:
    """Send the engineers one digest of the finished backfill runs; none while more are to come."""
    is_backfill = run_type_of(res, run.run_id) == "backfill"
    if is_backfill and more_runs_pending:
        return {"sent": False, "why": "more backfill runs to come"}
    owed = _owed(res)
    if owed.empty:
        return {"sent": False, "why": "no backfill runs owed a digest"}
    digest_id = hashlib.sha256("\n".join(owed["run_id"]).encode()).hexdigest()[:16]
    table = nights_of_runs(res.state, list(owed["run_id"]))
    first, last = owed["night"].min(), owed["night"].max()
    held = _open_escalations(res)
    body = (
        f"A backfill ran {len(owed)} night(s), {first} to {last}.\n\n"
        f"{table.drop(columns=['run_id']).to_string(index=False)}\n\n"
        f"Policy: reports for backfilled nights are written to disk under reports/<night>/ and are not\n"
        f"mailed to supervisors. {held} escalation(s) are open and not yet sent; they go to the\n"
        f"supervisors once, in the next scheduled night's report.\n"
        f"Runs: {', '.join(owed['run_id'])}\n(No personal data in this message.)\n")
    message = EmailMessage()
    message["Subject"] = f"diversion-sync: backfill digest, {len(owed)} nights {first} to {last}"
    message["From"] = res.config.report.sender
    message["To"] = ", ".join(res.config.report.engineers)
    message["Message-ID"] = f"<backfill-digest.{digest_id}@diversion-sync.invalid>"
    message["X-Diversion-Report"] = f"backfill-digest/{first}/{last}"
    message.set_content(body)
    run.reports_dir.mkdir(parents=True, exist_ok=True)
    path = run.reports_dir / f"backfill_digest_{digest_id}.txt"
    path.write_text(body, encoding="utf-8")
    key = f"backfill-digest:{digest_id}"
    with res.state.transaction() as conn:
        done = conn.execute(sa.select(sa.func.count()).select_from(db.report_dispatches).where(
            db.report_dispatches.c.group_id == key)).scalar()
        conn.execute(db.runs.update().where(db.runs.c.run_id.in_(list(owed["run_id"]))).values(
            digest_id=digest_id))
        if done:
            return {"sent": False, "why": "already sent", "digest_id": digest_id}
        res.state.upsert(conn, db.report_dispatches, [{
            "night": run.night, "group_id": key, "message_id": message["Message-ID"], "rows": len(owed),
            "report_path": str(path), "run_id": run.run_id}], update=[])
        res.mailer.send(message)
    log.info("backfill digest %s sent for %d nights", digest_id, len(owed))
    return {"sent": True, "nights": len(owed), "digest_id": digest_id}
