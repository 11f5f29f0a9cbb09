"""The benchmark figures. Run one with `python -m bench.figures NAME`; it prints one line."""
from __future__ import annotations

import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _n(base: int) -> int:
    return max(1000, int(base * SCALE))


def _stop_rows(n: int, bad_share: float = 0.0) -> list[dict]:
    """Synthetic stops in the records system's own columns (local times)."""
    from schemas.identifiers import pnc_check_letter
    rng = random.Random(1)
    areas = ["Reading", "Oxford", "Slough", "Milton Keynes", "West Berkshire"]
    start = pd.Timestamp("2026-03-01 00:00:00")
    rows = []
    for i in range(n):
        t = start + pd.Timedelta(seconds=int(i * 86400 / n))
        serial = rng.randint(1, 9_999_999)
        row = {"STOP_REF": f"SS{i:09d}", "STOP_DATETIME": t.strftime("%Y-%m-%d %H:%M:%S"),
               "LPA_NAME": rng.choice(areas), "PERSON_ID": f"P{i:08d}",
               "PNC_ID": f"12/{serial:07d}{pnc_check_letter(12, serial)}", "FORENAME": "Zoë",
               "SURNAME": "O'Brien", "DOB": "2010-05-04", "GENDER": "Female", "HOME_POSTCODE": "RG1 1AA",
               "SEARCH_TYPE": "Person search", "AGE_RANGE": "10-17",
               "LEGISLATION": "Misuse of Drugs Act 1971 (section 23)", "OBJECT_OF_SEARCH": "Controlled drugs",
               "OUTCOME": "Community resolution", "DRUG_NAME": "cannabis", "DRUG_CLASS": "B",
               "QUANTITY": 2.5, "QUANTITY_UNIT": "g", "OFFENCE": "Possession", "OFFICER_ACTION": "Referred",
               "LAST_MODIFIED": (t + pd.Timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")}
        if rng.random() < bad_share:
            row[rng.choice(["LPA_NAME", "GENDER", "HOME_POSTCODE", "DOB"])] = "???"
        rows.append(row)
    return rows


def extraction_sqlite() -> str:
    from connectors.records_system import RecordsSystem
    from pipeline.context import night_window
    from schemas.config import load_config
    n = _n(200_000)
    config = load_config()
    folder = Path(tempfile.mkdtemp())
    db = folder / "records.db"
    rows = _stop_rows(n)
    cols = list(config.records_system.columns.values())
    with sqlite3.connect(db) as con:
        con.execute(f"CREATE TABLE stop_record ({', '.join(cols)})")
        con.executemany(f"INSERT INTO stop_record VALUES ({','.join('?' * len(cols))})",
                        [[r[c] for c in cols] for r in rows])
    del rows
    start, end = night_window(date(2026, 3, 1), "Europe/London")
    t0 = time.perf_counter()
    with sqlite3.connect(db) as con:
        native = sum(1 for _ in con.execute("SELECT * FROM stop_record"))
    ceiling = time.perf_counter() - t0
    connector = RecordsSystem.from_connection_string(f"DRIVER={{SQLite3}};Database={db};", config.records_system)
    t0 = time.perf_counter()
    got = sum(len(c) for c in connector.extract(start, end, end))
    took = time.perf_counter() - t0
    shutil.rmtree(folder)
    assert got == native == n, (got, native, n)
    return (f"extraction sqlite-odbc {n} rows: {n / took:,.0f} rows/s, peak {_peak_mb():.0f} MB; "
            f"sqlite3 native read {n / ceiling:,.0f} rows/s, ratio {ceiling / took:.2f}")


def validation() -> str:
    import pandera.pandas as pa
    from schemas.config import load_config
    from schemas.stop import stop_schema
    from transforms.stops import type_stop_records, validate_stops
    n = _n(200_000)
    config = load_config()
    raw = pd.DataFrame(_stop_rows(n, bad_share=0.05)).rename(
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
            f"{took:.2f} s, peak {_peak_mb():.0f} MB; pandera bare validate {bare:.2f} s, "
            f"ratio {took / bare:.2f}")


def matching() -> str:
    from demo.linkage import synthetic_population
    from transforms.matching import match_people
    n = _n(10_000)
    left, right, truth, _ = synthetic_population(seed=11, n_left=n, n_right=n, overlap=0.6)
    t0 = time.perf_counter()
    result = match_people(left, right)
    took = time.perf_counter() - t0
    found = {(a, b) for a, b in result[result["status"] == "matched"][["left_id", "right_id"]].itertuples(index=False)}
    tp = len(found & truth)
    precision, recall = tp / max(len(found), 1), tp / max(len(truth), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return (f"matching {n}x{n}: precision {precision:.4f} recall {recall:.4f} f1 {f1:.4f}, "
            f"{took:.1f} s, peak {_peak_mb():.0f} MB")


def nightly_demo() -> str:
    from demo.stack import DemoStack
    from pipeline.context import NightlyRun
    from pipeline.runner import run_night
    with DemoStack(Path(tempfile.mkdtemp(prefix="bench-demo-"))) as stack:
        run = NightlyRun.plan("bench", stack.night, stack.config.scheme.timezone, root=stack.data_dir)
        t0 = time.perf_counter()
        summary = run_night(stack.resources(), run)
        took = time.perf_counter() - t0
    return (f"nightly run on the demo world ({summary['stops extracted']} stops, {summary['referred']} "
            f"referrals, 9 YOTs) without Airflow: {took:.2f} s, peak {_peak_mb():.0f} MB")


def sftp_download() -> str:
    from connectors.yot_sftp import CaseloadDrop, SftpEndpoint, open_sftp
    from demo.sshd import PrivateSshd
    size_mb = max(10, int(200 * SCALE))
    root = Path(tempfile.mkdtemp(prefix="bench-sftp-"))
    with PrivateSshd(root / "sshd") as sshd:
        folder = sshd.sftp_root / "yot"
        folder.mkdir()
        with open(folder / "big.csv", "wb") as fh:
            block = os.urandom(1024 * 1024)
            for _ in range(size_mb):
                fh.write(block)
        endpoint = SftpEndpoint(sshd.host, sshd.port, sshd.username, str(sshd.client_key_path),
                                sshd.host_public_key)
        t0 = time.perf_counter()
        with open_sftp(endpoint) as sftp:
            drop = CaseloadDrop(sftp, "yot", "bench")
            drop.fetch(drop.find("big.csv"), root / "out" / "big.csv")
        ours = time.perf_counter() - t0
        known = sshd.write_known_hosts(root / "known_hosts")
        batch = root / "batch"
        batch.write_text(f"get yot/big.csv {root / 'openssh.csv'}\n")
        t0 = time.perf_counter()
        subprocess.run(["sftp", "-q", "-b", str(batch), "-P", str(sshd.port), "-i", str(sshd.client_key_path),
                        "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                        "-o", "BatchMode=yes", f"{sshd.username}@{sshd.host}"], check=True, capture_output=True)
        theirs = time.perf_counter() - t0
    shutil.rmtree(root, ignore_errors=True)
    return (f"sftp download {size_mb} MB: connector {size_mb / ours:.0f} MB/s, openssh {size_mb / theirs:.0f} MB/s, "
            f"ratio {theirs / ours:.2f}, peak {_peak_mb():.0f} MB")


FIGURES = {"extraction": extraction_sqlite, "validation": validation, "matching": matching,
           "nightly": nightly_demo, "sftp": sftp_download}

if __name__ == "__main__":
    print(FIGURES[sys.argv[1]]())
