"""Run nights without Airflow: the same steps, in the DAG's order, in this process."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from pipeline import NIGHTLY_STEPS
from pipeline.context import NightlyRun
from pipeline.operations import run_step
from pipeline.resources import Resources

log = logging.getLogger(__name__)


def run_night(res: Resources, run: NightlyRun, *, run_type: str = "scheduled",
              more_runs_pending: bool = False) -> dict:
    """Every step in order; returns the night's summary (from `finish_run`)."""
    summary: dict = {}
    for name in NIGHTLY_STEPS:
        log.info("step %s for night %s", name, run.night)
        kwargs = {"start_run": {"run_type": run_type},
                  "send_backfill_digest": {"more_runs_pending": more_runs_pending}}.get(name, {})
        result = run_step(name, res, run, **kwargs)
        if name == "finish_run":
            summary = result
    return summary


def run_backfill(res: Resources, runs: Sequence[NightlyRun]) -> list[dict]:
    """Nights in order as one backfill: reports held, one digest to the engineers at the end."""
    return [run_night(res, run, run_type="backfill", more_runs_pending=i < len(runs) - 1)
            for i, run in enumerate(runs)]
