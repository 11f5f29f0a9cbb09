"""Benchmark figure: matching. `python -m bench matching` prints its line."""
from __future__ import annotations

import time

from bench.common import n_rows, peak_mb


def run() -> str:
    from demo.linkage import synthetic_population
    from transforms.matching import match_people
    n = n_rows(10_000)
    left, right, truth, _ = synthetic_population(seed=11, n_left=n, n_right=n, overlap=0.6)
    t0 = time.perf_counter()
    result = match_people(left, right)
    took = time.perf_counter() - t0
    found = {(a, b) for a, b in result[result["status"] == "matched"][["left_id", "right_id"]].itertuples(index=False)}
    tp = len(found & truth)
    precision, recall = tp / max(len(found), 1), tp / max(len(truth), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return (f"matching {n}x{n}: precision {precision:.4f} recall {recall:.4f} f1 {f1:.4f}, "
            f"{took:.1f} s, peak {peak_mb():.0f} MB")
