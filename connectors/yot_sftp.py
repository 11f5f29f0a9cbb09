"""A YOT's SFTP drop: list it, download from it and upload to it safely.

Host keys are always verified (a pinned key or a known_hosts file; unknown or changed keys are
refused before anything is transferred), every wait has a timeout, and a download lands under a
temporary name and is renamed into place only when complete and its size (and checksum, when the
YOT sends one) checked, so the pipeline never reads a partial file; an upload likewise appears
under its final name only whole. Logs and errors carry YOT ids, hosts and file names only.
Which file to take, retries and the ledger live in `connectors.yot_exchange` and the pipeline.
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

from connectors.writeback import Writeback

log = logging.getLogger(__name__)

_TEMPORARY = (".part", ".tmp", ".partial", ".filepart")
# Path separators, "..", C0/C1 controls, bidi overrides, edge spaces: never a caseload export.
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\\u202a-\u202e\u2066-\u2069]|\.\.|^\s|\s$")
_CHUNK = 1024 * 1024
# Read-ahead is issued one window at a time: paramiko's whole-file prefetch is fastest, but if the
# local side fails mid-file, closing the remote file drains every outstanding reply into memory.
_WINDOW = 16 * 1024 * 1024
# Each SFTP read asks for 128 KiB instead of paramiko's 32 KiB: fewer round trips, ~15% faster on
# loopback; OpenSSH serves up to 255 KiB, and a server that answers short is read on where it stopped.
_READ_REQUEST = 128 * 1024
# AES-GCM is offered first (then paramiko's own order, so a server without it still connects): an
# AEAD cipher needs no separate MAC pass, so both ends spend less CPU per byte than with the
# aes128-ctr + hmac-sha2-256 paramiko picks otherwise (bench/fig_sftp.py: median rate up 5-20% on a
# busy 2-core loopback, where single runs swing by a factor of two).
_CIPHERS_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


class SftpError(Exception):
    """Base of every SFTP failure; messages name the YOT, host or file, never file contents."""


class HostKeyError(SftpError):
    """The server's host key is unknown or not the pinned one: nothing was transferred."""


class SftpUnavailable(SftpError):
    """The server could not be reached, refused us, or the session could not be opened (retry later)."""


class TransferIncomplete(SftpError):
    """A transfer failed, or the file had the wrong size or checksum; no file was left where the
    pipeline (or the YOT) reads. `transient`: the connection failed, so trying again may work."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


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


def _transport(sock, **kwargs) -> paramiko.Transport:
    """paramiko's Transport with AES-GCM preferred (`_CIPHERS_FIRST`); nothing else changes."""
    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    offered = tuple(options.ciphers)
    options.ciphers = tuple(c for c in _CIPHERS_FIRST if c in offered) + tuple(
        c for c in offered if c not in _CIPHERS_FIRST)
    return transport


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
                       channel_timeout=endpoint.connect_timeout, transport_factory=_transport)
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
                           connect_attempts: int = 1) -> Iterator[paramiko.SFTPClient]:
    """An SFTP session through the SFTP provider's hook; refuses connections that skip key checks.

    One connection attempt by default: the exchange retries whole sessions itself, with the
    configured attempts and backoff (`connectors.yot_exchange`), so the hook's own fixed-wait
    retries would only multiply them.

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
        self.refused: list[str] = []      # unsafe names seen by the last listing
        self.in_progress: list[str] = []  # temporary names seen by the last listing

    def list_exports(self) -> list[RemoteFile]:
        """Complete regular files; temporary names are skipped, unsafe names skipped and logged."""
        self.refused, self.in_progress = [], []
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
                self.refused.append(name)
            elif name.lower().endswith(_TEMPORARY):
                log.debug("YOT %s: skipped file still being written %r", self.yot_id, name)
                self.in_progress.append(name)
            elif stat.S_ISREG(entry.st_mode or 0):
                files.append(RemoteFile(name=name, size=int(entry.st_size or 0),
                                        mtime=int(entry.st_mtime or 0)))
        return sorted(files, key=lambda f: f.name)

    def find(self, name: str) -> RemoteFile | None:
        return next((f for f in self.list_exports() if f.name == name), None)

    def stat(self, name: str) -> RemoteFile | None:
        """The file as it is now (a second look, to see whether it is still being written)."""
        _refuse_unsafe(name, self.yot_id)
        try:
            attrs = self.sftp.stat(self._path(name))
        except FileNotFoundError:
            return None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SftpUnavailable(f"YOT {self.yot_id}: cannot stat {name!r}: {type(exc).__name__}: {exc}") from None
        return RemoteFile(name=name, size=int(attrs.st_size or 0), mtime=int(attrs.st_mtime or 0))

    def read_small(self, name: str, limit: int = 4096) -> bytes:
        """A companion file's content (a checksum line or a marker); refused if larger than `limit`."""
        _refuse_unsafe(name, self.yot_id)
        try:
            with self.sftp.open(self._path(name), "rb") as fh:
                data = fh.read(limit + 1)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TransferIncomplete(f"YOT {self.yot_id}: {name}: cannot read: {type(exc).__name__}: {exc}",
                                     transient=True) from None
        if len(data) > limit:
            raise TransferIncomplete(f"YOT {self.yot_id}: {name}: a companion file over {limit} bytes")
        return data

    def archive(self, name: str, archive_dir: str) -> str:
        """Move a processed file into `archive_dir` on the server (never over an older one)."""
        _refuse_unsafe(name, self.yot_id)
        folder = archive_dir.rstrip("/") or "/"
        try:
            with suppress(OSError):
                self.sftp.mkdir(folder)
            target = f"{folder}/{name}"
            for n in range(1, 1000):
                try:
                    self.sftp.stat(target)
                except FileNotFoundError:
                    break
                target = f"{folder}/{name}.{n}"
            self.sftp.rename(self._path(name), target)  # plain rename: refuses to overwrite
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SftpUnavailable(f"YOT {self.yot_id}: {name}: cannot archive to {folder!r}: "
                                  f"{type(exc).__name__}: {exc}") from None
        log.info("YOT %s: archived %s to %s", self.yot_id, name, target)
        return target

    def fetch(self, remote: RemoteFile, dest: Path, *, expected_sha256: str | None = None,
              resume: bool = False) -> FetchedFile:
        """Stream to `dest` via a temporary name, hashing and starting its disk write on the way
        (`Writeback`, so the fsync before the rename is short); rename only when complete
        (and, when the YOT sent one, its checksum agrees).

        With `resume`, a partial download left by an earlier attempt is continued from where it
        stopped and kept if this attempt's connection fails too; the caller removes it at the end.
        """
        _refuse_unsafe(remote.name, self.yot_id, TransferIncomplete)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        start = _hash_into(partial, digest) if resume and partial.is_file() else 0
        if start > remote.size:
            digest, start = hashlib.sha256(), 0
        received = start
        try:
            with self.sftp.open(self._path(remote.name), "rb") as source, \
                    open(partial, "r+b" if start else "wb") as out:
                source.MAX_REQUEST_SIZE = _READ_REQUEST
                out.seek(start)
                out.truncate()
                writeback = Writeback(out)
                for chunk in _stream(source, remote.size, start):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    writeback.wrote(len(chunk))
                out.flush()
                os.fsync(out.fileno())
                grew = received == remote.size and _has_more(source, remote.size)
            if received != remote.size or grew:
                raise TransferIncomplete(f"YOT {self.yot_id}: {remote.name}: changed during the download "
                                         f"(listed {remote.size} bytes, read {received}"
                                         f"{' and more' if grew else ''})")
            if expected_sha256 and digest.hexdigest() != expected_sha256.lower():
                raise TransferIncomplete(f"YOT {self.yot_id}: {remote.name}: SHA-256 {digest.hexdigest()} "
                                         f"is not the {expected_sha256.lower()} its companion file gives")
            os.replace(partial, dest)
        except BaseException as exc:
            transient = isinstance(exc, (OSError, EOFError, paramiko.SSHException))
            if not (resume and transient):
                partial.unlink(missing_ok=True)
            if transient:
                raise TransferIncomplete(f"YOT {self.yot_id}: {remote.name}: download failed after "
                                         f"{received} bytes: {type(exc).__name__}: {exc}",
                                         transient=True) from None
            raise
        _fsync_dir(dest.parent)
        log.info("YOT %s: fetched %s (%d bytes%s)", self.yot_id, remote.name, received,
                 f", resumed at {start}" if start else "")
        return FetchedFile(remote=remote, local_path=dest, sha256=digest.hexdigest())

    def _path(self, name: str) -> str:
        return f"{self.export_dir.rstrip('/')}/{name}"


def _stream(source: paramiko.SFTPFile, size: int, offset: int = 0) -> Iterator[bytes]:
    """Bytes `offset` to `size` in chunks, read ahead one window at a time. Each chunk is one read
    request's answer as it came: a larger chunk would be joined from several by paramiko's
    buffered read, which copies what it has gathered again for every piece it adds."""
    for start in range(offset, size, _WINDOW):
        end = min(start + _WINDOW, size)
        yield from source.readv([(at, min(_READ_REQUEST, end - at)) for at in range(start, end, _READ_REQUEST)])


def _hash_into(path: Path, digest: "hashlib._Hash") -> int:
    """Feed a partial download into the digest; returns its length (where to resume)."""
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size


def _refuse_unsafe(name: str, yot_id: str, error: type[SftpError] = SftpError) -> None:
    if _UNSAFE_NAME.search(name) or not name:
        raise error(f"YOT {yot_id}: refused unsafe remote file name {name!r}")


def upload(sftp: paramiko.SFTPClient, folder: str, name: str, source: Path, yot_id: str, *,
           resume: bool = False) -> RemoteFile:
    """Put a local file into a YOT's folder under `<name>.part`, check its size there, then rename it
    to `name` in one step: the YOT sees the whole file under its final name, or nothing.

    With `resume`, a `<name>.part` that an earlier attempt left when its connection dropped is
    continued from where it stopped, once the bytes already there are known to be ours: the
    server's copy of that prefix is read back and its SHA-256 compared with our file's first as
    many bytes. (Size alone cannot tell: a leftover may hold other bytes, e.g. a referrals file
    rebuilt since; OpenSSH offers no server-side checksum.) Reading back costs the prefix in the
    download direction, which a referrals file of a few MB spends in well under a second. A
    leftover that differs or is longer is discarded and the upload starts again from zero. When
    this attempt's connection drops too, `<name>.part` is kept for the next attempt (a YOT never
    reads temporary names); any other failure removes it. An earlier session's server process
    still finishing its writes can only write our same bytes at the same offsets, so racing it
    is harmless.
    """
    _refuse_unsafe(name, yot_id, TransferIncomplete)
    folder = folder.rstrip("/") or "/"
    final, temporary = f"{folder}/{name}", f"{folder}/{name}.part"
    size = source.stat().st_size
    start = 0
    try:
        if resume:
            start = _verified_prefix(sftp, temporary, source, size, yot_id)
        with open(source, "rb") as fh, sftp.open(temporary, "r+b" if start else "wb") as out:
            out.set_pipelined(True)  # paramiko's 32 KiB writes: every server must take those
            fh.seek(start)
            out.seek(start)
            while chunk := fh.read(_CHUNK):
                out.write(chunk)
            out.flush()
            _confirm_writes(sftp, out)
        attrs = sftp.stat(temporary)
        if attrs.st_size != size:  # the whole point: never rename a short file into place
            raise TransferIncomplete(f"YOT {yot_id}: {name}: uploaded {attrs.st_size} of {size} bytes")
        try:
            sftp.posix_rename(temporary, final)  # atomic, and replaces a same-named earlier attempt
        except OSError as exc:
            if "unsupported" not in str(exc).lower():
                raise
            sftp.rename(temporary, final)  # a server without the OpenSSH extension: still atomic
    except BaseException as exc:
        transient = isinstance(exc, (OSError, EOFError, paramiko.SSHException))
        if not (resume and transient):
            with suppress(Exception):
                sftp.remove(temporary)
        if transient:
            raise TransferIncomplete(f"YOT {yot_id}: {name}: upload to {folder!r} failed: "
                                     f"{type(exc).__name__}: {exc}", transient=True) from None
        raise
    log.info("YOT %s: uploaded %s (%d bytes%s) to %s", yot_id, name, size,
             f", resumed at {start}" if start else "", folder)
    return RemoteFile(name=name, size=size, mtime=int(attrs.st_mtime or 0))


def _verified_prefix(sftp: paramiko.SFTPClient, temporary: str, source: Path, size: int,
                     yot_id: str) -> int:
    """How many bytes of an earlier attempt's `temporary` are ours (0: none, or start again)."""
    try:
        have = int(sftp.stat(temporary).st_size or 0)
    except FileNotFoundError:
        return 0
    if not 0 < have <= size:
        return 0
    ours, theirs = hashlib.sha256(), hashlib.sha256()
    with open(source, "rb") as fh:
        left = have
        while left and (chunk := fh.read(min(_CHUNK, left))):
            ours.update(chunk)
            left -= len(chunk)
    with sftp.open(temporary, "rb") as remote:
        remote.MAX_REQUEST_SIZE = _READ_REQUEST
        read = 0
        for chunk in _stream(remote, have):
            theirs.update(chunk)
            read += len(chunk)
    if read == have and ours.digest() == theirs.digest():
        return have
    log.warning("YOT %s: %s holds %d bytes that are not ours; uploading from the start",
                yot_id, temporary.rsplit("/", 1)[-1], have)
    return 0


def _confirm_writes(sftp: paramiko.SFTPClient, out: paramiko.SFTPFile) -> None:
    """Wait for the server's answer to every pipelined write, raising the first error: paramiko's
    close() reads these answers but drops failures, so a write refused midway (disk full) would
    otherwise pass unnoticed whenever later writes filled the file to its size."""
    pending = getattr(out, "_reqs", None)
    while pending:
        sftp._read_response(pending.popleft())  # raises IOError/OSError for a failed status


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
