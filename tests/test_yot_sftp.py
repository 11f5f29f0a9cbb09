"""The YOT SFTP connector against a real OpenSSH sshd on loopback."""
import hashlib
import os
import threading
import time
import uuid

import pytest

from connectors.yot_sftp import (CaseloadDrop, HostKeyError, SftpEndpoint, SftpError, SftpUnavailable,
                                 airflow_connection_json, open_sftp, open_sftp_from_airflow)
from demo.mailsink import free_port


@pytest.fixture
def drop_dir(sshd):
    """A fresh export folder for one YOT, relative to the server's start directory."""
    name = f"yot-{uuid.uuid4().hex[:8]}/outbox"
    (sshd.sftp_root / name).mkdir(parents=True)
    return name


def test_lists_complete_files_and_fetches_with_checksum(sshd, sftp_endpoint, drop_dir, tmp_path):
    folder = sshd.sftp_root / drop_dir
    data = "YOT Case ID,Surname\r\nC1,O'Brien\r\nC2,Zoë\r\n".encode("utf-8")
    (folder / "caseload_reading_20261124.csv").write_bytes(data)
    (folder / "caseload_reading_20261125.csv.part").write_bytes(b"half")
    (folder / "caseload.tmp").write_bytes(b"x")
    (folder / "line\nbreak.csv").write_bytes(b"x")
    (folder / "subfolder").mkdir()
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, drop_dir, "reading")
        assert [f.name for f in drop.list_exports()] == ["caseload_reading_20261124.csv"]
        assert drop.find("caseload_reading_20261125.csv") is None
        fetched = drop.fetch(drop.find("caseload_reading_20261124.csv"), tmp_path / "in" / "c.csv")
    assert fetched.local_path.read_bytes() == data
    assert fetched.sha256 == hashlib.sha256(data).hexdigest()
    assert fetched.remote.size == len(data)
    assert not list((tmp_path / "in").glob("*.part"))


def test_empty_file_is_fetched_as_empty(sshd, sftp_endpoint, drop_dir, tmp_path):
    (sshd.sftp_root / drop_dir / "empty.csv").write_bytes(b"")
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, drop_dir, "reading")
        fetched = drop.fetch(drop.find("empty.csv"), tmp_path / "empty.csv")
    assert fetched.local_path.read_bytes() == b"" and fetched.remote.size == 0


def test_wrong_pinned_host_key_is_refused_before_any_transfer(sshd, sftp_endpoint, tmp_path):
    other = tmp_path / "other_key"
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {other}")
    wrong = " ".join(other.with_suffix(".pub").read_text().split()[:2])
    endpoint = SftpEndpoint(**{**sftp_endpoint.__dict__, "host_key": wrong})
    with pytest.raises(HostKeyError, match="nothing was transferred"):
        with open_sftp(endpoint):
            pass


def test_unknown_host_in_known_hosts_is_refused(sshd, sftp_endpoint, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    endpoint = SftpEndpoint(**{**sftp_endpoint.__dict__, "host_key": None, "known_hosts_path": str(known)})
    with pytest.raises(HostKeyError, match="not the pinned key"):
        with open_sftp(endpoint):
            pass
    endpoint = SftpEndpoint(**{**sftp_endpoint.__dict__, "host_key": None,
                               "known_hosts_path": str(sshd.write_known_hosts(known))})
    with open_sftp(endpoint) as sftp:
        assert sftp.listdir(".") is not None


def test_no_host_key_at_all_is_not_allowed(sftp_endpoint):
    with pytest.raises(ValueError, match="host keys are always verified"):
        SftpEndpoint(**{**sftp_endpoint.__dict__, "host_key": None, "known_hosts_path": None})


def test_refused_connection_is_unavailable_quickly(sftp_endpoint):
    endpoint = SftpEndpoint(**{**sftp_endpoint.__dict__, "port": free_port(), "connect_timeout": 3})
    started = time.monotonic()
    with pytest.raises(SftpUnavailable):
        with open_sftp(endpoint):
            pass
    assert time.monotonic() - started < 10


# paramiko's prefetch thread dies with the session it was reading from; that is the point here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_dropped_session_mid_transfer_leaves_no_partial_file(sshd, sftp_endpoint, drop_dir, tmp_path):
    big = sshd.sftp_root / drop_dir / "big.csv"
    with open(big, "wb") as fh:
        for _ in range(64):
            fh.write(os.urandom(1024 * 1024))
    dest = tmp_path / "big.csv"
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, drop_dir, "reading")
        remote = drop.find("big.csv")
        killer = threading.Thread(target=lambda: (_wait_for(dest.with_name("big.csv.part")),
                                                  sshd.kill_sessions()))
        killer.start()
        with pytest.raises(SftpError):
            drop.fetch(remote, dest)
        killer.join()
    assert not dest.exists() and not dest.with_name("big.csv.part").exists()


def _wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (path.exists() and path.stat().st_size > 0):
        time.sleep(0.001)


def test_airflow_connection_round_trip(sshd, sftp_endpoint, drop_dir, tmp_path, monkeypatch):
    (sshd.sftp_root / drop_dir / "c.csv").write_bytes(b"a,b\r\n")
    monkeypatch.setenv("AIRFLOW_CONN_TEST_YOT", airflow_connection_json(sftp_endpoint))
    with open_sftp_from_airflow("test_yot") as sftp:
        drop = CaseloadDrop(sftp, drop_dir, "test")
        assert drop.fetch(drop.find("c.csv"), tmp_path / "c.csv").local_path.read_bytes() == b"a,b\r\n"


def test_airflow_connection_without_pinned_key_is_refused(sftp_endpoint, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEST_YOT_UNPINNED", (
        '{"conn_type": "sftp", "host": "127.0.0.1", "port": %d, "login": "x", '
        '"extra": {"no_host_key_check": true}}') % sftp_endpoint.port)
    with pytest.raises(HostKeyError, match="must pin"):
        with open_sftp_from_airflow("test_yot_unpinned"):
            pass
