"""The YOT SFTP connector against a real OpenSSH sshd on loopback (fixtures in tests/fixtures/sshd.py)."""
import dataclasses
import errno
import hashlib
import json
import logging
import os
import pwd
import socket
import subprocess
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import paramiko
import pytest

from connectors import yot_sftp
from connectors.yot_sftp import (
    CaseloadDrop,
    HostKeyError,
    RemoteFile,
    SftpEndpoint,
    SftpError,
    SftpUnavailable,
    TransferIncomplete,
    airflow_connection_json,
    open_sftp,
    open_sftp_from_airflow,
)
from tests.fixtures.sshd import FaultProxy

BIG_MB = 48


@pytest.fixture
def drop_dir(sshd) -> str:
    """A fresh export folder for one YOT, relative to the server's start directory."""
    name = f"yot-{uuid.uuid4().hex[:8]}/outbox"
    (sshd.sftp_root / name).mkdir(parents=True)
    return name


@pytest.fixture(scope="module")
def big_export(sshd) -> tuple[str, str]:
    """(folder, sha256) of a 48 MB export, shared read-only by the fault tests."""
    folder = f"big-{uuid.uuid4().hex[:8]}"
    (sshd.sftp_root / folder).mkdir()
    digest = hashlib.sha256()
    with open(sshd.sftp_root / folder / "big.csv", "wb") as fh:
        for _ in range(BIG_MB):
            block = os.urandom(1024 * 1024)
            fh.write(block)
            digest.update(block)
    return folder, digest.hexdigest()


def _with(endpoint: SftpEndpoint, **changes) -> SftpEndpoint:
    return dataclasses.replace(endpoint, **changes)


def _other_host_key(tmp_path: Path) -> str:
    key = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.glob(dest.name + "*")) if dest.parent.exists() else []


# --- listing and fetching -------------------------------------------------------------------------

def test_lists_complete_files_and_fetches_with_checksum(sshd, sftp_endpoint, drop_dir, tmp_path, caplog):
    folder = sshd.sftp_root / drop_dir
    data = "YOT Case ID,Surname\r\nC1,O'Brien\r\nC2,Zoë\r\n".encode()
    (folder / "caseload_reading_20261124.csv").write_bytes(data)
    (folder / "caseload_reading_20261123.csv").write_bytes(b"old")
    (folder / "caseload_reading_20261125.csv.part").write_bytes(b"half")
    (folder / "caseload.TMP").write_bytes(b"x")
    (folder / "subfolder").mkdir()
    (folder / "link.csv").symlink_to(folder / "caseload_reading_20261124.csv")
    hostile = ["line\nbreak.csv", "esc\x1b[31m.csv", "a..b.csv", "back\\slash.csv", " lead.csv",
               "rtl\u202evsc.csv"]
    for name in hostile:
        (folder / name).write_bytes(b"x")
    caplog.set_level(logging.WARNING, logger="connectors.yot_sftp")
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, drop_dir, "reading")
        listed = drop.list_exports()
        assert [f.name for f in listed] == ["caseload_reading_20261123.csv", "caseload_reading_20261124.csv"]
        assert drop.find("caseload_reading_20261125.csv") is None
        remote = drop.find("caseload_reading_20261124.csv")
        fetched = drop.fetch(remote, tmp_path / "in" / "c.csv")
    assert remote == RemoteFile("caseload_reading_20261124.csv", len(data),
                                int((folder / "caseload_reading_20261124.csv").stat().st_mtime))
    assert fetched.local_path == tmp_path / "in" / "c.csv"
    assert fetched.local_path.read_bytes() == data
    assert fetched.sha256 == hashlib.sha256(data).hexdigest()
    assert os.listdir(tmp_path / "in") == ["c.csv"]
    for name in hostile:  # logged by repr: no raw control characters reach the log
        assert repr(name) in caplog.text
    assert not [r for r in caplog.records if "\x1b" in r.getMessage() or "\n" in r.getMessage()]


def test_aes_gcm_is_preferred_and_every_other_cipher_still_offered(sftp_endpoint):
    with open_sftp(sftp_endpoint) as sftp:  # OpenSSH has it: chosen, which costs less CPU per byte
        transport = sftp.get_channel().get_transport()
        assert (transport.local_cipher, transport.remote_cipher) == ("aes128-gcm@openssh.com",) * 2
    left, right = socket.socketpair()
    with left, right:
        offered = yot_sftp._transport(left).get_security_options().ciphers
    assert offered[:2] == ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
    assert sorted(offered) == sorted(paramiko.Transport._preferred_ciphers)  # a server without GCM connects


def test_absolute_export_dir_works_too(sshd, sftp_endpoint, drop_dir, tmp_path):
    (sshd.sftp_root / drop_dir / "c.csv").write_bytes(b"a,b\n")
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, sshd.remote_path(drop_dir) + "/", "reading")
        fetched = drop.fetch(drop.find("c.csv"), tmp_path / "c.csv")
    assert fetched.local_path.read_bytes() == b"a,b\n"


class _ListingOnly:
    """A server we do not control: it may send names a real filesystem cannot hold."""

    def __init__(self, names):
        self.names = names

    def listdir_attr(self, path):
        return [paramiko.SFTPAttributes.from_stat(os.stat(__file__), name) for name in self.names]


def test_path_like_names_from_a_hostile_server_are_refused(tmp_path, caplog):
    drop = CaseloadDrop(_ListingOnly(["../../etc/passwd", "a/b.csv", "..", "ok.csv"]), "outbox", "x")
    with caplog.at_level(logging.WARNING, logger="connectors.yot_sftp"):
        assert [f.name for f in drop.list_exports()] == ["ok.csv"]
    assert "'../../etc/passwd'" in caplog.text and "'a/b.csv'" in caplog.text
    with pytest.raises(TransferIncomplete, match="unsafe"):
        drop.fetch(RemoteFile("../secrets.csv", 1, 0), tmp_path / "x.csv")
    assert list(tmp_path.iterdir()) == []


def test_a_name_that_is_not_utf8_is_an_sftp_error_not_a_crash(sshd, sftp_endpoint, drop_dir):
    os.close(os.open(os.fsencode(sshd.sftp_root / drop_dir) + b"/caf\xe9.csv", os.O_CREAT | os.O_WRONLY))
    with open_sftp(sftp_endpoint) as sftp:
        with pytest.raises(SftpError, match="not UTF-8"):
            CaseloadDrop(sftp, drop_dir, "reading").list_exports()
        assert sftp.listdir(".")  # the session is still usable


def test_empty_file_is_fetched_as_empty(sshd, sftp_endpoint, drop_dir, tmp_path):
    (sshd.sftp_root / drop_dir / "empty.csv").write_bytes(b"")
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, drop_dir, "reading")
        fetched = drop.fetch(drop.find("empty.csv"), tmp_path / "empty.csv")
    assert fetched.local_path.read_bytes() == b"" and fetched.remote.size == 0
    assert fetched.sha256 == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("change", ["grew", "shrank"])
def test_file_changed_since_listing_is_incomplete(sshd, sftp_endpoint, drop_dir, tmp_path, change):
    path = sshd.sftp_root / drop_dir / "c.csv"
    path.write_bytes(b"x" * 100_000)
    dest = tmp_path / "c.csv"
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, drop_dir, "reading")
        remote = drop.find("c.csv")
        path.write_bytes(b"x" * (150_000 if change == "grew" else 50_000))
        with pytest.raises(TransferIncomplete, match="c.csv: changed during the download"):
            drop.fetch(remote, dest)
    assert _leftovers(dest) == []


def test_fetch_replaces_an_older_copy_only_when_complete(sshd, sftp_endpoint, drop_dir, tmp_path):
    (sshd.sftp_root / drop_dir / "c.csv").write_bytes(b"new night\n")
    dest = tmp_path / "c.csv"
    dest.write_bytes(b"last night\n")
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, drop_dir, "reading")
        with pytest.raises(TransferIncomplete):
            drop.fetch(RemoteFile("c.csv", 999, 0), dest)
        assert dest.read_bytes() == b"last night\n"
        drop.fetch(drop.find("c.csv"), dest)
    assert dest.read_bytes() == b"new night\n" and _leftovers(dest) == ["c.csv"]


# --- host keys ------------------------------------------------------------------------------------

def test_wrong_pinned_host_key_is_refused_before_any_transfer(sshd, sftp_endpoint, drop_dir, tmp_path):
    (sshd.sftp_root / drop_dir / "c.csv").write_bytes(b"personal data\n")
    endpoint = _with(sftp_endpoint, host_key=_other_host_key(tmp_path))
    dest = tmp_path / "in" / "c.csv"
    with pytest.raises(HostKeyError) as refused, open_sftp(endpoint) as sftp:
        CaseloadDrop(sftp, drop_dir, "reading").fetch(RemoteFile("c.csv", 14, 0), dest)
    assert str(refused.value).startswith(f"host key for [127.0.0.1]:{sshd.port} is not the pinned key")
    assert "nothing was transferred" in str(refused.value)
    assert not (tmp_path / "in").exists()


def test_known_hosts_file_must_list_the_server(sshd, sftp_endpoint, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port + 1} {sshd.host_public_key}\n")  # another port
    endpoint = _with(sftp_endpoint, host_key=None, known_hosts_path=str(known))
    with pytest.raises(HostKeyError, match=rf"\[127.0.0.1\]:{sshd.port} is not the pinned key"):
        with open_sftp(endpoint):
            pass
    sshd.write_known_hosts(known)
    with open_sftp(endpoint) as sftp:
        assert sftp.listdir(".") is not None


def test_endpoint_must_name_a_host_key_and_a_valid_one(sftp_endpoint):
    with pytest.raises(ValueError, match="127.0.0.1:.*host keys are always verified"):
        _with(sftp_endpoint, host_key=None, known_hosts_path=None)
    with pytest.raises(ValueError, match="<type> <base64>"):
        _with(sftp_endpoint, host_key="ssh-ed25519 not-base64!")


# --- unreachable, dropped and stalled servers -----------------------------------------------------

def test_refused_connection_is_unavailable_quickly(sftp_endpoint):
    with socket.socket() as closed:  # bound, never listening: connections to it are refused
        closed.bind(("127.0.0.1", 0))
        endpoint = _with(sftp_endpoint, port=closed.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(SftpUnavailable, match=rf"127.0.0.1:{endpoint.port}: .*ConnectionRefusedError"):
            with open_sftp(endpoint):
                pass
    assert time.monotonic() - started < 2


def test_silent_server_times_out_in_the_handshake(sftp_endpoint):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never says a word
        endpoint = _with(sftp_endpoint, port=silent.getsockname()[1], connect_timeout=1)
        started = time.monotonic()
        with pytest.raises(SftpUnavailable, match=rf"127.0.0.1:{endpoint.port}: SSHException: SSH handshake failed"):
            with open_sftp(endpoint):
                pass
    assert time.monotonic() - started < 5


def test_server_that_never_answers_the_sftp_request_times_out(sftp_endpoint, monkeypatch):
    """The one wait paramiko gives no timeout: the subsystem request. Simulate a server that never
    replies (paramiko's own wait, the request never sent), then check the deadline frees us."""
    monkeypatch.setattr(paramiko.Channel, "invoke_subsystem", lambda self, name: self._wait_for_event())
    endpoint = _with(sftp_endpoint, connect_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(SftpUnavailable, match=r"no SFTP session within 1.5 s"):
        with open_sftp(endpoint):
            pass
    assert time.monotonic() - started < 6


# paramiko's read-ahead thread dies with the session it was feeding; that is the point here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_session_killed_mid_transfer_leaves_no_partial_file(sshd, sftp_endpoint, big_export, tmp_path):
    folder, _ = big_export
    dest = tmp_path / "big.csv"
    part = dest.with_name("big.csv.part")
    killed = []

    def kill_once_bytes_arrive():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (part.exists() and part.stat().st_size > 0):
            time.sleep(0.001)
        killed.append(sshd.kill_sessions())

    started = time.monotonic()
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, folder, "reading")
        remote = drop.find("big.csv")
        killer = threading.Thread(target=kill_once_bytes_arrive)
        killer.start()
        with pytest.raises(TransferIncomplete, match=r"YOT reading: big.csv: download failed after \d+ bytes"):
            drop.fetch(remote, dest)
        killer.join()
    assert killed and killed[0] >= 1
    assert time.monotonic() - started < 10
    assert _leftovers(dest) == []
    with open_sftp(sftp_endpoint) as sftp:  # the server itself is still there
        assert CaseloadDrop(sftp, folder, "reading").find("big.csv") == remote


def test_server_stalled_mid_transfer_times_out(sshd, sftp_endpoint, big_export, tmp_path):
    folder, _ = big_export
    proxy = FaultProxy(sshd.port, fault="stall", after=4 * 1024 * 1024, direction="down")
    endpoint = _with(sftp_endpoint, port=proxy.port, channel_timeout=2)
    dest = tmp_path / "big.csv"
    outcome: list[BaseException] = []

    def download() -> None:
        try:
            with open_sftp(endpoint) as sftp:
                CaseloadDrop(sftp, folder, "reading").fetch(RemoteFile("big.csv", BIG_MB << 20, 0), dest)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=download, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=20)
    hung = worker.is_alive()
    proxy.close()
    assert not hung, "the download hung on a stalled server"
    assert time.monotonic() - started < 10
    assert len(outcome) == 1 and isinstance(outcome[0], TransferIncomplete), outcome
    assert "big.csv: download failed" in str(outcome[0]) and "TimeoutError" in str(outcome[0])
    assert _leftovers(dest) == []


# --- memory ---------------------------------------------------------------------------------------

def test_memory_stays_flat_whatever_the_file_size(sshd, sftp_endpoint, big_export, tmp_path, monkeypatch):
    """A full download, then a local disk failure mid-file (whose clean-up drains the read-ahead)."""
    folder, sha256 = big_export
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, folder, "reading")
        remote = drop.find("big.csv")
        tracemalloc.start()
        try:
            fetched = drop.fetch(remote, tmp_path / "big.csv")
            full_peak = tracemalloc.get_traced_memory()[1]
            real_stream = yot_sftp._stream

            def disk_fills(source, size, offset=0):
                for number, chunk in enumerate(real_stream(source, size, offset)):
                    if number == 3:
                        raise OSError(errno.ENOSPC, "No space left on device")
                    yield chunk

            monkeypatch.setattr(yot_sftp, "_stream", disk_fills)
            tracemalloc.reset_peak()
            with pytest.raises(TransferIncomplete, match="No space left"):
                drop.fetch(remote, tmp_path / "again.csv")
            failed_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert drop.find("big.csv") == remote  # the session survives a local failure
    assert fetched.sha256 == sha256
    assert full_peak < 12 * 1024 * 1024, full_peak           # the file is 48 MB
    assert failed_peak < 24 * 1024 * 1024, failed_peak
    assert _leftovers(tmp_path / "again.csv") == []


# --- through an Airflow connection ----------------------------------------------------------------

def test_airflow_connection_round_trip(sshd, sftp_endpoint, drop_dir, tmp_path, monkeypatch):
    (sshd.sftp_root / drop_dir / "c.csv").write_bytes(b"a,b\r\n")
    monkeypatch.setenv("HOME", str(tmp_path))  # no known_hosts: only the pinned key can vouch
    conn = airflow_connection_json(sftp_endpoint)
    assert json.loads(conn)["extra"]["host_key"] == sshd.host_public_key
    monkeypatch.setenv("AIRFLOW_CONN_TEST_YOT", conn)
    with open_sftp_from_airflow("test_yot") as sftp:
        assert sftp.get_channel().gettimeout() == 60
        drop = CaseloadDrop(sftp, drop_dir, "test")
        fetched = drop.fetch(drop.find("c.csv"), tmp_path / "c.csv")
    assert fetched.local_path.read_bytes() == b"a,b\r\n"
    assert fetched.sha256 == hashlib.sha256(b"a,b\r\n").hexdigest()


def test_airflow_connection_with_wrong_pinned_key_is_refused(sftp_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    wrong = _with(sftp_endpoint, host_key=_other_host_key(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_TEST_YOT_WRONG", airflow_connection_json(wrong))
    with pytest.raises(HostKeyError, match=rf"host key for \[127.0.0.1\]:{sftp_endpoint.port} is not"):
        with open_sftp_from_airflow("test_yot_wrong", connect_attempts=1):
            pass


def test_airflow_connection_may_rely_on_the_workers_known_hosts(sshd, sftp_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    conn = json.loads(airflow_connection_json(sftp_endpoint))
    del conn["extra"]["host_key"]
    monkeypatch.setenv("AIRFLOW_CONN_TEST_YOT_KNOWN", json.dumps(conn))
    with pytest.raises(HostKeyError, match=r"must pin .* or the worker's ~/.ssh/known_hosts must list"):
        with open_sftp_from_airflow("test_yot_known"):
            pass
    sshd.write_known_hosts(tmp_path / ".ssh" / "known_hosts")
    with open_sftp_from_airflow("test_yot_known") as sftp:
        assert sftp.listdir(".") is not None


def test_airflow_connection_that_skips_host_key_checks_is_refused(sftp_endpoint, monkeypatch):
    for flag in ("no_host_key_check", "allow_host_key_change"):
        monkeypatch.setenv("AIRFLOW_CONN_TEST_YOT_UNPINNED", json.dumps({
            "conn_type": "sftp", "host": "127.0.0.1", "port": sftp_endpoint.port, "login": "x",
            "extra": {flag: True}}))
        with pytest.raises(HostKeyError, match="must pin"):
            with open_sftp_from_airflow("test_yot_unpinned"):
                pass


def test_known_hosts_endpoint_is_pinned_in_the_airflow_connection(sshd, sftp_endpoint, tmp_path):
    known = sshd.write_known_hosts(tmp_path / "known_hosts")
    endpoint = _with(sftp_endpoint, host_key=None, known_hosts_path=str(known))
    assert json.loads(airflow_connection_json(endpoint))["extra"]["host_key"] == sshd.host_public_key
    with pytest.raises(ValueError, match="is not in"):
        airflow_connection_json(_with(endpoint, port=sshd.port + 1))


# --- several YOTs, each its own Unix account and chrooted folder (tests/fixtures/sshd.py) ---------

def test_each_yot_account_sees_only_its_own_folder(yot_sshd, tmp_path):
    """Reading's account cannot list, read or write Oxfordshire's folder by any path: its session is
    chrooted to its own folder, and Oxfordshire's folders are Oxfordshire's account's, mode 0700."""
    yot_sshd.empty_folders()
    reading, oxon = yot_sshd.folder("reading"), yot_sshd.folder("oxfordshire")
    (reading / "caseload_reading_20261124.csv").write_bytes(b"reading's\r\n")
    (oxon / "caseload_oxfordshire_20261124.csv").write_bytes(b"oxfordshire's children\r\n")
    other = "caseload_oxfordshire_20261124.csv"
    ways_in = ["../oxfordshire/outbox", "/../oxfordshire/outbox", "/../../oxfordshire/outbox",
               str(oxon), str(oxon.relative_to("/")), f"/proc/self/root{oxon}"]
    with open_sftp(yot_sshd.endpoint("reading")) as sftp:
        assert sorted(sftp.listdir("/")) == ["archive", "inbox", "outbox"]
        assert sorted(sftp.listdir("..")) == ["archive", "inbox", "outbox"]  # / is the top
        drop = CaseloadDrop(sftp, "/outbox", "reading")
        assert [f.name for f in drop.list_exports()] == ["caseload_reading_20261124.csv"]
        assert drop.fetch(drop.find("caseload_reading_20261124.csv"),
                          tmp_path / "r.csv").local_path.read_bytes() == b"reading's\r\n"
        for path in ways_in:
            with pytest.raises(FileNotFoundError):
                sftp.listdir(path)
            with pytest.raises(FileNotFoundError):
                sftp.open(f"{path}/{other}", "rb")
            with pytest.raises(SftpUnavailable, match="cannot list"):
                CaseloadDrop(sftp, path, "reading").list_exports()
            with pytest.raises(OSError):
                sftp.open(f"{path}/dropped-in.csv", "wb")
    assert sorted(os.listdir(oxon)) == [other]
    # Without the chroot, Unix permissions alone would still stop Reading's account.
    uid = pwd.getpwnam(yot_sshd.account("reading")).pw_uid
    for target in (oxon, yot_sshd.folder("oxfordshire", "inbox")):
        probe = subprocess.run(["ls", str(target)], user=uid, group=pwd.getpwnam(
            yot_sshd.account("reading")).pw_gid, extra_groups=[], capture_output=True, text=True)
        assert probe.returncode != 0 and "Permission denied" in probe.stderr, probe
    # Its key does not open another YOT's account either.
    borrowed = yot_sshd.endpoint("oxfordshire", private_key_path=str(yot_sshd.key_path("reading")))
    with pytest.raises(SftpUnavailable, match="authentication refused"):
        with open_sftp(borrowed):
            pass


def test_several_yots_each_with_its_own_account_fetch_and_upload(yot_sshd, tmp_path):
    """The same folder names for every YOT ("/outbox", "/inbox"), each its own account: each gets
    its own file, and what we upload lands in its own inbox, owned by its own account."""
    yot_sshd.empty_folders()
    sent = {}
    for yot_id in ("reading", "oxfordshire", "slough"):
        sent[yot_id] = f"YOT Case ID\r\n{yot_id}-1\r\n".encode()
        (yot_sshd.folder(yot_id) / "caseload.csv").write_bytes(sent[yot_id])
        source = tmp_path / f"referrals_{yot_id}.csv"
        source.write_bytes(f"Police Referral Ref\r\n{yot_id}-R1\r\n".encode())
        with open_sftp(yot_sshd.endpoint(yot_id)) as sftp:
            drop = CaseloadDrop(sftp, "/outbox", yot_id)
            fetched = drop.fetch(drop.find("caseload.csv"), tmp_path / yot_id / "caseload.csv")
            yot_sftp.upload(sftp, "/inbox", source.name, source, yot_id)
        assert fetched.local_path.read_bytes() == sent[yot_id]
        landed = yot_sshd.folder(yot_id, "inbox") / source.name
        assert landed.read_bytes() == source.read_bytes()
        assert landed.stat().st_uid == pwd.getpwnam(yot_sshd.account(yot_id)).pw_uid
    for yot_id in sent:
        assert os.listdir(yot_sshd.folder(yot_id, "inbox")) == [f"referrals_{yot_id}.csv"]
