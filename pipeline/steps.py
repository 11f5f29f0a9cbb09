"""One function per task of the nightly run. Each reads what the previous step staged, does its
work through connectors and transforms, commits its state-database writes in one transaction and
returns small metadata (counts, paths) for XCom. Each can be re-run on its own.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore
from pipeline import queries, quarantine
from pipeline.context import NightlyRun, read_frame, staging_location, write_frame
from pipeline.resources import Resources
from schemas.contract import enforce
from schemas.engagement import EngagementAssessment
from schemas.escalation import EscalationRecord
from schemas.match import MatchRecord
from schemas.referral import referral_schema
from transforms.calendar import WorkingCalendar
from transforms.caseload import read_export, validate_caseload
from transforms.eligibility import decide_eligibility, referral_ref_for, route_to_yot
from transforms import engagement as engagement_rules
from transforms.acknowledgements import AcknowledgementError, read_acknowledgements
from transforms.escalation import plan_escalations
from transforms.matching import match_people
from transforms.quarantine_records import quarantine_rows
from transforms.review import ReviewError, apply_reviews, latest_decisions, read_match_reviews
from transforms.stops import validate_stops as split_stops
from transforms.check_counts import summarise_failures
from transforms.validation import BatchRejected, SplitBatch

log = logging.getLogger(__name__)
RECORDS_SOURCE = "records_system"
_KEYS_LOGGED = 20  # a bad night quarantines thousands; the quarantine list has them all
WATERMARK = "records_system.last_modified"


class ReconciliationError(RuntimeError):
    """Rows read do not equal rows valid plus rows quarantined: something was lost."""


# --- helpers -----------------------------------------------------------------------------------

def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _read_sql(state: StateStore, query: sa.Select) -> pd.DataFrame:
    with state.engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _nulls(records: list[dict]) -> list[dict]:
    """pandas missing values to None, Timestamps to datetimes, for the database driver."""
    out = []
    for rec in records:
        clean = {}
        for k, v in rec.items():
            if isinstance(v, pd.Timestamp):
                v = None if pd.isna(v) else v.to_pydatetime()
            elif v is not None and not isinstance(v, (list, dict)) and pd.isna(v):
                v = None
            clean[k] = v
        out.append(clean)
    return out


def _reconcile(source: str, counts: dict[str, int]) -> None:
    if counts["read"] != counts["valid"] + counts["quarantined"]:
        raise ReconciliationError(
            f"{source}: read {counts['read']} rows but {counts['valid']} valid + "
            f"{counts['quarantined']} quarantined")


# --- steps -------------------------------------------------------------------------------------

RUN_TYPES = ("scheduled", "manual", "backfill", "asset_triggered", "operator_triggered")


def start_run(res: Resources, run: NightlyRun, run_type: str = "scheduled") -> dict:
    """Register the run; a re-run of the same run id keeps its row (and any digest that covered it)."""
    if run_type not in RUN_TYPES:
        raise ValueError(f"unknown run type {run_type!r}")
    res.state.migrate()
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.runs, [{
            "run_id": run.run_id, "night": run.night, "window_start": run.window_start,
            "window_end": run.window_end, "status": "running", "finished_at": None,
            "run_type": run_type}])
    run.prepare_staging()
    return run.to_xcom()


def extract_stops(res: Resources, run: NightlyRun) -> dict:
    """Stops in the night's window plus every stop modified since the last successful run."""
    rows = _read_sql(res.state, sa.select(db.watermarks.c.value).where(db.watermarks.c.name == WATERMARK))
    lookback = timedelta(days=res.config.records_system.initial_lookback_days)
    since = _utc(rows["value"].iloc[0].to_pydatetime()) if len(rows) else run.window_end - lookback
    since = min(since, run.window_start)
    chunks = list(res.records.extract(run.window_start, run.window_end, since))
    raw = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(
        columns=list(res.config.records_system.columns), dtype="str")
    raw = raw.drop_duplicates(ignore_index=True)
    path = run.staged("stops_raw.parquet")
    write_frame(path, raw)  # a crash mid-write never leaves half a file for validate_stops
    with res.state.transaction() as conn:
        res.state.record_counts(conn, run.run_id, "extract", {RECORDS_SOURCE: {"extracted": len(raw)}})
        res.state.log_processing(conn, operation="collection", actor=res.actor, run_id=run.run_id,
                                 subject=f"{len(raw)} stop records", purpose="nightly extraction")
    log.info("extracted %d stops modified since %s", len(raw), since.isoformat())
    return {"rows": len(raw), "modified_since": since.isoformat(), "path": str(path)}


def validate_stops(res: Resources, run: NightlyRun) -> dict:
    """Tonight's extraction plus the stops a person released from quarantine, checked together;
    a released stop that was also re-extracted tonight is taken as extracted (the source is newer)."""
    extracted = read_frame(run.staged("stops_raw.parquet"))
    released = quarantine.released_records(res.state, RECORDS_SOURCE, run.run_id)
    released = released[~released["source_key"].isin(extracted["stop_ref"].dropna())]
    raw = pd.concat([extracted, released.reindex(columns=extracted.columns)], ignore_index=True)
    batch = split_stops(raw, res.config)
    counts = batch.counts | {"released": len(released)}
    _reconcile(RECORDS_SOURCE, counts)
    valid = batch.valid
    write_frame(run.staged("stops_valid.parquet"), valid)
    cols = [c.name for c in db.stops.columns if c.name != "run_id"]
    stop_rows = valid.assign(date_of_birth=valid["date_of_birth"].dt.date)[cols].assign(run_id=run.run_id)
    # a stop's key is its reference; a released row keeps the key it was held under
    keys = pd.concat([extracted["stop_ref"].fillna(pd.Series("row " + extracted.index.astype(str),
                                                             index=extracted.index)),
                      released["source_key"]], ignore_index=True)
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.stops, _nulls(stop_rows.to_dict("records")))
        res.state.upsert(conn, db.quarantine, quarantine_rows(batch, RECORDS_SOURCE, keys, run.run_id),
                         update=["status", "reasons", "record", "run_id"])
        quarantine.mark_processed(conn, RECORDS_SOURCE, keys.loc[valid.index], run.run_id)
        res.state.record_counts(conn, run.run_id, "validate", {RECORDS_SOURCE: counts})
        res.state.record_check_failures(conn, run.run_id, RECORDS_SOURCE, batch.failures)
    _log_quarantined(RECORDS_SOURCE, "stop", batch, keys.loc[batch.quarantined.index])
    return counts


def _log_quarantined(source: str, what: str, batch: SplitBatch, keys: pd.Series) -> None:
    """One warning per batch: rows failing each check and the first keys (ids, never values); the
    quarantine list has every row with its reasons."""
    if batch.quarantined.empty:
        return
    more = " ..." if len(keys) > _KEYS_LOGGED else ""
    log.warning("%s: %d %s(s) quarantined: %s. Keys: %s%s. Every one with its reasons: diversion-sync "
                "quarantine list --state-url <state database> --source %s", source, len(batch.quarantined),
                what, summarise_failures(batch.failures), ", ".join(keys.head(_KEYS_LOGGED)), more, source)


def decide_referrals(res: Resources, run: NightlyRun) -> dict:
    """Eligibility for every valid stop; a referral to the child's YOT for each eligible one."""
    stops = read_frame(run.staged("stops_valid.parquet"))
    x = db.escalations
    history = _read_sql(res.state, sa.select(
        db.referrals.c.referral_ref, db.referrals.c.stop_ref.label("referral_stop_ref"),
        db.referrals.c.person_id, db.stops.c.stop_time, db.engagement.c.state,
        x.c.opened_night.label("non_engagement_night"), x.c.resolved_night.label("non_engagement_resolved"),
    ).join(db.stops, db.stops.c.stop_ref == db.referrals.c.stop_ref).outerjoin(
        db.engagement, db.engagement.c.referral_ref == db.referrals.c.referral_ref).outerjoin(
        x, x.c.referral_ref == db.referrals.c.referral_ref))
    if len(history):
        history["stop_time"] = pd.to_datetime(history["stop_time"], utc=True)
    decisions = decide_eligibility(stops, history, res.config)
    eligible = stops[decisions["eligible"]]
    referral_rows = pd.DataFrame({
        "referral_ref": referral_ref_for(eligible["stop_ref"]),
        "stop_ref": eligible["stop_ref"],
        "person_id": eligible["person_id"],
        "yot_id": route_to_yot(eligible["postcode"], eligible["area"], res.config),
        "area": eligible["area"],
        "referral_date": eligible["stop_time"].dt.tz_convert(res.config.scheme.timezone).dt.date,
        "previous_referral_ref": decisions.loc[eligible.index, "previous_referral_ref"],
        "run_id": run.run_id,
    })
    enforce(referral_rows, referral_schema(res.config), "referral")  # a broken one is a bug: fail loudly
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.eligibility_decisions, _nulls(
            decisions.drop(columns=["previous_referral_ref"]).assign(run_id=run.run_id).to_dict("records")))
        res.state.upsert(conn, db.referrals, _nulls(referral_rows.to_dict("records")),
                         update=["person_id", "yot_id", "area", "referral_date", "previous_referral_ref"])
        by_reason = decisions["reason"].value_counts().to_dict()
        res.state.record_counts(conn, run.run_id, "eligibility", {
            RECORDS_SOURCE: {"decided": len(decisions), "eligible": int(decisions["eligible"].sum()),
                             "referred": len(referral_rows)},
            "reasons": {k: int(v) for k, v in by_reason.items()}})
    write_frame(run.staged("referrals.parquet"), referral_rows)
    return {"decided": len(decisions), "eligible": int(decisions["eligible"].sum()),
            "referred": len(referral_rows)}


def _file_ledger(res: Resources, yot_id: str, name: str) -> pd.DataFrame:
    """Every version of a YOT's file recorded before, newest run last."""
    return _read_sql(res.state, sa.select(db.processed_files).where(
        (db.processed_files.c.yot_id == yot_id) & (db.processed_files.c.file_name == name)))


def _processed_sha256(res: Resources, yot_id: str, night, name: str) -> str | None:
    """The checksum of the file whose rows are the YOT's stored snapshot for the night."""
    with res.state.engine.connect() as conn:
        return conn.execute(sa.select(db.caseload_snapshots.c.sha256).where(
            (db.caseload_snapshots.c.yot_id == yot_id) & (db.caseload_snapshots.c.snapshot_date == night)
            & (db.caseload_snapshots.c.file_name == name))).scalar()


def _record_file_events(res: Resources, run: NightlyRun, events: list[tuple[str, str, str, str]]) -> None:
    """What the exchange noticed, for the run summary and the engineers (ids and file names only)."""
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.file_events, [
            {"run_id": run.run_id, "yot_id": y, "file_name": f[:255], "event": e, "detail": d}
            for y, f, e, d in events], update=["detail"])
    for yot_id, file_name, event, detail in events:
        log.warning("YOT %s: %s: %s: %s", yot_id, file_name, event, detail)


def _archive_on_server(res: Resources, run: NightlyRun, yot_id: str, names: list[str]) -> None:
    """Move processed files to the YOT's archive folder when its configuration allows; a failure is
    reported and retried next time, never fatal (the ledger already stops a second processing)."""
    from connectors.yot_exchange import archive_export
    from connectors.yot_sftp import SftpError
    yot, transfer = res.config.yots[yot_id], res.config.caseload.transfer
    if not yot.archive_dir:
        return
    try:
        archive_export(lambda: res.open_sftp(yot_id), yot_id=yot_id, export_dir=yot.export_dir,
                       archive_dir=yot.archive_dir, names=[n for n in names if n], attempts=transfer.attempts,
                       backoff_seconds=transfer.backoff_seconds)
    except SftpError as exc:
        _record_file_events(res, run, [(yot_id, names[0], "archive_failed", str(exc))])


def fetch_caseloads(res: Resources, run: NightlyRun) -> dict:
    """Each YOT's export for the night: picked by name once complete, downloaded atomically with
    retries, checked against the ledger (never processed twice; a re-send with other content is
    reported). One YOT down does not stop the rest."""
    from connectors.yot_exchange import collect_export, is_transient, name_regex
    from connectors.yot_sftp import HostKeyError, SftpError
    cfg, transfer = res.config.caseload, res.config.caseload.transfer
    outcome: dict[str, dict] = {}
    events: list[tuple[str, str, str, str]] = []
    for yot_id, yot in res.config.yots.items():
        name = cfg.file_name(yot_id, run.night)
        ledger = _file_ledger(res, yot_id, name)
        done_sha = _processed_sha256(res, yot_id, run.night, name)
        processed = ledger[ledger["sha256"] == done_sha] if len(ledger) else ledger

        def known(remote, processed=processed) -> bool:
            return bool(((processed["size"] == remote.size) & (processed["mtime"] == remote.mtime)).any())

        try:
            got = collect_export(lambda: res.open_sftp(yot_id), yot_id=yot_id, export_dir=yot.export_dir,
                                 wanted=name, pattern=name_regex(cfg.file_pattern, yot_id),
                                 companion=yot.companion, dest=run.download_dest(f"caseloads/{yot_id}/{name}"),
                                 attempts=transfer.attempts, backoff_seconds=transfer.backoff_seconds,
                                 settle_seconds=transfer.settle_seconds, known=known)
        except SftpError as exc:  # unreachable after every attempt, a wrong host key, a bad checksum
            status = ("host_key_refused" if isinstance(exc, HostKeyError)
                      else "unavailable" if is_transient(exc) else "failed")
            outcome[yot_id] = {"status": status, "file": name, "error": str(exc)}
            events.append((yot_id, name, status, str(exc)))
            continue
        events += [(yot_id, repr(n), "refused_name", "unsafe, or not the export name pattern")
                   for n in got.refused]
        info = {"file": name, "attempts": got.attempts}
        if got.status == "fetched" and got.fetched.sha256 == done_sha:
            got.status = "known"  # the same bytes, touched: processed already
        if got.status == "known" or (got.status == "missing" and len(processed)):
            info["status"] = "already_processed"
            if got.status == "known":
                _archive_on_server(res, run, yot_id, [name, got.companion])
        elif got.status == "fetched":
            fetched = got.fetched
            info |= {"status": "fetched", "sha256": fetched.sha256,
                     "path": run.keep_download(fetched.local_path, f"caseloads/{yot_id}/{name}"),
                     "size": fetched.remote.size, "mtime": fetched.remote.mtime, "companion": got.companion}
            earlier = ledger[ledger["sha256"] != fetched.sha256] if len(ledger) else ledger
            if len(earlier):
                last = earlier.iloc[-1]
                info["resent"] = True
                events.append((yot_id, name, "resent_changed", f"{name} was sent again with other content "
                               f"(SHA-256 {fetched.sha256[:12]}, {fetched.remote.size} bytes; before: "
                               f"{last['sha256'][:12]}, {int(last['size'])} bytes, run {last['run_id']}); "
                               "the new content replaces the night's caseload"))
        else:
            info |= {"status": got.status, "detail": got.detail}
            if got.status == "not_ready":
                events.append((yot_id, name, "not_ready", got.detail))
            else:
                log.warning("YOT %s: no caseload export %s", yot_id, name)
        outcome[yot_id] = info
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.processed_files, [
            {"yot_id": y, "file_name": o["file"], "sha256": o["sha256"], "size": o["size"],
             "mtime": o["mtime"], "run_id": run.run_id}
            for y, o in outcome.items() if o["status"] == "fetched"], update=[])
        res.state.record_counts(conn, run.run_id, "fetch", {
            y: {o["status"]: 1, "attempts": o.get("attempts", 0)} for y, o in outcome.items()})
    _record_file_events(res, run, events)
    run.staged("caseloads.json").write_text(json.dumps(outcome, indent=1))
    return {y: o["status"] for y, o in outcome.items()}


def _referrals_to_send(res: Resources, yot_id: str, *, night=None, unsent_until=None) -> pd.DataFrame:
    """A YOT's referrals with the child's details: those an upload carried (`night`), or those not
    yet sent, referred up to `unsent_until`."""
    r, s, x = db.referrals, db.stops, db.referral_exports
    query = sa.select(r.c.referral_ref, r.c.referral_date, r.c.area, r.c.previous_referral_ref, s.c.pnc_id,
                      s.c.forename, s.c.surname, s.c.date_of_birth, s.c.gender, s.c.postcode).join(
        s, s.c.stop_ref == r.c.stop_ref)
    if night is not None:
        query = query.join(x, x.c.referral_ref == r.c.referral_ref).where(
            (x.c.yot_id == yot_id) & (x.c.night == night))
    else:
        query = query.outerjoin(x, x.c.referral_ref == r.c.referral_ref).where(
            (r.c.yot_id == yot_id) & (r.c.referral_date <= unsent_until) & x.c.referral_ref.is_(None))
    return _read_sql(res.state, query)


def _plan_upload(res: Resources, run: NightlyRun, yot_id: str) -> None:
    """Fix tonight's file for a YOT before anything is sent: its referrals, bytes and checksum."""
    from transforms.referral_export import referral_csv
    referrals = _referrals_to_send(res, yot_id, unsent_until=run.night)
    data = referral_csv(referrals, res.config.caseload)
    name = res.config.caseload.referral_file_name(yot_id, run.night)
    path = _outbound_path(res, yot_id, run.night, name)
    path.write_bytes(data)
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.referral_uploads, [{
            "yot_id": yot_id, "night": run.night, "file_name": name,
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "rows": len(referrals),
            "status": "pending", "run_id": run.run_id, "uploaded_at": None}], update=[])
        res.state.upsert(conn, db.referral_exports, [
            {"referral_ref": ref, "yot_id": yot_id, "night": run.night, "run_id": run.run_id}
            for ref in referrals["referral_ref"]], update=[])


def _outbound_path(res: Resources, yot_id: str, night, name: str):
    folder = res.data_dir / "outbound" / night.isoformat() / yot_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _deliver_pending(res: Resources, run: NightlyRun, yot_id: str, pending: dict) -> dict:
    """Send a planned file; the same bytes each attempt and each re-run, so the YOT never sees two."""
    from connectors.yot_exchange import deliver_file
    from transforms.referral_export import referral_csv
    yot, transfer = res.config.yots[yot_id], res.config.caseload.transfer
    night = pd.Timestamp(pending["night"]).date()
    path = _outbound_path(res, yot_id, night, pending["file_name"])
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != pending["sha256"]:
        data = referral_csv(_referrals_to_send(res, yot_id, night=night), res.config.caseload)
        path.write_bytes(data)
        if hashlib.sha256(data).hexdigest() != pending["sha256"]:
            _record_file_events(res, run, [(yot_id, pending["file_name"], "referrals_rebuilt",
                                            "the planned file was gone and its referrals' details changed "
                                            "since; sending them as they are now")])
    sent = deliver_file(lambda: res.open_sftp(yot_id), yot_id=yot_id, inbox_dir=yot.inbox_dir,
                        name=pending["file_name"], source=path, attempts=transfer.attempts,
                        backoff_seconds=transfer.backoff_seconds)
    refs = _referrals_to_send(res, yot_id, night=night)["referral_ref"].sort_values()
    with res.state.transaction() as conn:
        conn.execute(db.referral_uploads.update().where(
            (db.referral_uploads.c.yot_id == yot_id) & (db.referral_uploads.c.night == night)).values(
                status="uploaded", uploaded_at=sa.func.now(), sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                size=sent.size))
        res.state.log_processing(conn, operation="disclosure", actor=res.actor, run_id=run.run_id,
                                 recipients=[f"{yot.name} YOT (SFTP {yot.inbox_dir})"],
                                 subject=f"referrals file {pending['file_name']}: " + (", ".join(refs) or "none"),
                                 purpose="referral to the YOT under the youth drug diversion scheme")
    return {"status": "uploaded", "file": pending["file_name"], "rows": int(pending["rows"])}


def upload_referrals(res: Resources, run: NightlyRun) -> dict:
    """Each YOT with an inbox gets one CSV a night of the referrals it has not been sent, uploaded
    under a temporary name then renamed. The ledger makes a re-run send nothing new, and a file
    planned but not delivered (server down) is sent, unchanged, by the next run."""
    from connectors.yot_sftp import SftpError
    outcome: dict[str, dict] = {}
    u = db.referral_uploads
    for yot_id, yot in res.config.yots.items():
        if not yot.inbox_dir:
            continue
        planned = _read_sql(res.state, sa.select(u).where((u.c.yot_id == yot_id) & (u.c.night == run.night)))
        if not len(planned):
            _plan_upload(res, run, yot_id)
        pending = _read_sql(res.state, sa.select(u).where(
            (u.c.yot_id == yot_id) & (u.c.status == "pending") & (u.c.night <= run.night)).order_by(u.c.night))
        result = {"status": "already_uploaded", "file": res.config.caseload.referral_file_name(yot_id, run.night),
                  "rows": int(planned["rows"].iloc[0]) if len(planned) else 0}
        for pending_file in pending.to_dict("records"):
            try:
                sent = _deliver_pending(res, run, yot_id, pending_file)
            except SftpError as exc:
                _record_file_events(res, run, [(yot_id, pending_file["file_name"], "upload_failed", str(exc))])
                result = {"status": "failed", "file": pending_file["file_name"], "error": str(exc), "rows": 0}
                break
            if sent["file"] == result["file"]:
                result = sent
        outcome[yot_id] = result
    with res.state.transaction() as conn:
        res.state.record_counts(conn, run.run_id, "upload", {
            y: {o["status"]: 1, "rows": o.get("rows", 0)} for y, o in outcome.items()})
    return {y: o["status"] for y, o in outcome.items()}


def validate_caseloads(res: Resources, run: NightlyRun) -> dict:
    fetched = json.loads(run.staged("caseloads.json").read_text())
    counts, frames = {}, []
    for yot_id, info in fetched.items():
        if info["status"] != "fetched":
            continue
        source = f"caseload:{yot_id}"
        data = staging_location(info["path"]).read_bytes()
        try:
            raw = read_export(data, info["file"], res.config.caseload)
            batch = validate_caseload(raw, res.config.caseload, run.night)
        except BatchRejected as exc:
            with res.state.transaction() as conn:
                res.state.upsert(conn, db.quarantine, [{
                    "source": source, "source_key": info["file"], "status": "held",
                    "reasons": json.dumps([{"field": None, "check": str(exc), "value": None}]),
                    "record": json.dumps({"file": info["file"], "sha256": info["sha256"]}),
                    "first_run_id": run.run_id, "run_id": run.run_id}], update=["reasons", "run_id"])
                res.state.record_counts(conn, run.run_id, "validate", {source: {"file_rejected": 1}})
                res.state.record_check_failures(conn, run.run_id, source, pd.DataFrame([{
                    "row": 0, "field": None, "check": "whole file set aside: " + str(exc).split(": ", 1)[-1]}]))
            log.error("YOT %s: caseload file rejected: %s", yot_id, exc)
            _record_file_events(res, run, [(yot_id, info["file"], "file_rejected", str(exc))])
            continue
        counts[source] = batch.counts
        _reconcile(source, batch.counts)
        valid = batch.valid.assign(yot_id=yot_id, snapshot_date=run.night, source_file=info["file"],
                                   run_id=run.run_id)
        for col in ("date_of_birth", "referral_received", "first_contact", "assessment_date",
                    "status_date"):
            valid[col] = valid[col].dt.date
        frames.append(valid)
        keys = info["file"] + ":" + batch.quarantined["source_line"].astype(str)
        with res.state.transaction() as conn:
            if info.get("resent"):  # a re-sent file replaces the night's rows whole
                conn.execute(db.caseload_rows.delete().where((db.caseload_rows.c.yot_id == yot_id)
                                                             & (db.caseload_rows.c.snapshot_date == run.night)))
            res.state.upsert(conn, db.caseload_rows, _nulls(valid.to_dict("records")))
            res.state.upsert(conn, db.quarantine, quarantine_rows(batch, source, keys, run.run_id),
                             update=["reasons", "record", "run_id"])
            res.state.upsert(conn, db.caseload_snapshots, [{
                "yot_id": yot_id, "snapshot_date": run.night, "file_name": info["file"],
                "sha256": info["sha256"], "rows": len(valid), "run_id": run.run_id}])
            res.state.record_counts(conn, run.run_id, "validate", {source: batch.counts})
            res.state.record_check_failures(conn, run.run_id, source, batch.failures)
        _log_quarantined(source, "caseload row", batch, keys)
        _archive_on_server(res, run, yot_id, [info["file"], info.get("companion")])
    return counts | _validate_released_caseload_rows(res, run)


def _validate_released_caseload_rows(res: Resources, run: NightlyRun) -> dict:
    """Caseload rows a person released go back into the snapshot (YOT, night) they came with,
    checked against that night's date; they count under `released:caseload:<yot>`."""
    counts, failures = {}, {}
    for yot_id in res.config.yots:
        source = f"caseload:{yot_id}"
        released = quarantine.released_records(res.state, source, run.run_id)
        if released.empty:
            continue
        first_runs = _read_sql(res.state, sa.select(db.quarantine.c.source_key, db.runs.c.night).join(
            db.runs, db.runs.c.run_id == db.quarantine.c.first_run_id).where(
            (db.quarantine.c.source == source) & db.quarantine.c.source_key.in_(list(released["source_key"]))))
        night = dict(zip(first_runs["source_key"], pd.to_datetime(first_runs["night"]).dt.date))
        released["snapshot_date"] = released["source_key"].map(night)
        released["source_file"] = released["source_key"].str.rsplit(":", n=1).str[0]
        released["source_line"] = released["source_line"].astype("int64")
        for (snapshot, file_name), group in released.groupby(["snapshot_date", "source_file"]):
            group = group.reset_index(drop=True)
            batch = validate_caseload(group[[*res.config.caseload.columns, "source_line"]],
                                      res.config.caseload, snapshot)
            _reconcile(f"released:{source}", batch.counts)
            valid = batch.valid.assign(yot_id=yot_id, snapshot_date=snapshot, source_file=file_name,
                                       run_id=run.run_id)
            for col in ("date_of_birth", "referral_received", "first_contact", "assessment_date",
                        "status_date"):
                valid[col] = valid[col].dt.date
            with res.state.transaction() as conn:
                res.state.upsert(conn, db.caseload_rows, _nulls(valid.to_dict("records")))
                res.state.upsert(conn, db.quarantine, quarantine_rows(batch, source, group["source_key"], run.run_id),
                    update=["status", "reasons", "record", "run_id"])
                quarantine.mark_processed(conn, source, group.loc[batch.valid.index, "source_key"], run.run_id)
            total = counts.setdefault(f"released:{source}", {"read": 0, "valid": 0, "quarantined": 0})
            for k, v in batch.counts.items():
                total[k] += v
            failures.setdefault(f"released:{source}", []).append(batch.failures.assign(
                row=batch.failures["row"].map(group["source_key"])))
    if counts:
        with res.state.transaction() as conn:
            res.state.record_counts(conn, run.run_id, "validate", counts)
            for source, frames in failures.items():
                res.state.record_check_failures(conn, run.run_id, source, pd.concat(frames))
    return counts


def _latest_caseloads(res: Resources, run: NightlyRun) -> tuple[pd.DataFrame, set[str]]:
    """The rows of each YOT's newest snapshot, and the set of stale YOTs."""
    rows = [_read_sql(res.state, sa.select(db.caseload_rows).where(
                (db.caseload_rows.c.yot_id == yot_id) & (db.caseload_rows.c.snapshot_date == day)))
            for yot_id, day in queries.newest_snapshots(res.state, run.night).items()]
    cases = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=[c.name for c in db.caseload_rows.columns])
    return cases, set(queries.stale_yots(res.state, res.config, run.night))


def match_referrals(res: Resources, run: NightlyRun) -> dict:
    """Find each referred child in their YOT's newest caseload; one-to-one, with reasons.

    Analysts' review files are imported first; every standing decision is honoured: a confirmed
    pair is matched (method ``review``, before any other pair of its two records), a rejected
    pair is never proposed again.
    """
    reviews_imported = _import_review_files(res, run)
    reviews = _read_sql(res.state, sa.select(db.match_reviews))
    referrals = _read_sql(res.state, sa.select(
        db.referrals.c.referral_ref, db.referrals.c.yot_id, db.stops.c.person_id, db.stops.c.forename,
        db.stops.c.surname, db.stops.c.date_of_birth, db.stops.c.gender, db.stops.c.postcode,
        db.stops.c.pnc_id).join(db.stops, db.stops.c.stop_ref == db.referrals.c.stop_ref)
        .where(db.referrals.c.referral_date <= run.night))
    cases, _ = _latest_caseloads(res, run)
    found = []
    for yot_id, left in referrals.groupby("yot_id"):
        right = cases[cases["yot_id"] == yot_id]
        if right.empty:
            continue
        pairs = match_people(
            left.assign(record_id=left["referral_ref"], referral_ref=left["referral_ref"]),
            right.assign(record_id=right["case_id"]))
        pairs = apply_reviews(pairs, reviews[reviews["yot_id"] == yot_id], set(left["referral_ref"]),
                              set(right["case_id"]))
        found.append(pairs.assign(yot_id=yot_id))
    matched = pd.concat(found, ignore_index=True) if found else pd.DataFrame(
        columns=["left_id", "right_id", "score", "status", "method", "reasons", "yot_id"])
    rows = [{"referral_ref": r.left_id, "yot_id": r.yot_id, "case_id": r.right_id,
             "score": float(r.score), "status": r.status, "method": r.method, "reasons": r.reasons,
             "run_id": run.run_id} for r in matched.itertuples()]
    enforce(pd.DataFrame(rows, columns=[c.name for c in db.matches.columns]), MatchRecord, "match")
    with res.state.transaction() as conn:
        conn.execute(db.matches.delete())  # tonight's matching replaces the last one whole
        res.state.upsert(conn, db.matches, rows)
        res.state.record_counts(conn, run.run_id, "match", {"all": {
            "referrals": len(referrals), "matched": int((matched["status"] == "matched").sum()),
            "possible": int((matched["status"] == "possible").sum()),
            "confirmed_by_review": int((matched["method"] == "review").sum())},
            "match_review_files": reviews_imported})
    return {"referrals": len(referrals), "matched": int((matched["status"] == "matched").sum()),
            "possible": int((matched["status"] == "possible").sum()),
            "confirmed_by_review": int((matched["method"] == "review").sum()),
            "match_review_files": reviews_imported}


def assess_engagement(res: Resources, run: NightlyRun) -> dict:
    referrals = _read_sql(res.state, sa.select(db.referrals).where(db.referrals.c.referral_date <= run.night))
    referrals["referral_date"] = pd.to_datetime(referrals["referral_date"])
    cases, stale = _latest_caseloads(res, run)
    matched = _read_sql(res.state, sa.select(db.matches.c.referral_ref, db.matches.c.yot_id,
                                       db.matches.c.case_id).where(db.matches.c.status == "matched"))
    matched_cases = matched.merge(cases, on=["yot_id", "case_id"], how="inner", suffixes=("", "_yot"))
    for col in ("referral_received", "first_contact", "assessment_date", "status_date"):
        matched_cases[col] = pd.to_datetime(matched_cases[col])
    holidays = res.config.engagement.bank_holidays
    result = engagement_rules.assess_engagement(referrals, matched_cases, stale, night=run.night,
                               deadlines=res.config.engagement.deadlines,
                               calendar=WorkingCalendar(holidays.country, holidays.subdivision))
    rows = result.assign(as_of=run.night, run_id=run.run_id)
    made = dict(zip(referrals["referral_ref"], referrals["referral_date"].dt.date))
    enforce(rows.assign(referral_date=rows["referral_ref"].map(made)), EngagementAssessment,
            "engagement assessment")
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.engagement, _nulls(rows.to_dict("records")))
        res.state.record_counts(conn, run.run_id, "engagement", {
            "states": {k: int(v) for k, v in result["state"].value_counts().items()},
            "stale_yots": {y: 1 for y in sorted(stale)}})
    return {"assessed": len(result), "stale_yots": sorted(stale),
            "not_engaged": int(result["non_engagement_reason"].notna().sum())}


def _import_decision_files(res: Resources, folder: str, read, error: type[ValueError], store,
                           rejected: list[str] | None = None) -> dict[str, int]:
    """Take people's decision files (CSV) from ``<data_dir>/<folder>/`` into the state database.

    ``read(bytes, name)`` gives a frame or raises ``error``; ``store(conn, frame)`` writes it. A
    good file moves to processed/, so a re-run imports nothing twice; a bad one moves to rejected/
    with ``<name>.reason.txt`` beside it naming the file, line and field (the log says the same,
    never a value), and appended to ``rejected``; neither stops the night.
    """
    inbound = res.data_dir / folder
    counts = {"files": 0, "rows": 0, "rejected_files": 0}
    for path in sorted(inbound.glob("*.csv")) if inbound.is_dir() else []:
        try:
            frame = read(path.read_bytes(), path.name)
        except error as exc:
            log.error("%s file rejected: %s", folder, exc)
            counts["rejected_files"] += 1
            _move_into(path, inbound / "rejected")
            (inbound / "rejected" / f"{path.name}.reason.txt").write_text(f"{exc}\n", encoding="utf-8")
            if rejected is not None:
                rejected.append(str(exc))
            continue
        with res.state.transaction() as conn:
            store(conn, frame)
        counts["files"] += 1
        counts["rows"] += len(frame)
        _move_into(path, inbound / "processed")
    return counts


def _import_acknowledgement_files(res: Resources, run: NightlyRun) -> dict[str, int]:
    """Supervisors' acknowledgement files from ``<data_dir>/acknowledgements/``."""
    return _import_decision_files(
        res, "acknowledgements", read_acknowledgements, AcknowledgementError,
        lambda conn, acks: res.state.upsert(conn, db.acknowledgements, _nulls(acks.to_dict("records")),
                                            update=["acknowledged_by", "acknowledged_on", "note", "source"]))


def _store_match_reviews(res: Resources, conn, reviews: pd.DataFrame) -> None:
    """Upsert the newest decision per pair; an older decision than the one stored is not taken."""
    stored = conn.execute(sa.select(db.match_reviews.c.referral_ref, db.match_reviews.c.yot_id,
                                    db.match_reviews.c.case_id, db.match_reviews.c.decided_on)).all()
    held = {(r, y, c): on for r, y, c, on in stored}
    rows = [rec for rec in _nulls(latest_decisions(reviews).to_dict("records"))
            if (key := (rec["referral_ref"], rec["yot_id"], rec["case_id"])) not in held
            or held[key] <= rec["decided_on"]]
    res.state.upsert(conn, db.match_reviews, rows)


def _import_review_files(res: Resources, run: NightlyRun) -> dict[str, int]:
    """Analysts' match review files from ``<data_dir>/match_reviews/``; the reasons a file was set
    aside are kept for the night's analysts' report (a re-run keeps the first run's)."""
    rejected: list[str] = []
    counts = _import_decision_files(res, "match_reviews", read_match_reviews, ReviewError,
                                    lambda conn, reviews: _store_match_reviews(res, conn, reviews), rejected)
    if rejected:
        run.reports_dir.mkdir(parents=True, exist_ok=True)
        path = run.review_rejections
        before = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        path.write_text("".join(f"{m}\n" for m in dict.fromkeys(before + rejected)), encoding="utf-8")
    return counts


def _move_into(path, folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path.replace(folder / path.name)


def update_escalations(res: Resources, run: NightlyRun) -> dict:
    imported = _import_acknowledgement_files(res, run)
    engagement = _read_sql(res.state, sa.select(db.engagement).where(db.engagement.c.as_of == run.night))
    ledger = _read_sql(res.state, sa.select(db.escalations))
    if len(ledger):
        ledger["opened_night"] = pd.to_datetime(ledger["opened_night"]).dt.date
    acks = _read_sql(res.state, sa.select(db.acknowledgements))
    if len(acks):
        acks["acknowledged_on"] = pd.to_datetime(acks["acknowledged_on"]).dt.date
    upserts, history = plan_escalations(engagement, ledger, run.night, acks)
    moves = {state: sum(h["to_state"] == state for h in history)
             for state in ("open", "acknowledged", "resolved")}
    enforce(pd.DataFrame(upserts, columns=[c.name for c in db.escalations.columns if c.name != "run_id"]),
            EscalationRecord, "escalation")
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.escalations, [r | {"run_id": run.run_id} for r in upserts])
        res.state.upsert(conn, db.escalation_history, [h | {"run_id": run.run_id} for h in history],
                         update=[])
        res.state.record_counts(conn, run.run_id, "escalation", {
            "all": {"opened": moves["open"], "acknowledged": moves["acknowledged"],
                    "resolved": moves["resolved"]},
            "acknowledgement_files": imported})
    return {"opened": moves["open"], "acknowledged": moves["acknowledged"],
            "resolved": moves["resolved"], "acknowledgement_files": imported}


def finish_run(res: Resources, run: NightlyRun) -> dict:
    """Check the counts reconcile, advance the watermark, and write the night's summary and its
    data-quality page (written first, so a run that fails to reconcile still shows where)."""
    from pipeline.quality import write_quality_page
    write_quality_page(res.state, res.config, run)
    counts = _read_sql(res.state, sa.select(db.run_counts).where(db.run_counts.c.run_id == run.run_id))
    validated = counts[counts["step"] == "validate"].pivot_table(
        index="source", columns="metric", values="value", aggfunc="sum", fill_value=0)
    for source, row in validated.iterrows():
        if "read" in row:
            _reconcile(source, {k: int(row.get(k, 0)) for k in ("read", "valid", "quarantined")})
    extracted = counts[(counts["step"] == "extract")]["value"].sum()
    if RECORDS_SOURCE in validated.index:
        stops = validated.loc[RECORDS_SOURCE]
        released = int(stops.get("released", 0))
        if int(stops["read"]) != extracted + released:
            raise ReconciliationError(f"extracted {extracted} stops and {released} were released from "
                                      f"quarantine, but {int(stops['read'])} were validated")
    summary = summarise_run(res.state, run.run_id)
    with res.state.transaction() as conn:
        current = conn.execute(sa.select(db.watermarks.c.value).where(
            db.watermarks.c.name == WATERMARK)).scalar()
        if current is None or _utc(current) < run.window_end:
            res.state.upsert(conn, db.watermarks, [{"name": WATERMARK, "value": run.window_end,
                                                    "run_id": run.run_id}])
        conn.execute(db.runs.update().where(db.runs.c.run_id == run.run_id).values(
            status="succeeded", finished_at=sa.func.now()))
    run.reports_dir.mkdir(parents=True, exist_ok=True)
    (run.reports_dir / "run_summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def summarise_run(state: StateStore, run_id: str) -> dict:
    """The night's figures a person asks for first, from the run's stored counts."""
    counts = _read_sql(state, sa.select(db.run_counts).where(db.run_counts.c.run_id == run_id))

    def get(step: str, source: str, metric: str) -> int:
        hit = counts[(counts["step"] == step) & (counts["source"] == source) & (counts["metric"] == metric)]
        return int(hit["value"].sum())

    states = counts[(counts["step"] == "engagement") & (counts["source"] == "states")]
    by_state = dict(zip(states["metric"], states["value"].astype(int)))
    caseloads = counts[(counts["step"] == "validate") & counts["source"].str.startswith("caseload:")]
    validated = counts[(counts["step"] == "validate") & counts["metric"].isin(["read", "valid", "quarantined"])]
    escalated = _read_sql(state, sa.select(sa.func.count()).select_from(db.escalations).where(
        db.escalations.c.state.in_(["open", "notified", "acknowledged"]))).iloc[0, 0]
    return {
        "run_id": run_id,
        "stops extracted": get("extract", RECORDS_SOURCE, "extracted"),
        "stops quarantined": get("validate", RECORDS_SOURCE, "quarantined"),
        "stops released from quarantine": get("validate", RECORDS_SOURCE, "released"),
        "stops eligible": get("eligibility", RECORDS_SOURCE, "eligible"),
        "referred": get("eligibility", RECORDS_SOURCE, "referred"),
        "caseload rows read": {s.removeprefix("caseload:"): int(v) for s, v in
                               caseloads[caseloads["metric"] == "read"][["source", "value"]].values},
        "caseload rows quarantined": int(caseloads[caseloads["metric"] == "quarantined"]["value"].sum()),
        "matched": get("match", "all", "matched"),
        "possible matches for review": get("match", "all", "possible"),
        "engaged": by_state.get("engaged", 0) + by_state.get("completed", 0),
        "not engaged": sum(by_state.get(s, 0) for s in (
            "declined", "did_not_engage", "no_yot_record", "no_first_contact", "no_session")),
        "awaiting": sum(by_state.get(s, 0) for s in ("awaiting_yot_record", "awaiting_contact", "contacted")),
        "escalated (open cases)": int(escalated),
        "newly escalated tonight": get("escalation", "all", "opened"),
        "YOT file warnings": queries.file_warnings(state, run_id),
        "rows read = valid + quarantined": {
            source: "{read} = {valid} + {quarantined}".format(**{m: 0 for m in ("read", "valid", "quarantined")}
                                                            | dict(zip(g["metric"], g["value"].astype(int))))
            for source, g in validated.groupby("source")},
        "stale YOTs": sorted(counts[(counts["step"] == "engagement")
                                    & (counts["source"] == "stale_yots")]["metric"]),
    }


from pipeline.reporting import send_reports  # noqa: E402,F401 - a step of the night, kept beside the others
from pipeline.digest import send_backfill_digest  # noqa: E402,F401
