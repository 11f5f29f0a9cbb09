"""Retention of children's personal data: staged files and quarantined rows are purged once older
than the configured number of days, and every purge is logged (DPA 2018 s.62) with counts and ids.

`today` is the retention run's own date (from its schedule), never the wall clock, so a re-run of
the same day purges the same things.
"""
from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore
from pipeline.context import StagedPath, is_local, staging_root
from schemas.config import Retention

log = logging.getLogger(__name__)


# Per-night folders under the data folder that hold personal data: staged extracts and caseloads,
# and the referral CSVs made for each YOT's inbox.
NIGHTLY_FOLDERS = ("staging", "outbound")


def expired_staging(data_dir: Path, before: date, staging_url: str | None = None) -> list[StagedPath]:
    """Per-night folders (named YYYY-MM-DD) for nights before `before`: under the data folder, and
    in the staging area on shared or object storage when one is configured."""
    roots = [data_dir / name for name in NIGHTLY_FOLDERS]
    staging = staging_root(data_dir, staging_url)
    if not is_local(staging) or staging not in roots:
        roots.append(staging)
    out = []
    for folder in sorted((f for root in roots if root.is_dir() for f in root.iterdir()), key=str):
        try:
            night = date.fromisoformat(folder.name)
        except ValueError:
            continue  # not ours: left alone
        if folder.is_dir() and night < before:
            out.append(folder)
    return out


def purge_expired(state: StateStore, data_dir: Path, retention: Retention, today: date,
                  actor: str = "diversion-sync (retention)", staging_url: str | None = None) -> dict:
    state.migrate()
    staging_before = today - timedelta(days=retention.staging_days)
    quarantine_before = today - timedelta(days=retention.quarantine_days)
    folders = expired_staging(data_dir, staging_before, staging_url)
    q, r = db.quarantine, db.runs
    old_runs = sa.select(r.c.run_id).where(r.c.night < quarantine_before)
    with state.transaction() as conn:
        keys = conn.execute(sa.select(q.c.source, q.c.source_key).where(q.c.first_run_id.in_(old_runs))
                            .order_by(q.c.source, q.c.source_key)).all()
        conn.execute(q.delete().where(q.c.first_run_id.in_(old_runs)))
        if keys or folders:
            ids = ", ".join(f"{source}:{key}" for source, key in keys[:200])
            more = f" and {len(keys) - 200} more" if len(keys) > 200 else ""
            state.log_processing(
                conn, operation="erasure", actor=actor, run_id=f"retention__{today}",
                subject=(f"{len(keys)} quarantined rows first set aside before {quarantine_before}"
                         f"{': ' + ids + more if keys else ''}; {len(folders)} staging/outbound folders for nights "
                         f"before {staging_before}: {', '.join(f.parent.name + '/' + f.name for f in folders) or 'none'}"),
                purpose=f"retention: staging {retention.staging_days} days, quarantine "
                        f"{retention.quarantine_days} days")
        for folder in folders:  # inside the transaction: a failed delete logs nothing
            if isinstance(folder, Path):
                shutil.rmtree(folder)
            else:
                folder.rmdir(recursive=True)
    log.info("retention %s: purged %d quarantined rows and %d staging folders", today, len(keys), len(folders))
    return {"quarantined_rows": len(keys), "staging_folders": [f"{f.parent.name}/{f.name}" for f in folders]}
