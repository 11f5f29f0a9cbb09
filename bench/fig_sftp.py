"""Benchmark figure: sftp. `python -m bench sftp` prints its line.

The connector and OpenSSH's own `sftp` client download the same file from the same private sshd
in the same run (200 MB at BENCH_SCALE=1); the ratio is connector rate / OpenSSH rate (target
≥ 0.60). Memory: the process's peak RSS after a download of an eighth of the size, and after the
full one: streaming means the second is no larger than the first (plus noise).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import SCALE, peak_mb

TARGET = 0.60


def _write(path: Path, size_mb: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as fh:
        for _ in range(size_mb):
            fh.write(block)


def run() -> str:
    from connectors.yot_sftp import CaseloadDrop, SftpEndpoint, open_sftp
    from demo.sshd import PrivateSshd
    size_mb = max(16, int(200 * SCALE))
    small_mb = max(2, size_mb // 8)
    root = Path(tempfile.mkdtemp(prefix="bench-sftp-"))
    try:
        with PrivateSshd(root / "sshd") as sshd:
            folder = sshd.sftp_root / "yot"
            folder.mkdir()
            _write(folder / "small.csv", small_mb)
            _write(folder / "big.csv", size_mb)
            endpoint = SftpEndpoint(sshd.host, sshd.port, sshd.username, str(sshd.client_key_path),
                                    sshd.host_public_key)

            def download(name: str) -> float:
                started = time.perf_counter()
                with open_sftp(endpoint) as sftp:
                    drop = CaseloadDrop(sftp, "yot", "bench")
                    drop.fetch(drop.find(name), root / "out" / name)
                return time.perf_counter() - started

            download("small.csv")
            peak_small = peak_mb()
            ours = download("big.csv")
            peak_big = peak_mb()
            known = sshd.write_known_hosts(root / "known_hosts")
            batch = root / "batch"
            batch.write_text(f"get yot/big.csv {root / 'openssh.csv'}\n")
            started = time.perf_counter()
            subprocess.run(["sftp", "-q", "-b", str(batch), "-P", str(sshd.port), "-i", str(sshd.client_key_path),
                            "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                            "-o", "BatchMode=yes", f"{sshd.username}@{sshd.host}"], check=True,
                           capture_output=True)
            theirs = time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratio = theirs / ours
    return (f"sftp download {size_mb} MB: connector {size_mb / ours:.0f} MB/s, openssh {size_mb / theirs:.0f} MB/s, "
            f"ratio {ratio:.2f} (target {TARGET:.2f}: {'met' if ratio >= TARGET else 'MISSED'}), "
            f"peak RSS {peak_small:.0f} MB after {small_mb} MB, {peak_big:.0f} MB after {size_mb} MB")
