"""Fills the SFTP stand-in with the demo world's caseload exports (one folder per YOT, as
config/scheme.yaml names them), owned by the SFTP user. Run once by the yot-drops-seed service.

python docker/seed_yot_drops.py DROPS_DIR UID
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.world import generate_world  # noqa: E402
from schemas.config import load_config  # noqa: E402


def seed(drops: Path, uid: int | None = None) -> list[Path]:
    """The exports under `drops`; the chroot root itself stays root-owned, as sshd requires."""
    config = load_config()
    with tempfile.TemporaryDirectory() as scratch:
        generate_world(Path(scratch), config, sftp_root=drops)
    files = sorted(p for p in drops.rglob("*") if p.is_file())
    if uid is not None:
        for path in drops.rglob("*"):
            os.chown(path, uid, uid)
    return files


if __name__ == "__main__":
    made = seed(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
    print(f"{len(made)} files in {sys.argv[1]}")
