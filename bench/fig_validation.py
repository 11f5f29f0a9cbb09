"""Benchmark figure: validation. `python -m bench validation` prints its line."""
from __future__ import annotations

import time

import pandas as pd

from bench.common import n_rows, peak_mb, stop_rows


def run() -> str:
    import pandera.pandas as pa

    from schemas.config import load_config
    from schemas.stop import stop_schema
    from transforms.stops import type_stop_records, validate_stops
    n = n_rows(200_000)
    config = load_config()
    raw = pd.DataFrame(stop_rows(n, bad_share=0.05)).rename(
        columns={v: k for k, v in config.records_system.columns.items()})
    raw["stop_time"] = pd.to_datetime(raw["stop_time"]).dt.tz_localize("UTC").map(lambda t: t.isoformat())
    raw["last_modified"] = pd.to_datetime(raw["last_modified"]).dt.tz_localize("UTC").map(lambda t: t.isoformat())
    raw = raw.astype("str")
    t0 = time.perf_counter()
    batch = validate_stops(raw, config)
    took = time.perf_counter() - t0
    typed, _ = type_stop_records(raw, config)
    t0 = time.perf_counter()
    try:
        stop_schema(config).validate(typed, lazy=True)
    except pa.errors.SchemaErrors:
        pass
    bare = time.perf_counter() - t0
    return (f"validation {n} stops ({len(batch.quarantined) / n:.1%} bad): {n / took:,.0f} rows/s, "
            f"{took:.2f} s, peak {peak_mb():.0f} MB; pandera bare validate {bare:.2f} s, "
            f"ratio {took / bare:.2f}")
