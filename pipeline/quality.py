"""Reads what the data-quality page needs from the state database and writes the page beside the
night's exception reports (reports/<night>/data-quality.html)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore
from pipeline.context import NightlyRun
from schemas.caseload import caseload_schema
from schemas.config import SchemeConfig
from schemas.stop import stop_schema
from transforms.data_quality import TREND_RUNS, QualityPage, build_quality_page, reconciliation
from transforms.validation import contract_checks

PAGE_NAME = "data-quality.html"


def _frame(state: StateStore, query: sa.Select) -> pd.DataFrame:
    with state.engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def validation_counts(state: StateStore, run_ids: list[str]) -> pd.DataFrame:
    c = db.run_counts
    return _frame(state, sa.select(c.c.run_id, c.c.source, c.c.metric, c.c.value).where(
        c.c.run_id.in_(run_ids) & (c.c.step == "validate")))


def quality_page(state: StateStore, config: SchemeConfig, run_id: str, night: date) -> QualityPage:
    r = db.runs
    runs = _frame(state, sa.select(r.c.run_id, r.c.night, r.c.run_type).where(
        (r.c.night <= night) & ((r.c.status == "succeeded") | (r.c.run_id == run_id)))
        .order_by(r.c.night.desc(), r.c.run_id.desc()).limit(TREND_RUNS))
    ids = list(runs["run_id"])
    history = validation_counts(state, ids)
    k = db.check_results
    history_failures = _frame(state, sa.select(k.c.run_id, k.c.source, k.c.field, k.c.check, k.c.rows)
                              .where(k.c.run_id.in_(ids)))
    checks_run = {"stops": contract_checks(stop_schema(config)),
                  "caseload": contract_checks(caseload_schema(night))}
    return build_quality_page(
        night=night, run_id=run_id, checks_run=checks_run,
        counts=history[history["run_id"] == run_id], runs=runs, history=history,
        failures=history_failures[history_failures["run_id"] == run_id],
        history_failures=history_failures)


def write_quality_page(state: StateStore, config: SchemeConfig, run: NightlyRun) -> tuple[Path, QualityPage]:
    page = quality_page(state, config, run.run_id, run.night)
    run.reports_dir.mkdir(parents=True, exist_ok=True)
    path = run.reports_dir / PAGE_NAME
    path.write_text(page.html(), encoding="utf-8")
    return path, page


def reconciliation_lines(state: StateStore, run_id: str) -> dict[str, str]:
    """For the supervisors' report: what was checked tonight and what was set aside, by kind."""
    table = reconciliation(validation_counts(state, [run_id]).drop(columns="run_id"))
    lines = {}
    for kind, label in (("records_system", "stop records checked"), ("caseload:", "YOT caseload rows checked")):
        mine = table[table["source"].str.removeprefix("released:").str.startswith(kind)]
        if len(mine):
            lines[label] = (f"{int(mine['read'].sum())} ({int(mine['valid'].sum())} passed, "
                            f"{int(mine['quarantined'].sum())} set aside for the data team)")
    return lines
