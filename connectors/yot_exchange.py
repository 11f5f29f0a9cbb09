"""One YOT's nightly exchange over SFTP: take its caseload export, archive it, send it referrals.

Built on `yot_sftp` (sessions, safe download and upload). This module decides which remote file is
the night's export (by the configured name pattern and date, and only once it has stopped changing
and its companion `.done`/`.sha256` file has arrived when the YOT sends one), and retries transient
failures with backoff, each attempt in a fresh session, resuming a download or an upload where it
stopped.
"""
from __future__ import annotations

import logging
import re
import string
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from connectors.yot_sftp import (
    CaseloadDrop,
    FetchedFile,
    HostKeyError,
    RemoteFile,
    SftpError,
    SftpUnavailable,
    TransferIncomplete,
    upload,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
SessionOpener = Callable[[], AbstractContextManager[Any]]  # a fresh paramiko SFTPClient each call

_SHA256 = re.compile(r"\b[0-9a-fA-F]{64}\b")
_DIRECTIVES = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}",
               "S": r"\d{2}", "j": r"\d{3}", "b": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "%": "%"}
COMPANION_SUFFIX = {"done": ".done", "sha256": ".sha256"}


def name_regex(file_pattern: str, yot_id: str) -> re.Pattern[str]:
    """The configured name pattern as a regex for any date: names that fail it are not exports."""
    parts = []
    for literal, field_name, spec, _ in string.Formatter().parse(file_pattern):
        parts.append(re.escape(literal))
        if field_name == "yot":
            parts.append(re.escape(yot_id))
        elif field_name == "date":
            tokens = re.split(r"(%.)", spec or "%Y-%m-%d")
            parts.append("".join(_DIRECTIVES.get(t[1], re.escape(t)) if t.startswith("%") and len(t) == 2
                                 else re.escape(t) for t in tokens))
        elif field_name is not None:
            raise ValueError(f"unknown field {{{field_name}}} in file pattern {file_pattern!r}")
    return re.compile("".join(parts) + r"\Z")


@dataclass
class Selection:
    """What the night's listing of an export folder showed."""
    status: str                      # ready, missing, not_ready
    remote: RemoteFile | None = None
    expected_sha256: str | None = None
    companion: str | None = None
    detail: str = ""
    refused: list[str] = field(default_factory=list)  # names refused: unsafe or not the pattern


def select_export(drop: CaseloadDrop, *, wanted: str, pattern: re.Pattern[str], companion: str,
                  settle_seconds: float, sleep: Callable[[float], None] = time.sleep) -> Selection:
    """Pick the night's export by name; ready only if complete by every sign the YOT gives."""
    files = drop.list_exports()
    names = {f.name for f in files}
    suffix = COMPANION_SUFFIX.get(companion)
    companions = {n for n in names if any(n.endswith(s) and n[:-len(s)] in names | {wanted}
                                          for s in COMPANION_SUFFIX.values())}
    refused = list(drop.refused) + sorted(n for n in names - companions if not pattern.match(n))
    for name in refused[len(drop.refused):]:
        log.warning("YOT %s: refused %r: does not match the export name pattern", drop.yot_id, name)
    remote = next((f for f in files if f.name == wanted), None)
    if remote is None:
        writing = [n for n in drop.in_progress if n.startswith(wanted)]
        if writing:
            return Selection("not_ready", detail=f"still being written ({writing[0]})", refused=refused)
        return Selection("missing", detail=f"no {wanted}", refused=refused)
    expected, companion_name = None, None
    if suffix:
        companion_name = wanted + suffix
        if companion_name not in names:
            return Selection("not_ready", remote, detail=f"waiting for its companion {companion_name}",
                             refused=refused)
        text = drop.read_small(companion_name).decode("ascii", errors="replace")
        found = _SHA256.search(text)
        if companion == "sha256" and not found:
            return Selection("not_ready", remote, companion=companion_name, refused=refused,
                             detail=f"its companion {companion_name} holds no SHA-256")
        expected = found.group(0).lower() if found else None
    if settle_seconds > 0:
        sleep(settle_seconds)
        again = drop.stat(wanted)
        if again != remote:
            return Selection("not_ready", remote, detail="still being written (size or time changed "
                             f"between two listings {settle_seconds:g} s apart)", refused=refused)
    return Selection("ready", remote, expected, companion_name, refused=refused)


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: the server was unreachable or a connection failed mid-transfer."""
    if isinstance(exc, HostKeyError):
        return False
    return isinstance(exc, SftpUnavailable) or (isinstance(exc, TransferIncomplete) and exc.transient)


def with_retries(action: Callable[[int], T], *, attempts: int, backoff_seconds: float, label: str,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """`action(attempt)` until it succeeds, a non-transient error, or the last attempt fails (then
    the error says how many attempts were made). Waits backoff, 2 × backoff, 4 × ... between."""
    for attempt in range(1, attempts + 1):
        try:
            return action(attempt)
        except SftpError as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                raise type(exc)(f"{exc} (gave up after {attempts} attempt{'s' * (attempts > 1)})",
                                **({"transient": True} if isinstance(exc, TransferIncomplete) else {})) from None
            delay = backoff_seconds * 2 ** (attempt - 1)
            log.warning("%s: attempt %d of %d failed (%s); retrying in %g s", label, attempt, attempts,
                        exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")


@dataclass
class Collected:
    """The night's export of one YOT, as far as the server is concerned."""
    status: str                      # fetched, known, missing, not_ready
    file: str
    fetched: FetchedFile | None = None
    remote: RemoteFile | None = None
    companion: str | None = None
    detail: str = ""
    refused: list[str] = field(default_factory=list)
    attempts: int = 1


def collect_export(open_session: SessionOpener, *, yot_id: str, export_dir: str, wanted: str,
                   pattern: re.Pattern[str], companion: str, dest: Path, attempts: int,
                   backoff_seconds: float, settle_seconds: float,
                   known: Callable[[RemoteFile], bool] = lambda remote: False,
                   sleep: Callable[[float], None] = time.sleep) -> Collected:
    """List, pick and download one YOT's export, retrying transient failures in fresh sessions.

    A file not ready yet (still being written, companion not there) is looked at again after the
    backoff, like a transient failure. A file `known` to the ledger (same name, size and time as one already processed) is not
    downloaded again. A download cut off part-way resumes from its partial copy, which stays
    beside `dest` only between attempts: after the last one nothing is left but a whole file.
    """
    partial = dest.with_name(dest.name + ".part")
    first: dict[str, RemoteFile] = {}

    def attempt(number: int) -> Collected:
        with open_session() as sftp:
            drop = CaseloadDrop(sftp, export_dir, yot_id)
            chosen = select_export(drop, wanted=wanted, pattern=pattern, companion=companion,
                                   settle_seconds=settle_seconds, sleep=sleep)
            if chosen.status == "not_ready" and number < attempts:  # give the YOT's writer time
                raise SftpUnavailable(f"YOT {yot_id}: {wanted}: {chosen.detail}")
            if chosen.status != "ready":
                return Collected(chosen.status, wanted, remote=chosen.remote, detail=chosen.detail,
                                 refused=chosen.refused, attempts=number)
            remote = chosen.remote
            if known(remote):
                return Collected("known", wanted, remote=remote, companion=chosen.companion,
                                 refused=chosen.refused, attempts=number)
            if first.setdefault("remote", remote) != remote:  # changed since the attempt that began it
                partial.unlink(missing_ok=True)
                first["remote"] = remote
            fetched = drop.fetch(remote, dest, expected_sha256=chosen.expected_sha256, resume=True)
            return Collected("fetched", wanted, fetched=fetched, remote=remote, companion=chosen.companion,
                             refused=chosen.refused, attempts=number)

    try:
        return with_retries(attempt, attempts=attempts, backoff_seconds=backoff_seconds,
                            label=f"YOT {yot_id}: {wanted}", sleep=sleep)
    finally:
        partial.unlink(missing_ok=True)


def archive_export(open_session: SessionOpener, *, yot_id: str, export_dir: str, archive_dir: str,
                   names: list[str], attempts: int, backoff_seconds: float,
                   sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Move processed files (and their companions) to the archive folder; returns where they went.
    A file no longer in the export folder was archived before and is skipped."""
    def attempt(_number: int) -> list[str]:
        with open_session() as sftp:
            drop = CaseloadDrop(sftp, export_dir, yot_id)
            return [drop.archive(name, archive_dir) for name in names if drop.stat(name) is not None]

    return with_retries(attempt, attempts=attempts, backoff_seconds=backoff_seconds,
                        label=f"YOT {yot_id}: archive", sleep=sleep)


def deliver_file(open_session: SessionOpener, *, yot_id: str, inbox_dir: str, name: str, source: Path,
                 attempts: int, backoff_seconds: float,
                 sleep: Callable[[float], None] = time.sleep) -> RemoteFile:
    """Upload a file to the YOT's inbox atomically (temporary name, then rename), with retries;
    a repeat puts the same bytes under the same name, so the YOT never sees two versions.

    An attempt cut off part-way resumes the next one from the bytes the server already holds, once
    they are checked to be ours (`yot_sftp.upload`). If the last attempt is cut off too, its
    `<name>.part` stays in the inbox (the YOT skips temporary names) and the next run's delivery
    of the same planned file resumes it, or discards it if its bytes are not that file's."""
    def attempt(_number: int) -> RemoteFile:
        with open_session() as sftp:
            return upload(sftp, inbox_dir, name, source, yot_id, resume=True)

    return with_retries(attempt, attempts=attempts, backoff_seconds=backoff_seconds,
                        label=f"YOT {yot_id}: upload {name}", sleep=sleep)

