"""`make bench`: one line per figure, each measured in its own process so peak memory is its own.

Where a figure has a peer or a ceiling (SQLite's own reader, pandera alone, OpenSSH's sftp), both
are measured in the same run and the ratio printed. Sizes can be scaled with BENCH_SCALE=0.1 etc.
"""
from __future__ import annotations

import subprocess
import sys

from bench.figures import FIGURES


def main() -> int:
    names = sys.argv[1:] or list(FIGURES)
    failed = 0
    for name in names:
        out = subprocess.run([sys.executable, "-m", "bench.figures", name], capture_output=True, text=True)
        if out.returncode != 0:
            failed += 1
            print(f"{name}: FAILED\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        print(out.stdout.strip(), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
