"""Early writeback of a download: each finished stretch is flushed and its disk write asked for,
from where the file was resumed, and a file that cannot take the request still downloads."""
from __future__ import annotations

import os
import sys

from connectors import writeback
from connectors.writeback import Writeback

KIB = 1024


def test_the_kernel_call_is_found():
    """The project runs on Linux (Debian 12, as CI): without the call the head start is silently lost."""
    assert sys.platform.startswith("linux")
    assert writeback.start_writing is not None


def test_the_real_call_is_accepted_for_a_written_file(tmp_path):
    path = tmp_path / "caseload.csv.part"
    with open(path, "wb") as out:
        out.write(b"x" * 300 * KIB)
        out.flush()
        assert writeback.start_writing(out.fileno(), 0, 300 * KIB, 2) == 0


def test_each_finished_stretch_is_flushed_and_its_write_started_from_the_resume_point(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(writeback, "start_writing",
                        lambda fd, offset, length, flags: asked.append((offset, length, flags)) or 0)
    path = tmp_path / "caseload.csv.part"
    path.write_bytes(b"p" * 10 * KIB)  # a partial download being resumed
    with open(path, "r+b", buffering=1024 * KIB) as out:
        out.seek(10 * KIB)
        wb = Writeback(out, stretch=64 * KIB)
        sizes = []
        for _ in range(5):
            out.write(b"d" * 40 * KIB)
            wb.wrote(40 * KIB)
            sizes.append(os.stat(path).st_size)
    # flushed (visible to the OS) only when a stretch was complete: after 80 and 160 KiB of new data
    assert sizes == [10 * KIB, 90 * KIB, 90 * KIB, 170 * KIB, 170 * KIB]
    assert asked == [(10 * KIB, 80 * KIB, 2), (90 * KIB, 80 * KIB, 2)]


def test_a_file_that_refuses_the_request_is_written_all_the_same(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(writeback, "start_writing", lambda *args: asked.append(args) or -1)
    path = tmp_path / "caseload.csv.part"
    with open(path, "wb") as out:
        wb = Writeback(out, stretch=4 * KIB)
        for _ in range(3):
            out.write(b"r" * 4 * KIB)
            wb.wrote(4 * KIB)
    assert path.read_bytes() == b"r" * 12 * KIB
    assert len(asked) == 1  # refused once, then not asked again
