"""Benchmark figure: nightly. `python -m bench nightly` prints its line."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import peak_mb


def run() -> str:
    from demo.stack import DemoStack
    from pipeline.context import NightlyRun
    from pipeline.runner import run_night
    with DemoStack(Path(tempfile.mkdtemp(prefix="bench-demo-"))) as stack:
        run = NightlyRun.plan("bench", stack.night, stack.config.scheme.timezone, root=stack.data_dir)
        t0 = time.perf_counter()
        summary = run_night(stack.resources(), run)
        took = time.perf_counter() - t0
    return (f"nightly run on the demo world ({summary['stops extracted']} stops, {summary['referred']} "
            f"referrals, 9 YOTs) without Airflow: {took:.2f} s, peak {peak_mb():.0f} MB")
