"""A real SMTP server on loopback that keeps every message: the demo's and the tests' supervisors."""
from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _Unfolding(email.policy.EmailPolicy):
    """policy.default, but unfolding drops the fold's leading space as mail clients do.

    Python 3.11's folder moves a long value that fits on one continuation line there whole
    ("Subject:\r\n Youth drug diversion: ..."), and its parser keeps the space (CPython gh-124452,
    fixed in 3.12/3.13 only): the configured subject would otherwise read back as " Youth ...".
    """

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        return name, value.lstrip(" \t\r\n")


_POLICY = _Unfolding()


def _sequence(path: Path) -> int:
    """Arrival number from `<sequence>-<message-id>.eml`; numeric, so 10000 sorts after 9999."""
    head = path.name.partition("-")[0]
    return int(head) if head.isdigit() else -1


class _Keeper:
    """aiosmtpd handler: each message's raw bytes to its own numbered file, envelope kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        # continue after files already in the folder: a resend has the same Message-ID and
        # must not overwrite the earlier copy
        self.count = max((_sequence(p) for p in directory.glob("*.eml")), default=0)
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.count += 1
            parsed = email.message_from_bytes(envelope.content, policy=_POLICY)
            safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", str(parsed.get("Message-ID", "")).strip("<>"))[:120]
            path = self.directory / f"{self.count:04d}-{safe or 'message'}.eml"
            path.write_bytes(envelope.content)
            self.envelopes.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailSink:
    """`with MailSink(folder) as sink:` — SMTP on 127.0.0.1:sink.port; messages saved as .eml."""

    def __init__(self, directory: Path, port: int = 0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self._keeper = _Keeper(self.directory)
        self._requested_port = port
        self._controller: Controller | None = None
        self.port = 0

    def start(self) -> "MailSink":
        self.port = self._requested_port or free_port(self.host)
        self._controller = Controller(self._keeper, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "MailSink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self) -> list[Path]:
        """Every .eml in the folder, in arrival order."""
        return sorted(self.directory.glob("*.eml"), key=lambda p: (_sequence(p), p.name))

    def messages(self) -> list[EmailMessage]:
        """The saved messages parsed (policy.default, unfolded as clients do), in arrival order."""
        return [email.message_from_bytes(p.read_bytes(), policy=_POLICY)
                for p in self.paths()]

    @property
    def envelopes(self) -> list[list[str]]:
        """Envelope recipients (RCPT TO) of each message received by this sink, in arrival order."""
        return list(self._keeper.envelopes)
