"""Look at a report as a person would: render an HTML file in headless Chromium and save a PNG.

`python -m demo.screenshot REPORT.html OUT.png` (Debian's chromium; no network, no profile kept).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise FileNotFoundError("Chromium is not installed (Debian package: chromium)")


def screenshot(html: Path, png: Path, *, width: int = 1400, height: int = 1800) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diversion-chromium-") as profile:
        subprocess.run([chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={png}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return png


if __name__ == "__main__":
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
