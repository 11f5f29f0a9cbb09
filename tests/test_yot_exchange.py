"""The YOT exchange as the night runs it: picking, ledger, archive, retries and the referral upload,
against the real sshd (tests/fixtures/sshd.py) and a real SQLite state database."""
import dataclasses
import hashlib
import logging
import os
import pwd
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore
from connectors.yot_exchange import (
    collect_export,
    deliver_file,
    name_regex,
    select_export,
    with_retries,
)
from connectors.yot_sftp import (
    CaseloadDrop,
    HostKeyError,
    SftpUnavailable,
    TransferIncomplete,
    open_sftp,
    upload,
)
from pipeline import queries, steps
from pipeline.context import NightlyRun
from pipeline.resources import Resources
from schemas.config import SchemeConfig, load_config
from tests.fixtures.sshd import FaultProxy
from transforms.referral_export import referral_csv

NIGHT = date(2026, 11, 24)
PATTERN = "caseload_{yot}_{date:%Y%m%d}.csv"


# --- helpers ---------------------------------------------------------------------------------------

def _caseload_bytes(config: SchemeConfig, *case_ids: str, surname: str = "Test") -> bytes:
    values = {"case_id": "", "referral_ref": "", "pnc_id": "", "forename": "Amy", "surname": surname,
              "date_of_birth": "01/02/2010", "gender": "Female", "postcode": "RG1 1AA",
              "referral_received": "01/11/2026", "first_contact": "", "assessment_date": "",
              "sessions_offered": "0", "sessions_attended": "0", "status": "Referred",
              "status_date": "01/11/2026"}
    columns = config.caseload.columns
    lines = [",".join(columns.values())]
    lines += [",".join((values | {"case_id": cid})[f] for f in columns) for cid in case_ids]
    return ("\r\n".join(lines) + "\r\n").encode()


def _config(base: str, yots: dict[str, dict], **transfer) -> SchemeConfig:
    """The shipped configuration cut down to `yots`, each in its own folder under `base`."""
    raw = load_config().model_dump(by_alias=True)
    plain = {"inbox_dir": None, "archive_dir": None, "companion": "none"}  # only what a test asks for
    raw["yots"] = {y: raw["yots"][y] | plain | {"export_dir": f"{base}/{y}/outbox"} | {
        k: (f"{base}/{y}/{k.removesuffix('_dir')}" if v is True else v) for k, v in extra.items()}
        for y, extra in yots.items()}
    raw["areas"] = {a: v for a, v in raw["areas"].items() if v["default_yot"] in yots}
    raw["caseload"]["transfer"] = {"attempts": 2, "backoff_seconds": 0.05, "settle_seconds": 0} | transfer
    return SchemeConfig.model_validate(raw)


@dataclasses.dataclass
class Exchange:
    """A night's world for the exchange: configuration, state database, the server's folders."""
    res: Resources
    sftp_root: Path
    endpoints: dict  # the endpoint each YOT's sessions use: change it to take a server down or up
    good: object     # the real server's endpoint

    def folder(self, yot_id: str, kind: str = "outbox") -> Path:
        path = self.sftp_root / self.res.config.yots[yot_id].export_dir.replace("/outbox", f"/{kind}")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(self, run_id: str = "run-1", night: date = NIGHT) -> NightlyRun:
        run = NightlyRun.plan(run_id, night, "Europe/London", root=self.res.data_dir)
        steps.start_run(self.res, run)
        return run

    def events(self, run: NightlyRun) -> dict[tuple[str, str], str]:
        with self.res.state.engine.connect() as conn:
            rows = conn.execute(sa.select(db.file_events).where(db.file_events.c.run_id == run.run_id)).all()
        return {(r.yot_id, r.event): r.detail for r in rows}

    def table(self, table: sa.Table) -> pd.DataFrame:
        with self.res.state.engine.connect() as conn:
            result = conn.execute(sa.select(table))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


@pytest.fixture
def exchange(sshd, sftp_endpoint, tmp_path):
    def make(yots: dict[str, dict], endpoints: dict | None = None, **transfer) -> Exchange:
        base = f"x-{uuid.uuid4().hex[:8]}"
        config = _config(base, yots, **transfer)
        chosen = {y: sftp_endpoint for y in yots} | (endpoints or {})
        res = Resources(config=config, state=StateStore(f"sqlite:///{tmp_path / 'state.db'}"),
                        records=None, open_sftp=lambda yot_id: open_sftp(chosen[yot_id]), mailer=None,
                        data_dir=tmp_path / "data")
        res.state.migrate()
        ex = Exchange(res, sshd.sftp_root, chosen, sftp_endpoint)
        for yot_id in yots:
            ex.folder(yot_id)
        return ex
    return make


def _write(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    return folder / name


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- picking the night's file by pattern and date --------------------------------------------------

def test_name_pattern_matches_any_night_of_this_yot_only():
    regex = name_regex(PATTERN, "reading")
    assert regex.match("caseload_reading_20261124.csv") and regex.match("caseload_reading_20251231.csv")
    for name in ("caseload_slough_20261124.csv", "caseload_reading_2026-11-24.csv",
                 "caseload_reading_20261124.csv.bak", "xcaseload_reading_20261124.csv",
                 "caseload_reading_20261124csv"):
        assert not regex.match(name), name
    assert name_regex("{yot}-{date:%d%b%Y}.CSV", "mk").match("mk-24Nov2026.CSV")


def test_happy_path_for_several_yots_each_in_its_own_folder(exchange):
    ex = exchange({"reading": {}, "oxfordshire": {}, "slough": {}}, settle_seconds=0.2)
    config = ex.res.config
    sent = {}
    for yot_id in ("reading", "oxfordshire"):
        sent[yot_id] = _write(ex.folder(yot_id), config.caseload.file_name(yot_id, NIGHT),
                              _caseload_bytes(config, f"{yot_id}-1", f"{yot_id}-2")).read_bytes()
        _write(ex.folder(yot_id), config.caseload.file_name(yot_id, NIGHT - timedelta(days=1)), b"old")
    _write(ex.folder("reading"), "caseload_oxfordshire_20261124.csv", b"another YOT's name")
    run = ex.run()
    assert steps.fetch_caseloads(ex.res, run) == {"reading": "fetched", "oxfordshire": "fetched",
                                                  "slough": "missing"}
    for yot_id, data in sent.items():
        staged = run.staged(f"caseloads/{yot_id}/{config.caseload.file_name(yot_id, NIGHT)}")
        assert staged.read_bytes() == data
    assert _leftovers(run.staging_dir / "caseloads") == sorted(
        config.caseload.file_name(y, NIGHT) for y in sent)
    ledger = ex.table(db.processed_files)
    assert sorted(zip(ledger["yot_id"], ledger["sha256"])) == sorted(
        (y, hashlib.sha256(d).hexdigest()) for y, d in sent.items())
    assert ex.events(run)[("reading", "refused_name")] == "unsafe, or not the export name pattern"
    with ex.res.state.engine.connect() as conn:
        (refused,) = conn.execute(sa.select(db.file_events.c.file_name).where(
            db.file_events.c.event == "refused_name")).scalars()
    assert refused == "'caseload_oxfordshire_20261124.csv'"
    assert steps.validate_caseloads(ex.res, run)["caseload:reading"] == {"read": 2, "valid": 2, "quarantined": 0}


def test_happy_path_for_several_yots_each_with_its_own_account(yot_sshd, tmp_path):
    """The night against one server where each YOT is its own Unix account, chrooted to its own
    folder (tests/fixtures/sshd.py): every YOT's configuration says "/outbox", "/inbox" and
    "/archive", and the account alone decides whose folder that is."""
    yot_sshd.empty_folders()
    raw = _config("unused", {"reading": {}, "oxfordshire": {}, "slough": {}}).model_dump(by_alias=True)
    for yot in raw["yots"].values():
        yot.update(export_dir="/outbox", inbox_dir="/inbox", archive_dir="/archive")
    config = SchemeConfig.model_validate(raw)
    res = Resources(config=config, state=StateStore(f"sqlite:///{tmp_path / 'state.db'}"), records=None,
                    open_sftp=lambda yot_id: open_sftp(yot_sshd.endpoint(yot_id)), mailer=None,
                    data_dir=tmp_path / "data")
    res.state.migrate()
    ex = Exchange(res, yot_sshd.chroot_root, {}, None)
    sent = {}
    for yot_id in ("reading", "oxfordshire"):
        name = config.caseload.file_name(yot_id, NIGHT)
        sent[yot_id] = _write(yot_sshd.folder(yot_id), name, _caseload_bytes(config, f"{yot_id}-1")).read_bytes()
    _add_referrals(res, "reading", NIGHT, "R1")
    _add_referrals(res, "slough", NIGHT, "S1", "S2")
    run = ex.run()
    assert steps.fetch_caseloads(res, run) == {"reading": "fetched", "oxfordshire": "fetched", "slough": "missing"}
    for yot_id, data in sent.items():
        assert run.staged(f"caseloads/{yot_id}/{config.caseload.file_name(yot_id, NIGHT)}").read_bytes() == data
    steps.validate_caseloads(res, run)
    assert steps.upload_referrals(res, run) == {"reading": "uploaded", "oxfordshire": "uploaded",
                                                "slough": "uploaded"}
    for yot_id in ("reading", "oxfordshire", "slough"):
        uid = pwd.getpwnam(yot_sshd.account(yot_id)).pw_uid
        assert os.listdir(yot_sshd.folder(yot_id)) == []
        assert os.listdir(yot_sshd.folder(yot_id, "archive")) == (
            [config.caseload.file_name(yot_id, NIGHT)] if yot_id in sent else [])
        (inbox,) = yot_sshd.folder(yot_id, "inbox").iterdir()
        assert inbox.name == config.caseload.referral_file_name(yot_id, NIGHT) and inbox.stat().st_uid == uid
        refs = list(pd.read_csv(inbox, dtype=str, encoding="utf-8-sig")["Police Referral Ref"])
        assert refs == {"reading": ["R1"], "oxfordshire": [], "slough": ["S1", "S2"]}[yot_id]


def test_files_still_being_written_are_not_taken(exchange, sshd, sftp_endpoint):
    ex = exchange({"reading": {}, "oxfordshire": {}})
    config = ex.res.config
    reading, oxon = (config.caseload.file_name(y, NIGHT) for y in ("reading", "oxfordshire"))
    _write(ex.folder("reading"), reading + ".part", b"half a fi")
    path = _write(ex.folder("oxfordshire"), oxon, b"YOT Case ID\r\n")
    with open_sftp(sftp_endpoint) as sftp:
        drop = CaseloadDrop(sftp, config.yots["reading"].export_dir, "reading")
        chosen = select_export(drop, wanted=reading, pattern=name_regex(PATTERN, "reading"),
                               companion="none", settle_seconds=0)
        assert (chosen.status, chosen.detail) == ("not_ready", f"still being written ({reading}.part)")

        def writer_appends(seconds):  # the YOT's writer is still going between our two listings
            with open(path, "ab") as fh:
                fh.write(b"C1\r\n")

        drop = CaseloadDrop(sftp, config.yots["oxfordshire"].export_dir, "oxfordshire")
        chosen = select_export(drop, wanted=oxon, pattern=name_regex(PATTERN, "oxfordshire"),
                               companion="none", settle_seconds=1.5, sleep=writer_appends)
        assert chosen.status == "not_ready" and "changed between two listings 1.5 s apart" in chosen.detail
        still = select_export(drop, wanted=oxon, pattern=name_regex(PATTERN, "oxfordshire"),
                              companion="none", settle_seconds=0.2)
        assert still.status == "ready" and still.remote.size == len(b"YOT Case ID\r\nC1\r\n")


def test_companion_done_and_checksum_files(exchange):
    ex = exchange({"reading": {"companion": "done"}, "oxfordshire": {"companion": "sha256"},
                   "milton_keynes": {"companion": "sha256"}})
    config = ex.res.config
    data = {y: _caseload_bytes(config, f"{y}-1") for y in config.yots}
    for yot_id, body in data.items():
        _write(ex.folder(yot_id), config.caseload.file_name(yot_id, NIGHT), body)
    oxon = config.caseload.file_name("oxfordshire", NIGHT)
    _write(ex.folder("oxfordshire"), oxon + ".sha256",
           f"{hashlib.sha256(data['oxfordshire']).hexdigest()}  {oxon}\n".encode())
    mk = config.caseload.file_name("milton_keynes", NIGHT)
    _write(ex.folder("milton_keynes"), mk + ".sha256", f"{'0' * 64}  {mk}\n".encode())
    run = ex.run()
    assert steps.fetch_caseloads(ex.res, run) == {
        "reading": "not_ready", "oxfordshire": "fetched", "milton_keynes": "failed"}
    events = ex.events(run)
    assert events[("reading", "not_ready")] == f"waiting for its companion {config.caseload.file_name('reading', NIGHT)}.done"
    assert f"{mk}: SHA-256 {hashlib.sha256(data['milton_keynes']).hexdigest()} is not the {'0' * 64}" in \
        events[("milton_keynes", "failed")]
    assert not run.staged(f"caseloads/milton_keynes/{mk}").exists()
    assert _leftovers(run.staging_dir / "caseloads") == [oxon]
    _write(ex.folder("reading"), config.caseload.file_name("reading", NIGHT) + ".done", b"")
    assert steps.fetch_caseloads(ex.res, ex.run("run-2"))["reading"] == "fetched"


# --- the ledger: never twice, a changed re-send noticed ---------------------------------------------

def test_same_file_is_never_processed_twice_and_a_changed_resend_is_reported(exchange):
    ex = exchange({"reading": {}})
    config = ex.res.config
    name = config.caseload.file_name("reading", NIGHT)
    path = _write(ex.folder("reading"), name, _caseload_bytes(config, "C1", "C2"))
    first = ex.run("run-1")
    assert steps.fetch_caseloads(ex.res, first) == {"reading": "fetched"}
    steps.validate_caseloads(ex.res, first)

    again = ex.run("run-2")
    assert steps.fetch_caseloads(ex.res, again) == {"reading": "already_processed"}
    assert not run_file(again, name).exists()  # not even downloaded: same name, size and time
    assert steps.validate_caseloads(ex.res, again) == {}
    assert len(ex.table(db.processed_files)) == 1

    path.write_bytes(_caseload_bytes(config, "C1", "C3", surname="Other"))  # re-sent, same name
    third = ex.run("run-3")
    assert steps.fetch_caseloads(ex.res, third) == {"reading": "fetched"}
    detail = ex.events(third)[("reading", "resent_changed")]
    assert f"{name} was sent again with other content" in detail and "run run-1" in detail
    steps.validate_caseloads(ex.res, third)
    rows = ex.table(db.caseload_rows)
    assert sorted(rows["case_id"]) == ["C1", "C3"] and set(rows["surname"]) == {"Other"}
    assert len(ex.table(db.processed_files)) == 2
    summary = steps.summarise_run(ex.res.state, "run-3")
    assert any("resent_changed" in w for w in summary["YOT file warnings"])


def run_file(run: NightlyRun, name: str) -> Path:
    return run.staging_dir / "caseloads" / "reading" / name


def test_empty_export_is_fetched_then_quarantined_as_a_file(exchange):
    ex = exchange({"reading": {}})
    name = ex.res.config.caseload.file_name("reading", NIGHT)
    _write(ex.folder("reading"), name, b"")
    run = ex.run()
    assert steps.fetch_caseloads(ex.res, run) == {"reading": "fetched"}
    steps.validate_caseloads(ex.res, run)
    held = ex.table(db.quarantine)
    assert list(held["source_key"]) == [name] and "the file is empty" in held["reasons"].iloc[0]


def test_processed_files_are_archived_on_the_server_when_configured(exchange):
    ex = exchange({"reading": {"archive_dir": True, "companion": "done"}, "oxfordshire": {}})
    config = ex.res.config
    archive = ex.sftp_root / config.yots["reading"].archive_dir  # created by the first archiving
    name = config.caseload.file_name("reading", NIGHT)
    _write(ex.folder("reading"), name, _caseload_bytes(config, "C1"))
    _write(ex.folder("reading"), name + ".done", b"")
    oxon = _write(ex.folder("oxfordshire"), config.caseload.file_name("oxfordshire", NIGHT),
                  _caseload_bytes(config, "O1"))
    run = ex.run()
    steps.fetch_caseloads(ex.res, run)
    assert (ex.folder("reading") / name).exists()  # archived once processed, not before
    steps.validate_caseloads(ex.res, run)
    assert sorted(p.name for p in ex.folder("reading").iterdir()) == []
    assert sorted(p.name for p in archive.iterdir()) == [name, name + ".done"]
    assert oxon.exists()  # no archive folder configured: left where it was
    rerun = ex.run("run-2")
    assert steps.fetch_caseloads(ex.res, rerun)["reading"] == "already_processed"


# --- retries, resumption, a server down -------------------------------------------------------------

def test_backoff_doubles_and_only_transient_failures_are_retried():
    slept, calls = [], []

    def flaky(attempt):
        calls.append(attempt)
        if attempt < 3:
            raise TransferIncomplete("dropped", transient=True)
        return "ok"

    assert with_retries(flaky, attempts=3, backoff_seconds=0.5, label="t", sleep=slept.append) == "ok"
    assert calls == [1, 2, 3] and slept == [0.5, 1.0]

    def always_down(attempt):
        raise SftpUnavailable("127.0.0.1:1: cannot connect")

    with pytest.raises(SftpUnavailable, match=r"cannot connect \(gave up after 3 attempts\)"):
        with_retries(always_down, attempts=3, backoff_seconds=0, label="t", sleep=slept.append)
    for final in (HostKeyError("changed key"), TransferIncomplete("bad checksum")):
        calls.clear()
        with pytest.raises(type(final)):
            with_retries(lambda n, e=final: calls.append(n) or (_ for _ in ()).throw(e), attempts=3,
                         backoff_seconds=0, label="t", sleep=slept.append)
        assert calls == [1]


@pytest.fixture(scope="module")
def big_export(sshd):
    folder = sshd.sftp_root / f"bigx-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    data = bytes(range(256)) * (4 * 16 * 1024 * 16)  # 16 MiB, not all zeros
    (folder / "caseload_reading_20261124.csv").write_bytes(data)
    return folder.name, hashlib.sha256(data).hexdigest(), len(data)


@pytest.mark.parametrize("fault", ["reset", "stall"])
def test_a_transfer_cut_off_midway_is_retried_and_resumed(sshd, sftp_endpoint, big_export, tmp_path,
                                                          fault, caplog):
    folder, sha256, size = big_export
    with FaultProxy(sshd.port, fault=fault, after=6 * 1024 * 1024) as proxy:
        endpoint = dataclasses.replace(sftp_endpoint, port=proxy.port, channel_timeout=1.5)
        dest = tmp_path / "in" / "caseload_reading_20261124.csv"
        with caplog.at_level(logging.INFO, logger="connectors"):
            got = collect_export(lambda: open_sftp(endpoint), yot_id="reading", export_dir=folder,
                                 wanted=dest.name, pattern=name_regex(PATTERN, "reading"), companion="none",
                                 dest=dest, attempts=3, backoff_seconds=0.05, settle_seconds=0)
    assert (got.status, got.attempts, proxy.faults) == ("fetched", 2, 1)
    assert got.fetched.sha256 == sha256 and hashlib.sha256(dest.read_bytes()).hexdigest() == sha256
    resumed = [r.getMessage() for r in caplog.records if "resumed at" in r.getMessage()]
    assert resumed and int(resumed[0].split("resumed at ")[1].rstrip(")")) > 0
    assert "attempt 1 of 3 failed" in caplog.text
    assert _leftovers(dest.parent) == [dest.name]


def test_after_the_last_attempt_a_clear_error_and_nothing_left(sshd, sftp_endpoint, big_export, tmp_path):
    folder, _, _ = big_export
    with FaultProxy(sshd.port, fault="reset", after=3 * 1024 * 1024, faulty=99) as proxy:
        endpoint = dataclasses.replace(sftp_endpoint, port=proxy.port)
        dest = tmp_path / "in" / "caseload_reading_20261124.csv"
        with pytest.raises(TransferIncomplete, match=r"caseload_reading_20261124.csv: download failed after "
                           r"\d+ bytes: .* \(gave up after 2 attempts\)"):
            collect_export(lambda: open_sftp(endpoint), yot_id="reading", export_dir=folder,
                           wanted=dest.name, pattern=name_regex(PATTERN, "reading"), companion="none",
                           dest=dest, attempts=2, backoff_seconds=0.05, settle_seconds=0)
    assert proxy.faults == 2
    assert _leftovers(dest.parent) == []


@pytest.fixture
def refusing_endpoint(sftp_endpoint):
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        yield dataclasses.replace(sftp_endpoint, port=closed.getsockname()[1])


def test_a_yot_whose_server_refuses_does_not_stop_the_others_and_is_reported_stale(exchange, refusing_endpoint):
    ex = exchange({"reading": {}, "slough": {}}, endpoints={"slough": refusing_endpoint},
                  attempts=3, backoff_seconds=0.05)
    config = ex.res.config
    earlier = NIGHT - timedelta(days=3)
    for night in (earlier, NIGHT):
        for yot_id in ("reading", "slough"):
            _write(ex.folder(yot_id), config.caseload.file_name(yot_id, night), _caseload_bytes(config, "C1"))
    ex.endpoints["slough"] = ex.good                # up three nights ago
    old = ex.run("run-old", earlier)
    steps.fetch_caseloads(ex.res, old)
    steps.validate_caseloads(ex.res, old)
    ex.endpoints["slough"] = refusing_endpoint       # down tonight
    run = ex.run("run-tonight")
    started = time.monotonic()
    assert steps.fetch_caseloads(ex.res, run) == {"reading": "fetched", "slough": "unavailable"}
    assert time.monotonic() - started < 10
    assert "ConnectionRefusedError" in ex.events(run)[("slough", "unavailable")]
    assert "gave up after 3 attempts" in ex.events(run)[("slough", "unavailable")]
    steps.validate_caseloads(ex.res, run)
    assert queries.stale_yots(ex.res.state, ex.res.config, run.night) == {"slough": earlier}
    summary = steps.summarise_run(ex.res.state, run.run_id)
    assert any(w.startswith("slough: ") and "unavailable" in w for w in summary["YOT file warnings"])


# --- referrals to each YOT --------------------------------------------------------------------------

def _add_referrals(res: Resources, yot_id: str, night: date, *refs: str) -> None:
    stops, referrals = [], []
    for ref in refs:
        stops.append({"stop_ref": f"S-{ref}", "stop_time": pd.Timestamp(night, tz="UTC").to_pydatetime(),
                      "area": "Reading", "person_id": f"P-{ref}", "pnc_id": None, "forename": "=cmd|x",
                      "surname": f"Surname {ref}", "date_of_birth": date(2010, 2, 1), "gender": "Female",
                      "postcode": "RG1 1AA", "last_modified": pd.Timestamp(night, tz="UTC").to_pydatetime(),
                      "run_id": "setup"})
        referrals.append({"referral_ref": ref, "stop_ref": f"S-{ref}", "person_id": f"P-{ref}",
                          "yot_id": yot_id, "area": "Reading", "referral_date": night,
                          "previous_referral_ref": None, "run_id": "setup"})
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.stops, stops)
        res.state.upsert(conn, db.referrals, referrals)


def test_each_yot_gets_its_new_referrals_once_a_night(exchange):
    ex = exchange({"reading": {"inbox_dir": True}, "slough": {"inbox_dir": True}, "oxfordshire": {}})
    inbox = {y: ex.folder(y, "inbox") for y in ("reading", "slough")}
    _add_referrals(ex.res, "reading", NIGHT, "R2", "R1")
    _add_referrals(ex.res, "slough", NIGHT, "S1")
    _add_referrals(ex.res, "reading", NIGHT + timedelta(days=1), "R3")  # not yet: tomorrow's
    run = ex.run()
    assert steps.upload_referrals(ex.res, run) == {"reading": "uploaded", "slough": "uploaded"}
    name = ex.res.config.caseload.referral_file_name("reading", NIGHT)
    assert sorted(p.name for p in inbox["reading"].iterdir()) == [name]
    sent = (inbox["reading"] / name).read_bytes()
    frame = pd.read_csv(inbox["reading"] / name, dtype=str, encoding="utf-8-sig")
    assert list(frame["Police Referral Ref"]) == ["R1", "R2"]
    assert set(frame["Forename"]) == {"'=cmd|x"}  # a spreadsheet formula arrives as text
    assert list(frame["Date of Birth"]) == ["01/02/2010"] * 2

    for rerun in ("run-1", "manual-rerun"):  # a retry and a manual re-run send nothing new
        assert steps.upload_referrals(ex.res, ex.run(rerun))["reading"] == "already_uploaded"
    assert sorted(p.name for p in inbox["reading"].iterdir()) == [name]
    assert (inbox["reading"] / name).read_bytes() == sent
    uploads = ex.table(db.referral_uploads)
    assert sorted(uploads["status"]) == ["uploaded", "uploaded"]
    assert uploads.set_index("yot_id").at["reading", "sha256"] == hashlib.sha256(sent).hexdigest()
    with ex.res.state.engine.connect() as conn:
        disclosures = conn.execute(sa.select(db.processing_log.c.subject).where(
            db.processing_log.c.operation == "disclosure")).scalars().all()
    assert sorted(disclosures) == [f"referrals file {name}: R1, R2",
                                   f"referrals file {ex.res.config.caseload.referral_file_name('slough', NIGHT)}: S1"]

    tomorrow = ex.run("run-2", NIGHT + timedelta(days=1))
    steps.upload_referrals(ex.res, tomorrow)
    second = pd.read_csv(inbox["reading"] / ex.res.config.caseload.referral_file_name(
        "reading", NIGHT + timedelta(days=1)), dtype=str, encoding="utf-8-sig")
    assert list(second["Police Referral Ref"]) == ["R3"]


def test_an_upload_that_cannot_be_delivered_is_sent_unchanged_next_time(exchange, refusing_endpoint):
    ex = exchange({"reading": {"inbox_dir": True}}, endpoints={"reading": refusing_endpoint})
    inbox = ex.folder("reading", "inbox")
    _add_referrals(ex.res, "reading", NIGHT, "R1")
    run = ex.run()
    assert steps.upload_referrals(ex.res, run) == {"reading": "failed"}
    assert "ConnectionRefusedError" in ex.events(run)[("reading", "upload_failed")]
    assert list(inbox.iterdir()) == []
    _add_referrals(ex.res, "reading", NIGHT, "R2")  # arrives after the file was planned
    ex.endpoints["reading"] = ex.good  # the server is back
    assert steps.upload_referrals(ex.res, ex.run("run-retry")) == {"reading": "uploaded"}
    (only,) = inbox.iterdir()
    assert list(pd.read_csv(only, dtype=str, encoding="utf-8-sig")["Police Referral Ref"]) == ["R1"]


# --- the inbox never shows half a file --------------------------------------------------------------

@contextmanager
def _watch(folder: Path, name: str):
    """Poll the server's folder; collect every size seen under the final name."""
    seen, stop = [], threading.Event()

    def poll():
        while True:
            done = stop.is_set()  # one last look after the upload has returned
            try:
                seen.append((folder / name).stat().st_size)
            except FileNotFoundError:
                pass
            if done:
                return
    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join()


def test_referral_upload_is_atomic_even_when_the_connection_drops(sshd, sftp_endpoint, tmp_path, caplog):
    inbox = sshd.sftp_root / f"inbox-{uuid.uuid4().hex[:8]}"
    inbox.mkdir()
    source = tmp_path / "referrals_reading_20261124.csv"
    source.write_bytes(b"Police Referral Ref\r\n" + b"R0000001\r\n" * (2 * 1024 * 1024))  # 20 MB
    size = source.stat().st_size
    with _watch(inbox, source.name) as seen:
        with open_sftp(sftp_endpoint) as sftp:
            upload(sftp, str(inbox), source.name, source, "reading")
    assert seen and set(seen) == {size}, "the final name showed a partial file"
    (inbox / source.name).unlink()
    with FaultProxy(sshd.port, fault="reset", after=8 * 1024 * 1024, direction="up") as proxy, \
            _watch(inbox, source.name) as seen, caplog.at_level(logging.INFO, logger="connectors"):
        endpoint = dataclasses.replace(sftp_endpoint, port=proxy.port)
        sent = deliver_file(lambda: open_sftp(endpoint), yot_id="reading", inbox_dir=str(inbox),
                            name=source.name, source=source, attempts=3, backoff_seconds=0.05)
    assert proxy.faults == 1 and sent.size == size
    assert set(seen) == {size}
    # The retry resumed where the server's copy stopped: it sent well under the file's size.
    (resumed,) = [r.getMessage() for r in caplog.records if "resumed at" in r.getMessage()]
    offset = int(resumed.split("resumed at ")[1].split(")")[0])
    assert 4 * 1024 * 1024 < offset < 8 * 1024 * 1024, resumed
    assert proxy.connections == 2 and proxy.sent_up[1] < size - offset + 1024 * 1024, proxy.sent_up
    assert sorted(p.name for p in inbox.iterdir()) == [source.name]  # no temporary left behind
    assert (inbox / source.name).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("fault", ["reset", "stall"])
def test_an_upload_cut_off_on_its_last_attempt_is_resumed_by_the_next_run(sshd, sftp_endpoint, tmp_path, caplog,
                                                                          fault):
    earlier_sessions = sshd.sessions()  # another test's may still be open: not ours to wait for
    inbox = sshd.sftp_root / f"inbox-{uuid.uuid4().hex[:8]}"
    inbox.mkdir()
    source = tmp_path / "referrals_reading_20261124.csv"
    source.write_bytes(b"Police Referral Ref\r\n" + b"R0000002\r\n" * (1024 * 1024))  # 10 MB
    size = source.stat().st_size
    with FaultProxy(sshd.port, fault=fault, after=4 * 1024 * 1024, direction="up", faulty=99) as proxy, \
            _watch(inbox, source.name) as seen:
        endpoint = dataclasses.replace(sftp_endpoint, port=proxy.port, channel_timeout=1.5)
        with pytest.raises(TransferIncomplete, match=r"upload to .* failed: .*\(gave up after 2 attempts\)"):
            deliver_file(lambda: open_sftp(endpoint), yot_id="reading", inbox_dir=str(inbox),
                         name=source.name, source=source, attempts=2, backoff_seconds=0.05)
    assert proxy.faults == 2 and seen == []  # never under its final name
    # the server may still be writing what reached it before the cut: measure once it has finished
    sshd.wait_for_sessions_to_end(besides=earlier_sessions)
    (left,) = inbox.iterdir()
    kept = left.stat().st_size
    assert left.name == source.name + ".part" and 4 * 1024 * 1024 < kept < size  # the second resumed too
    with caplog.at_level(logging.INFO, logger="connectors"):
        deliver_file(lambda: open_sftp(sftp_endpoint), yot_id="reading", inbox_dir=str(inbox),
                     name=source.name, source=source, attempts=1, backoff_seconds=0)
    assert f"resumed at {kept})" in caplog.text
    assert sorted(p.name for p in inbox.iterdir()) == [source.name]
    assert (inbox / source.name).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("leftover", ["other bytes", "longer"])
def test_a_leftover_temporary_that_is_not_ours_is_not_resumed(sshd, sftp_endpoint, tmp_path, caplog, leftover):
    """A `.part` from another file (say, referrals rebuilt since) must not become the prefix of ours."""
    inbox = sshd.sftp_root / f"inbox-{uuid.uuid4().hex[:8]}"
    inbox.mkdir()
    source = tmp_path / "referrals_reading_20261124.csv"
    source.write_bytes(b"Police Referral Ref\r\n" + b"R0000003\r\n" * 50_000)
    stale = source.read_bytes()[:200_000].replace(b"R0000003", b"R0000009", 1) if leftover == "other bytes" \
        else source.read_bytes() + b"R0000004\r\n"
    (inbox / (source.name + ".part")).write_bytes(stale)
    with caplog.at_level(logging.INFO, logger="connectors"):
        sent = deliver_file(lambda: open_sftp(sftp_endpoint), yot_id="reading", inbox_dir=str(inbox),
                            name=source.name, source=source, attempts=1, backoff_seconds=0)
    assert "resumed at" not in caplog.text
    assert ("not ours; uploading from the start" in caplog.text) == (leftover == "other bytes")
    assert sent.size == source.stat().st_size
    assert sorted(p.name for p in inbox.iterdir()) == [source.name]
    assert (inbox / source.name).read_bytes() == source.read_bytes()


def test_referral_csv_is_the_same_bytes_for_the_same_referrals():
    config = load_config()
    frame = pd.DataFrame({"referral_ref": ["B", "A"], "referral_date": [NIGHT, NIGHT], "area": ["Reading"] * 2,
                          "pnc_id": [None, "09/1234567X"], "forename": ["+1", "Zoë"], "surname": ["O'Brien", "-x"],
                          "date_of_birth": [date(2010, 2, 1), None], "gender": ["Male", "Female"],
                          "postcode": ["RG1 1AA", None], "previous_referral_ref": [None, None]})
    data = referral_csv(frame, config.caseload)
    assert data == referral_csv(frame.iloc[::-1], config.caseload)
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("Police Referral Ref,Referral Date,Police Area,PNC ID,Forename,Surname")
    assert lines[1] == "A,24/11/2026,Reading,09/1234567X,Zoë,'-x,,Female,,"
    assert lines[2] == "B,24/11/2026,Reading,,'+1,O'Brien,01/02/2010,Male,RG1 1AA,"


def test_a_changed_host_key_is_refused_at_once_and_the_others_carry_on(exchange, sftp_endpoint, tmp_path):
    import subprocess
    key = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    wrong = dataclasses.replace(sftp_endpoint, host_key=" ".join(key.with_suffix(".pub").read_text().split()[:2]))
    ex = exchange({"reading": {}, "oxfordshire": {}}, endpoints={"oxfordshire": wrong}, attempts=3,
                  backoff_seconds=5)
    for yot_id in ("reading", "oxfordshire"):
        _write(ex.folder(yot_id), ex.res.config.caseload.file_name(yot_id, NIGHT), b"YOT Case ID\r\n")
    run = ex.run()
    started = time.monotonic()
    assert steps.fetch_caseloads(ex.res, run) == {"reading": "fetched", "oxfordshire": "host_key_refused"}
    assert time.monotonic() - started < 5  # not retried: a changed key is no transient failure
    detail = ex.events(run)[("oxfordshire", "host_key_refused")]
    assert "is not the pinned key" in detail and "nothing was transferred" in detail
    assert _leftovers(run.staging_dir / "caseloads" / "oxfordshire") == []


def test_exchange_settings_are_checked_on_load(tmp_path):
    import yaml
    from schemas.config import ConfigError
    raw = load_config().model_dump(by_alias=True, mode="json")
    raw["yots"]["reading"]["companion"] = "md5"
    raw["caseload"]["transfer"]["attempts"] = 0
    raw["caseload"]["referral_file_pattern"] = "referrals.csv"
    path = tmp_path / "scheme.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(ConfigError) as bad:
        load_config(path)
    message = str(bad.value)
    assert "yots.reading.companion: Input should be 'none', 'done' or 'sha256'" in message
    assert "caseload.transfer.attempts: Input should be greater than or equal to 1" in message
    assert "caseload.referral_file_pattern: must contain {yot} and {date:...}" in message
