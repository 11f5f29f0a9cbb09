"""A private OpenSSH sshd on loopback, for the demo's YOT drops and the SFTP tests.

Its own host key and client key, SFTP only, the login user is whoever runs it (so no system users
are created), and every session starts in `sftp_root`, so YOT folders are relative paths there.
"""
from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Self

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (children before grandchildren)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended while we looked
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


class PrivateSshd:
    """`with PrivateSshd(folder) as sshd:` — a started sshd; stopped and reaped on exit."""

    def __init__(self, root_dir: Path, port: int | None = None) -> None:
        self.root = Path(root_dir).resolve()
        if any(c.isspace() for c in str(self.root)):
            raise ValueError(f"sshd folder {self.root!r} must not contain spaces (sshd_config is word-split)")
        self.host = "127.0.0.1"
        self.port = port or _free_port()
        self.username = pwd.getpwuid(os.getuid()).pw_name
        self.sftp_root = self.root / "sftp"
        self.host_key_path = self.root / "ssh_host_ed25519_key"
        self.client_key_path = self.root / "client_ed25519_key"
        self.config_path = self.root / "sshd_config"
        self.log_path = self.root / "sshd.log"
        self.pid_path = self.root / "sshd.pid"
        self._process: subprocess.Popen | None = None

    # --- keys and config -------------------------------------------------------------------
    def _keygen(self, path: Path, comment: str) -> None:
        if not path.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                           check=True, capture_output=True)

    @property
    def host_public_key(self) -> str:
        """The pinned host key line, 'ssh-ed25519 AAAA...'."""
        return " ".join(self.host_key_path.with_suffix(".pub").read_text().split()[:2])

    def write_known_hosts(self, path: Path) -> Path:
        """A known_hosts file listing this server, as a client would keep it."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name} {self.host_public_key}\n")
        return path

    def remote_path(self, relative: str) -> str:
        """The absolute server path of a folder under `sftp_root` (no chroot: this machine's paths).
        Sessions also start in `sftp_root`, so the relative path works as well."""
        return str(self.sftp_root / relative)

    def _write_config(self) -> None:
        authorized = self.root / "authorized_keys"
        authorized.write_text(self.client_key_path.with_suffix(".pub").read_text())
        authorized.chmod(0o600)
        sftp = f"internal-sftp -d {self.sftp_root}"
        self.config_path.write_text("\n".join([
            f"Port {self.port}", f"ListenAddress {self.host}", f"HostKey {self.host_key_path}",
            f"PidFile {self.pid_path}", f"AuthorizedKeysFile {authorized}",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
            f"Subsystem sftp {sftp}", f"ForceCommand {sftp}", "AllowTcpForwarding no",
            "X11Forwarding no", "AllowAgentForwarding no", "PermitTTY no", "LogLevel INFO", ""]))

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> PrivateSshd:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sftp_root.mkdir(exist_ok=True)
        self._keygen(self.host_key_path, "diversion-sync demo host")
        self._keygen(self.client_key_path, "diversion-sync client")
        self._write_config()
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config_path)],
                                             stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self._process.returncode}: "
                                   f"{self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not listen on {self.host}:{self.port} within 15 s")

    def kill_sessions(self) -> int:
        """Kill every per-connection sshd process (children of the PidFile's pid and theirs):
        drops each open SFTP session while the server keeps listening. Returns how many died."""
        if self._process is None:
            return 0
        doomed = self.sessions()
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(doomed)

    def wait_for_sessions_to_end(self, besides: Iterable[int] = (), timeout: float = 30.0) -> None:
        """Block until no per-connection process is left but those `besides` (taken from
        `sessions()` earlier). A client that gave up does not mean the server has: sshd may still
        be writing what it had already received."""
        deadline, besides = time.monotonic() + timeout, set(besides)
        while self._process is not None and (left := set(self.sessions()) - besides):
            if time.monotonic() > deadline:
                raise TimeoutError(f"sshd sessions still open after {timeout} s: {sorted(left)}")
            time.sleep(0.05)

    def sessions(self) -> list[int]:
        """The per-connection processes (children of the listener and theirs)."""
        if self._process is None:
            return []
        try:
            listener = int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            listener = self._process.pid
        return _descendants(listener)

    def stop(self) -> None:
        if self._process is not None:
            self.kill_sessions()
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
