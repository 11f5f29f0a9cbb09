"""`make bench` keeps working: every figure runs at a tiny scale and prints its named line.

This checks that the figures run and are readable by a script, never how fast they are.
"""
import os
import re
import subprocess
import sys

from bench.__main__ import FIGURES

LINE = re.compile(r"^[a-z][a-z -]+ .*: .*\d")


def test_every_figure_prints_one_named_line():
    out = subprocess.run([sys.executable, "-m", "bench"], env=os.environ | {"BENCH_SCALE": "0.01"},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == len(FIGURES) >= 5
    assert all(LINE.match(line) for line in lines), lines
