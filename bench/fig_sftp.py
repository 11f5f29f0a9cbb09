"""Benchmark figure: sftp. `python -m bench sftp` prints its line."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import SCALE, peak_mb


def run() -> str:
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
            f"ratio {theirs / ours:.2f}, peak {peak_mb():.0f} MB")
