"""A YOT's SFTP drop: find the night's caseload export and download it safely.

Host keys are always verified (a pinned key or a known_hosts file; unknown or changed keys are
refused before anything is transferred), every wait has a timeout, and a download lands under a
temporary name and is renamed into place only when complete and its size checked, so the
pipeline never reads a partial file. Logs and errors carry YOT ids, hosts and file names only.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.ssh_exception import NoValidConnectionsError

log = logging.getLogger(__name__)

_TEMPORARY = (".part", ".tmp", ".partial", ".filepart")
# Path separators, "..", C0/C1 controls, bidi overrides, edge spaces: never a caseload export.
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\\u202a-\u202e\u2066-\u2069]|\.\.|^\s|\s$")
_CHUNK = 1024 * 1024
# Read-ahead is issued one window at a time: paramiko's whole-file prefetch is fastest, but if the
# local side fails mid-file, closing the remote file drains every outstanding reply into memory.
_WINDOW = 16 * 1024 * 1024


class SftpError(Exception):
    """Base of every SFTP failure; messages name the YOT, host or file, never file contents."""


class HostKeyError(SftpError):
    """The server's host key is unknown or not the pinned one: nothing was transferred."""


class SftpUnavailable(SftpError):
    """The server could not be reached, refused us, or the session could not be opened (retry later)."""


class TransferIncomplete(SftpError):
    """A download failed or had the wrong size; no file was left where the pipeline reads."""


@dataclass(frozen=True)
class SftpEndpoint:
    """Where one YOT's server is and how we recognise it (a pinned host key or a known_hosts file)."""

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
        if self.host_key:
            _parse_host_key(self.host_key, self.label)

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def host_key_name(self) -> str:
        """The name known_hosts files and paramiko use: `[host]:port`, or the bare host on port 22."""
        return _host_key_name(self.host, self.port)


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


def _host_key_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _parse_host_key(line: str, label: str) -> paramiko.PKey:
    parts = line.split()
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (IndexError, ValueError, binascii.Error, paramiko.SSHException) as exc:
        raise ValueError(f"SFTP endpoint {label}: host_key must be '<type> <base64>' "
                         f"({type(exc).__name__})") from None


def _classify(exc: BaseException, label: str, key_name: str) -> SftpError:
    """One SftpError for whatever paramiko or the socket raised while opening a session."""
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyError(f"host key for {key_name} is not the pinned key (the server's key "
                            "changed); nothing was transferred")
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return HostKeyError(f"host key for {key_name} is not the pinned key; nothing was transferred")
    if isinstance(exc, paramiko.AuthenticationException):
        return SftpUnavailable(f"{label}: authentication refused ({exc})")
    if isinstance(exc, NoValidConnectionsError):
        causes = "; ".join(f"{type(e).__name__}: {e}" for e in exc.errors.values())
        return SftpUnavailable(f"{label}: cannot connect: {causes}")
    return SftpUnavailable(f"{label}: {type(exc).__name__}: {exc}")


def _transport_failure(client: paramiko.SSHClient, seconds: float) -> BaseException | None:
    """Why the handshake failed, which paramiko's connect may report only as 'No existing session'
    (its negotiation wait gives up silently, racing the banner timeout)."""
    transport = client.get_transport()
    if transport is None or (transport.is_active() and transport.initial_kex_done):
        return None
    saved = transport.get_exception()
    detail = f"{type(saved).__name__}: {saved}" if saved else f"no reply within {seconds:g} s"
    return paramiko.SSHException(f"SSH handshake failed ({detail})")


def _open_within(client: paramiko.SSHClient, seconds: float, label: str,
                 opener: Callable[[], paramiko.SFTPClient]) -> paramiko.SFTPClient:
    """Open the SFTP session, closing the client if that overruns: paramiko waits forever for
    some server replies (the subsystem request) and an hour for others (opening a channel)."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        client.close()

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        sftp = opener()
    except Exception:
        if expired.is_set():
            raise SftpUnavailable(f"{label}: no SFTP session within {seconds:g} s") from None
        raise
    finally:
        timer.cancel()
    if expired.is_set():
        raise SftpUnavailable(f"{label}: no SFTP session within {seconds:g} s")
    return sftp


def _start_sftp(client: paramiko.SSHClient, open_timeout: float,
                channel_timeout: float) -> paramiko.SFTPClient:
    """The SFTP subsystem on an authenticated client, with the channel timeout set before any read."""
    channel = client.get_transport().open_session(timeout=open_timeout)
    channel.settimeout(channel_timeout)
    channel.invoke_subsystem("sftp")
    return paramiko.SFTPClient(channel)


@contextmanager
def open_sftp(endpoint: SftpEndpoint) -> Iterator[paramiko.SFTPClient]:
    """An SFTP session with the host key checked and timeouts on every wait."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        if endpoint.known_hosts_path:
            client.load_host_keys(endpoint.known_hosts_path)
        if endpoint.host_key:
            key = _parse_host_key(endpoint.host_key, endpoint.label)
            client.get_host_keys().add(endpoint.host_key_name, key.get_name(), key)
        client.connect(endpoint.host, port=endpoint.port, username=endpoint.username,
                       key_filename=endpoint.private_key_path, look_for_keys=False,
                       allow_agent=False, timeout=endpoint.connect_timeout,
                       banner_timeout=endpoint.connect_timeout, auth_timeout=endpoint.connect_timeout,
                       channel_timeout=endpoint.connect_timeout)
        sftp = _open_within(client, endpoint.connect_timeout, endpoint.label, lambda: _start_sftp(
            client, endpoint.connect_timeout, endpoint.channel_timeout))
    except SftpError:
        client.close()
        raise
    except (paramiko.SSHException, EOFError, OSError) as exc:
        cause = _transport_failure(client, endpoint.connect_timeout) or exc
        client.close()
        raise _classify(cause, endpoint.label, endpoint.host_key_name) from None
    try:
        yield sftp
    finally:
        with suppress(Exception):  # a dropped session cannot be closed politely; that is fine
            sftp.close()
        client.close()


@contextmanager
def open_sftp_from_airflow(conn_id: str, channel_timeout: float = 60,
                           connect_attempts: int = 3) -> Iterator[paramiko.SFTPClient]:
    """An SFTP session through the SFTP provider's hook; refuses connections that skip key checks.

    The hook verifies against the connection's `host_key` extra, else the worker's
    ~/.ssh/known_hosts; we refuse up front when neither could recognise the server.
    """
    from airflow.providers.sftp.hooks.sftp import SFTPHook
    from airflow.providers.ssh.hooks.ssh import SSHHook

    hook = SFTPHook(ssh_conn_id=conn_id, conn_retry_attempts=connect_attempts)
    port = int(hook.port or 22)
    label = f"Airflow connection '{conn_id}' ({hook.remote_host}:{port})"
    key_name = _host_key_name(hook.remote_host, port)
    if hook.no_host_key_check or hook.allow_host_key_change:
        raise HostKeyError(f"{label} must pin the server's host key (extra 'host_key') and must not "
                           "set no_host_key_check or allow_host_key_change")
    if hook.host_key is None and not _in_user_known_hosts(key_name):
        raise HostKeyError(f"{label} must pin the server's host key (extra 'host_key') or the worker's "
                           f"~/.ssh/known_hosts must list {key_name}")
    session = ExitStack()
    try:
        client = SSHHook.get_conn(hook)  # connect first (the hook keeps the client) to time the rest
        sftp = _open_within(client, float(hook.conn_timeout or 10), label,
                            lambda: session.enter_context(hook.get_managed_conn()))
        sftp.get_channel().settimeout(channel_timeout)
    except BaseException as exc:
        cause = _transport_failure(hook.client, float(hook.conn_timeout or 10)) if hook.client else None
        with suppress(Exception):
            session.close()
        if hook.client is not None:
            hook.client.close()
        if isinstance(exc, (paramiko.SSHException, EOFError, OSError)):
            raise _classify(cause or exc, label, key_name) from None
        raise
    try:
        yield sftp
    finally:
        with suppress(Exception):  # as in open_sftp: closing a dropped session must not mask the error
            session.close()


def _in_user_known_hosts(key_name: str) -> bool:
    path = Path(os.path.expanduser("~/.ssh/known_hosts"))
    return path.is_file() and paramiko.HostKeys(str(path)).lookup(key_name) is not None


def airflow_connection_json(endpoint: SftpEndpoint) -> str:
    """AIRFLOW_CONN_* value for an endpoint: pinned host key, key file, connect timeout."""
    host_key = endpoint.host_key or _known_hosts_line(endpoint)
    extra = {"key_file": endpoint.private_key_path, "host_key": host_key,
             "conn_timeout": max(1, round(endpoint.connect_timeout)), "look_for_keys": False}
    return json.dumps({"conn_type": "sftp", "host": endpoint.host, "port": endpoint.port,
                       "login": endpoint.username,
                       "extra": {k: v for k, v in extra.items() if v is not None}})


def _known_hosts_line(endpoint: SftpEndpoint) -> str:
    """The endpoint's key from its known_hosts file, to pin in the Airflow connection."""
    keys = paramiko.HostKeys(endpoint.known_hosts_path).lookup(endpoint.host_key_name)
    if not keys:
        raise ValueError(f"SFTP endpoint {endpoint.label}: {endpoint.host_key_name} is not in "
                         f"{endpoint.known_hosts_path}")
    key = next(iter(keys.values()))
    return f"{key.get_name()} {key.get_base64()}"


class CaseloadDrop:
    """One YOT's export folder on its SFTP server."""

    def __init__(self, sftp: paramiko.SFTPClient, export_dir: str, yot_id: str) -> None:
        self.sftp = sftp
        self.export_dir = export_dir.rstrip("/") or "/"
        self.yot_id = yot_id

    def list_exports(self) -> list[RemoteFile]:
        """Complete regular files; temporary names are skipped, unsafe names skipped and logged."""
        try:
            entries = self.sftp.listdir_attr(self.export_dir)
        except UnicodeDecodeError:
            raise SftpError(f"YOT {self.yot_id}: a file name in {self.export_dir!r} is not UTF-8; "
                            "cannot list the folder") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SftpUnavailable(f"YOT {self.yot_id}: cannot list {self.export_dir!r}: "
                                  f"{type(exc).__name__}: {exc}") from None
        files = []
        for entry in entries:
            name = entry.filename
            if _UNSAFE_NAME.search(name):
                log.warning("YOT %s: refused unsafe remote file name %r", self.yot_id, name)
            elif name.lower().endswith(_TEMPORARY):
                log.debug("YOT %s: skipped file still being written %r", self.yot_id, name)
            elif stat.S_ISREG(entry.st_mode or 0):
                files.append(RemoteFile(name=name, size=int(entry.st_size or 0),
                                        mtime=int(entry.st_mtime or 0)))
        return sorted(files, key=lambda f: f.name)

    def find(self, name: str) -> RemoteFile | None:
        return next((f for f in self.list_exports() if f.name == name), None)

    def fetch(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        """Stream to `dest` via a temporary name, hashing on the way; rename only when complete."""
        if _UNSAFE_NAME.search(remote.name):
            raise TransferIncomplete(f"YOT {self.yot_id}: refused unsafe remote file name {remote.name!r}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        received = 0
        try:
            with self.sftp.open(self._path(remote.name), "rb") as source, open(partial, "wb") as out:
                for chunk in _stream(source, remote.size):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                out.flush()
                os.fsync(out.fileno())
                grew = received == remote.size and _has_more(source, remote.size)
            if received != remote.size or grew:
                raise TransferIncomplete(f"YOT {self.yot_id}: {remote.name}: changed during the download "
                                         f"(listed {remote.size} bytes, read {received}"
                                         f"{' and more' if grew else ''})")
            os.replace(partial, dest)
        except BaseException as exc:
            partial.unlink(missing_ok=True)
            if isinstance(exc, (OSError, EOFError, paramiko.SSHException)):
                raise TransferIncomplete(f"YOT {self.yot_id}: {remote.name}: download failed after "
                                         f"{received} bytes: {type(exc).__name__}: {exc}") from None
            raise
        _fsync_dir(dest.parent)
        log.info("YOT %s: fetched %s (%d bytes)", self.yot_id, remote.name, received)
        return FetchedFile(remote=remote, local_path=dest, sha256=digest.hexdigest())

    def _path(self, name: str) -> str:
        return f"{self.export_dir.rstrip('/')}/{name}"


def _stream(source: paramiko.SFTPFile, size: int) -> Iterator[bytes]:
    """The first `size` bytes in chunks, read ahead one window at a time."""
    for start in range(0, size, _WINDOW):
        end = min(start + _WINDOW, size)
        yield from source.readv([(at, min(_CHUNK, end - at)) for at in range(start, end, _CHUNK)])


def _has_more(source: paramiko.SFTPFile, size: int) -> bool:
    """Whether the file grew past its listed size while we read it."""
    source.seek(size)
    return bool(source.read(1))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
