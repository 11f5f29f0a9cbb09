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


class _Keeper:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.count = 0
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.count += 1
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
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
        return sorted(self.directory.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in self.paths()]

    @property
    def envelopes(self) -> list[list[str]]:
        return list(self._keeper.envelopes)
