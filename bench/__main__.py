"""`make bench`: one line per figure, each measured in its own process so peak memory is its own.

Each figure is a module `bench/fig_<name>.py` with a `run() -> str`. Where a figure has a peer or
a ceiling (SQLite's own reader, pandera alone, OpenSSH's sftp), both are measured in the same run
and the ratio printed. `python -m bench NAME...` runs some; BENCH_SCALE=0.1 shrinks the sizes.
"""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

FIGURES = sorted(m.name.removeprefix("fig_") for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                 if m.name.startswith("fig_"))


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":  # child process: one figure
        print(importlib.import_module(f"bench.fig_{sys.argv[2]}").run())
        return 0
    failed = 0
    for name in sys.argv[1:] or FIGURES:
        out = subprocess.run([sys.executable, "-m", "bench", "--one", name], capture_output=True, text=True)
        if out.returncode != 0:
            failed += 1
            print(f"{name}: FAILED\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        print(out.stdout.strip(), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
