"""Benchmark figure: validation. `python -m bench validation` prints its line.

1,000,000 raw stop records (BENCH_SCALE scales it), 5% with one bad value, go through the
pipeline's validation-and-quarantine step as the nightly run does it, all but the database write:
typing the raw strings, the stop contract (pandera, lazily, on the readable rows), the split into
valid and quarantined rows (transforms/stops.py `validate_stops`) and the quarantine table's rows
(transforms/quarantine_records.py `quarantine_rows`). In the same run: pandera's bare
`validate(lazy=True)` of the same typed frame, and reading the same raw rows from Parquet. The rows are made and written to
Parquet by a child process, so this process's peak memory is the rows read plus the step. Every
time is the median of three runs. Quarantine cost is also measured for a tenth of the bad rows,
once within the whole batch and once within a batch a tenth the size: the two should cost the
same per bad row (the quarantine follows the bad rows, not the batch).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import n_rows, peak_mb, stop_rows

TARGET_S_PER_MILLION = 2.0  # the whole step, per million rows
TARGET_RATIO = 1.5          # the whole step against pandera's bare validation of the same frame


def write_rows(path: str, n: int) -> None:
    """The raw stops as the connector stages them: text, times as UTC ISO 8601 (child process)."""
    from schemas.config import load_config
    config = load_config()
    raw = pd.DataFrame(stop_rows(n, bad_share=0.05)).rename(
        columns={v: k for k, v in config.records_system.columns.items()})
    for field in ("stop_time", "last_modified"):  # whole seconds: the same text as isoformat()
        raw[field] = pd.to_datetime(raw[field]).dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    raw.astype("str").to_parquet(path)


def _median(fn, repeats: int = 3):
    times, out = [], None
    for _ in range(repeats):
        out = None  # let the previous result go before the next run
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        import os
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run() -> str:
    from pipeline.steps import RECORDS_SOURCE
    from transforms.quarantine_records import quarantine_rows
    from schemas.config import load_config
    from schemas.stop import stop_schema
    from transforms.stops import type_stop_records, validate_stops
    from transforms.validation import contract_failures, keep_rows, split_batch
    n = n_rows(1_000_000)
    config = load_config()
    schema = stop_schema(config)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "stops.parquet")
        subprocess.run([sys.executable, "-c", "import sys; from bench.fig_validation import write_rows; "
                        "write_rows(sys.argv[1], int(sys.argv[2]))", path, str(n)], check=True)
        parquet_s, raw = _median(lambda: pd.read_parquet(path))
    rows_mb = _rss_mb()

    def step(rows: pd.DataFrame):  # what the nightly run does with the rows, but the database write
        batch = validate_stops(rows, config)
        return batch, quarantine_rows(batch, RECORDS_SOURCE, rows["stop_ref"], "bench")

    step(raw.head(2000))  # once per process (imports, compiled patterns): not per row
    step_s, (batch, held) = _median(lambda: step(raw))
    n_bad = len(batch.quarantined)
    del batch, held
    # the same calls, one part at a time (validate_stops: type, contract on readable rows, split)
    typing_s, (typed, failures) = _median(lambda: type_stop_records(raw, config))
    unreadable = pd.Index(failures["row"].unique())
    contract_s, checked = _median(
        lambda: contract_failures(keep_rows(typed, ~typed.index.isin(unreadable)), schema))
    every = pd.concat([failures, checked], ignore_index=True)
    split_s, batch = _median(lambda: split_batch(raw, typed, every))
    quarantine_s, _ = _median(lambda: quarantine_rows(batch, RECORDS_SOURCE, raw["stop_ref"], "bench"))
    # a tenth of the bad rows, in the whole batch and in a batch a tenth the size: the quarantine
    # records should cost the same in both (they depend on the bad rows, not on the batch)
    tenth = every[every["row"].isin(every["row"].drop_duplicates().iloc[::10])]
    few = split_batch(raw, typed, tenth)
    cut = n // 10
    small = split_batch(raw.iloc[:cut], typed.iloc[:cut], every[every["row"] < cut])
    few_s, small_s = [], []
    for _ in range(7):  # short runs, taking turns: a busy spell on the machine hits both
        few_s.append(_median(lambda: quarantine_rows(few, RECORDS_SOURCE, raw["stop_ref"], "bench"), 1)[0])
        small_s.append(_median(lambda: quarantine_rows(small, RECORDS_SOURCE, raw["stop_ref"].iloc[:cut],
                                                       "bench"), 1)[0])
    few_s, small_s = statistics.median(few_s), statistics.median(small_s)

    def bare():
        import pandera.pandas as pa
        try:
            schema.validate(typed, lazy=True)
        except pa.errors.SchemaErrors as exc:
            return len(exc.failure_cases)
        return 0

    bare_s, bare_cases = _median(bare)
    target_s = TARGET_S_PER_MILLION * n / 1e6
    per_bad, per_bad_few = quarantine_s / n_bad * 1e6, few_s / len(few.quarantined) * 1e6
    per_bad_small = small_s / len(small.quarantined) * 1e6
    not_the_batch = per_bad_few <= 1.5 * per_bad_small

    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return (f"validation {n:,} stops ({n_bad / n:.1%} bad): {n / step_s:,.0f} rows/s, {step_s:.2f} s "
            f"(typing {typing_s:.2f} s, contract {contract_s:.2f} s, split {split_s:.2f} s, "
            f"quarantine records {quarantine_s:.2f} s), peak {peak_mb():,.0f} MB ({rows_mb:,.0f} MB "
            f"with the raw rows read); pandera bare validate of the same typed frame {bare_s:.2f} s "
            f"({bare_cases:,} failure cases), ratio {step_s / bare_s:.2f}; Parquet read of the same "
            f"rows {parquet_s:.2f} s; targets: step < {target_s:.1f} s {met(step_s < target_s)}, "
            f"ratio <= {TARGET_RATIO} {met(step_s / bare_s <= TARGET_RATIO)}, quarantine cost set by "
            f"the bad rows, not the batch: {per_bad_few:.1f} us per bad row at {len(few.quarantined):,} "
            f"in {n:,} rows and {per_bad_small:.1f} us at {len(small.quarantined):,} in {cut:,} "
            f"{met(not_the_batch)} ({per_bad:.1f} us per bad row at {n_bad:,})")
