"""A YOT's SFTP drop: find the night's caseload export and download it safely.

Host keys are always verified (a pinned key or a known_hosts file; unknown or changed keys are
refused before anything is transferred), timeouts are always set, and a download lands under a
temporary name and is renamed into place only when complete and its size checked, so the
pipeline never reads a partial file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import paramiko

log = logging.getLogger(__name__)
_TEMPORARY = (".part", ".tmp", ".partial", ".filepart")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]|^\.\.?$|^\s|\s$")
_CHUNK = 1024 * 1024


class SftpError(Exception):
    """Base of every SFTP failure; messages name the YOT, host or file, never file contents."""


class HostKeyError(SftpError):
    """The server's host key is unknown or not the pinned one: nothing was transferred."""


class SftpUnavailable(SftpError):
    """The server could not be reached, refused us, or the session failed (worth a retry)."""


class TransferIncomplete(SftpError):
    """A download ended early or with the wrong size; no file was left where the pipeline reads."""


@dataclass(frozen=True)
class SftpEndpoint:
    host: str
    port: int
    username: str
    private_key_path: str | None = None
    host_key: str | None = None          # pinned "ssh-ed25519 AAAA..." line
    known_hosts_path: str | None = None
    connect_timeout: float = 15
    channel_timeout: float = 60

    def __post_init__(self) -> None:
        if not self.host_key and not self.known_hosts_path:
            raise ValueError(f"SFTP endpoint {self.label}: a pinned host_key or a known_hosts file "
                             "is required (host keys are always verified)")

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}" if self.port != 22 else self.host

    @property
    def host_key_name(self) -> str:
        return f"[{self.host}]:{self.port}" if self.port != 22 else self.host


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    mtime: int


@dataclass(frozen=True)
class FetchedFile:
    remote: RemoteFile
    local_path: Path
    sha256: str


def _pinned_key(line: str) -> paramiko.PKey:
    parts = line.split()
    if len(parts) < 2:
        raise ValueError("host_key must be '<type> <base64>'")
    return paramiko.PKey.from_type_string(parts[0], __import__("base64").b64decode(parts[1]))


@contextmanager
def open_sftp(endpoint: SftpEndpoint) -> Iterator[paramiko.SFTPClient]:
    """An SFTP session with the host key checked and timeouts on connect and on the channel."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if endpoint.known_hosts_path:
        client.load_host_keys(endpoint.known_hosts_path)
    if endpoint.host_key:
        key = _pinned_key(endpoint.host_key)
        client.get_host_keys().add(endpoint.host_key_name, key.get_name(), key)
    try:
        client.connect(endpoint.host, port=endpoint.port, username=endpoint.username,
                       key_filename=endpoint.private_key_path, look_for_keys=False,
                       allow_agent=False, timeout=endpoint.connect_timeout,
                       banner_timeout=endpoint.connect_timeout, auth_timeout=endpoint.connect_timeout)
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(endpoint.channel_timeout)
    except (paramiko.BadHostKeyException, paramiko.SSHException, OSError) as exc:
        client.close()
        raise _classify(exc, endpoint.label) from None
    try:
        yield sftp
    finally:
        with suppress(Exception):  # a dropped session cannot be closed politely; that is fine
            sftp.close()
        client.close()


def _classify(exc: Exception, label: str) -> SftpError:
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyError(f"host key for {label} has CHANGED from the pinned key; nothing was transferred")
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return HostKeyError(f"host key for {label} is not the pinned key; nothing was transferred")
    if isinstance(exc, paramiko.AuthenticationException):
        return SftpUnavailable(f"{label}: authentication refused")
    return SftpUnavailable(f"{label}: {type(exc).__name__}: {exc}")


@contextmanager
def open_sftp_from_airflow(conn_id: str) -> Iterator[paramiko.SFTPClient]:
    """An SFTP session through the SFTP provider's hook; refuses connections that skip key checks."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook
    hook = SFTPHook(ssh_conn_id=conn_id)
    if hook.no_host_key_check or hook.allow_host_key_change or hook.host_key is None:
        raise HostKeyError(f"Airflow connection '{conn_id}' must pin the server's host key (extra "
                           "'host_key') and must not set no_host_key_check or allow_host_key_change")
    label = f"Airflow connection '{conn_id}' ({hook.remote_host}:{hook.port or 22})"
    try:
        with hook.get_managed_conn() as sftp:
            sftp.get_channel().settimeout(float(hook.conn_timeout or 60) * 6)
            yield sftp
    except (paramiko.BadHostKeyException, paramiko.SSHException, OSError) as exc:
        raise _classify(exc, label) from None


def airflow_connection_json(endpoint: SftpEndpoint) -> str:
    """AIRFLOW_CONN_* value for an endpoint: pinned host key, key file, connect timeout."""
    extra = {"key_file": endpoint.private_key_path, "host_key": endpoint.host_key,
             "conn_timeout": int(endpoint.connect_timeout), "look_for_keys": False}
    return json.dumps({"conn_type": "sftp", "host": endpoint.host, "port": endpoint.port,
                       "login": endpoint.username, "extra": {k: v for k, v in extra.items() if v is not None}})


class CaseloadDrop:
    """One YOT's export folder on its SFTP server."""

    def __init__(self, sftp: paramiko.SFTPClient, export_dir: str, yot_id: str) -> None:
        self.sftp = sftp
        self.export_dir = export_dir.rstrip("/")
        self.yot_id = yot_id

    def list_exports(self) -> list[RemoteFile]:
        """Complete regular files; temporary names and unsafe names are skipped and logged."""
        try:
            entries = self.sftp.listdir_attr(self.export_dir)
        except (OSError, paramiko.SSHException) as exc:
            raise SftpUnavailable(f"YOT {self.yot_id}: cannot list {self.export_dir!r}: {exc}") from None
        files = []
        for entry in entries:
            name = entry.filename
            if _UNSAFE_NAME.search(name):
                log.warning("YOT %s: refused unsafe remote file name %r", self.yot_id, name)
                continue
            if name.lower().endswith(_TEMPORARY) or not stat.S_ISREG(entry.st_mode or 0):
                continue
            files.append(RemoteFile(name=name, size=int(entry.st_size or 0), mtime=int(entry.st_mtime or 0)))
        return sorted(files, key=lambda f: f.name)

    def find(self, name: str) -> RemoteFile | None:
        return next((f for f in self.list_exports() if f.name == name), None)

    def fetch(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        """Stream to `dest` via a temporary name, hashing on the way; rename only when complete."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        received = 0
        try:
            with self.sftp.open(f"{self.export_dir}/{remote.name}", "rb") as source, open(partial, "wb") as out:
                source.prefetch(remote.size)
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if received != remote.size:
                raise TransferIncomplete(f"YOT {self.yot_id}: {remote.name}: received {received} of "
                                         f"{remote.size} bytes")
            os.replace(partial, dest)
        except SftpError:
            partial.unlink(missing_ok=True)
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            partial.unlink(missing_ok=True)
            raise TransferIncomplete(f"YOT {self.yot_id}: {remote.name}: transfer failed after "
                                     f"{received} bytes: {type(exc).__name__}: {exc}") from None
        return FetchedFile(remote=remote, local_path=dest, sha256=digest.hexdigest())
