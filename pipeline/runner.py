"""Run a whole night without Airflow: the same steps, in the DAG's order, in this process."""
from __future__ import annotations

import logging

from pipeline import NIGHTLY_STEPS, steps
from pipeline.context import NightlyRun
from pipeline.resources import Resources

log = logging.getLogger(__name__)


def run_night(res: Resources, run: NightlyRun) -> dict:
    """Every step in order; returns the night's summary (from `finish_run`)."""
    result: dict = {}
    for name in NIGHTLY_STEPS:
        log.info("step %s for night %s", name, run.night)
        result = getattr(steps, name)(res, run)
    return result
