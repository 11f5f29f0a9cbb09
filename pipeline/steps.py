"""One function per task of the nightly run. Each reads what the previous step staged, does its
work through connectors and transforms, commits its state-database writes in one transaction and
returns small metadata (counts, paths) for XCom. Each can be re-run on its own.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore
from pipeline.context import NightlyRun
from pipeline.resources import Resources
from transforms.calendar import WorkingCalendar
from transforms.caseload import read_export, validate_caseload
from transforms.eligibility import decide_eligibility, referral_ref_for, route_to_yot
from transforms import engagement as engagement_rules
from transforms.acknowledgements import AcknowledgementError, read_acknowledgements
from transforms.escalation import plan_escalations
from transforms.matching import match_people
from transforms.stops import validate_stops as split_stops
from transforms.validation import BatchRejected, SplitBatch, describe_reasons

log = logging.getLogger(__name__)
RECORDS_SOURCE = "records_system"
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


def _quarantine_rows(batch: SplitBatch, source: str, key: pd.Series, run: NightlyRun) -> list[dict]:
    rows = []
    for idx, rec in batch.quarantined.drop(columns=["reasons"]).iterrows():
        original = {k: (None if pd.isna(v) else str(v)) for k, v in rec.items()}
        rows.append({"source": source, "source_key": str(key.loc[idx]), "status": "held",
                     "reasons": json.dumps(batch.quarantined.at[idx, "reasons"], default=str),
                     "record": json.dumps(original, ensure_ascii=False), "first_run_id": run.run_id,
                     "run_id": run.run_id})
    return rows


def _reconcile(source: str, counts: dict[str, int]) -> None:
    if counts["read"] != counts["valid"] + counts["quarantined"]:
        raise ReconciliationError(
            f"{source}: read {counts['read']} rows but {counts['valid']} valid + "
            f"{counts['quarantined']} quarantined")


# --- steps -------------------------------------------------------------------------------------

def start_run(res: Resources, run: NightlyRun) -> dict:
    res.state.create_all()
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.runs, [{
            "run_id": run.run_id, "night": run.night, "window_start": run.window_start,
            "window_end": run.window_end, "status": "running", "finished_at": None}])
    run.staging_dir.mkdir(parents=True, exist_ok=True)
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
    raw.to_parquet(path, index=False)
    with res.state.transaction() as conn:
        res.state.record_counts(conn, run.run_id, "extract", {RECORDS_SOURCE: {"extracted": len(raw)}})
        res.state.log_processing(conn, operation="collection", actor=res.actor, run_id=run.run_id,
                                 subject=f"{len(raw)} stop records", purpose="nightly extraction")
    log.info("extracted %d stops modified since %s", len(raw), since.isoformat())
    return {"rows": len(raw), "modified_since": since.isoformat(), "path": str(path)}


def validate_stops(res: Resources, run: NightlyRun) -> dict:
    raw = pd.read_parquet(run.staged("stops_raw.parquet"))
    batch = split_stops(raw, res.config)
    counts = batch.counts
    _reconcile(RECORDS_SOURCE, counts)
    valid = batch.valid
    valid.to_parquet(run.staged("stops_valid.parquet"), index=False)
    cols = [c.name for c in db.stops.columns if c.name != "run_id"]
    stop_rows = valid.assign(date_of_birth=valid["date_of_birth"].dt.date)[cols].assign(run_id=run.run_id)
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.stops, _nulls(stop_rows.to_dict("records")))
        keys = batch.quarantined["stop_ref"].fillna(
            pd.Series("row " + batch.quarantined.index.astype(str), index=batch.quarantined.index))
        res.state.upsert(conn, db.quarantine, _quarantine_rows(batch, RECORDS_SOURCE, keys, run),
                         update=["reasons", "record", "run_id"])
        res.state.record_counts(conn, run.run_id, "validate", {RECORDS_SOURCE: counts})
    for idx in batch.quarantined.index:
        log.warning("stop %s quarantined: %s", batch.quarantined.at[idx, "stop_ref"],
                    describe_reasons(batch.quarantined.at[idx, "reasons"]))
    return counts


def decide_referrals(res: Resources, run: NightlyRun) -> dict:
    """Eligibility for every valid stop; a referral to the child's YOT for each eligible one."""
    stops = pd.read_parquet(run.staged("stops_valid.parquet"))
    history = _read_sql(res.state, sa.select(
        db.referrals.c.referral_ref, db.referrals.c.stop_ref.label("referral_stop_ref"),
        db.referrals.c.person_id, db.stops.c.stop_time, db.engagement.c.state,
    ).join(db.stops, db.stops.c.stop_ref == db.referrals.c.stop_ref).outerjoin(
        db.engagement, db.engagement.c.referral_ref == db.referrals.c.referral_ref))
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
    referral_rows.to_parquet(run.staged("referrals.parquet"), index=False)
    return {"decided": len(decisions), "eligible": int(decisions["eligible"].sum()),
            "referred": len(referral_rows)}


def fetch_caseloads(res: Resources, run: NightlyRun) -> dict:
    """Each YOT's export for the night, downloaded atomically; one YOT down does not stop the rest."""
    from connectors.yot_sftp import CaseloadDrop, SftpError
    outcome: dict[str, dict] = {}
    for yot_id, yot in res.config.yots.items():
        name = res.config.caseload.file_name(yot_id, run.night)
        try:
            with res.open_sftp(yot_id) as sftp:
                drop = CaseloadDrop(sftp, yot.export_dir, yot_id)
                remote = drop.find(name)
                if remote is None:
                    outcome[yot_id] = {"status": "missing", "file": name}
                    log.warning("YOT %s: no caseload export %s", yot_id, name)
                    continue
                fetched = drop.fetch(remote, run.staged(f"caseloads/{yot_id}/{name}"))
        except SftpError as exc:
            outcome[yot_id] = {"status": "unavailable", "file": name, "error": str(exc)}
            log.warning("YOT %s: caseload not fetched: %s", yot_id, exc)
            continue
        outcome[yot_id] = {"status": "fetched", "file": name, "path": str(fetched.local_path),
                           "sha256": fetched.sha256, "size": fetched.remote.size,
                           "mtime": fetched.remote.mtime}
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.processed_files, [
            {"yot_id": y, "file_name": o["file"], "sha256": o["sha256"], "size": o["size"],
             "mtime": o["mtime"], "run_id": run.run_id}
            for y, o in outcome.items() if o["status"] == "fetched"], update=[])
        res.state.record_counts(conn, run.run_id, "fetch", {
            y: {"fetched": int(o["status"] == "fetched")} for y, o in outcome.items()})
    run.staged("caseloads.json").write_text(json.dumps(outcome, indent=1))
    return {y: o["status"] for y, o in outcome.items()}


def validate_caseloads(res: Resources, run: NightlyRun) -> dict:
    fetched = json.loads(run.staged("caseloads.json").read_text())
    counts, frames = {}, []
    for yot_id, info in fetched.items():
        if info["status"] != "fetched":
            continue
        source = f"caseload:{yot_id}"
        with open(info["path"], "rb") as fh:
            data = fh.read()
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
            log.error("YOT %s: caseload file rejected: %s", yot_id, exc)
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
            res.state.upsert(conn, db.caseload_rows, _nulls(valid.to_dict("records")))
            res.state.upsert(conn, db.quarantine, _quarantine_rows(batch, source, keys, run),
                             update=["reasons", "record", "run_id"])
            res.state.upsert(conn, db.caseload_snapshots, [{
                "yot_id": yot_id, "snapshot_date": run.night, "file_name": info["file"],
                "sha256": info["sha256"], "rows": len(valid), "run_id": run.run_id}])
            res.state.record_counts(conn, run.run_id, "validate", {source: batch.counts})
    return counts


def _newest_snapshots(res: Resources, run: NightlyRun) -> dict[str, object]:
    """Each YOT's newest caseload snapshot date up to the night."""
    snaps = _read_sql(res.state, sa.select(db.caseload_snapshots.c.yot_id,
                                     sa.func.max(db.caseload_snapshots.c.snapshot_date).label("latest"))
                      .where(db.caseload_snapshots.c.snapshot_date <= run.night)
                      .group_by(db.caseload_snapshots.c.yot_id))
    return dict(zip(snaps["yot_id"], pd.to_datetime(snaps["latest"]).dt.date)) if len(snaps) else {}


def _stale_yots(res: Resources, run: NightlyRun) -> dict[str, object]:
    """YOTs whose newest export is too old or absent, with its date (None when never received)."""
    latest = _newest_snapshots(res, run)
    limit = run.night - timedelta(days=res.config.caseload.stale_after_days)
    return {y: latest.get(y) for y in res.config.yots if latest.get(y) is None or latest[y] < limit}


def _latest_caseloads(res: Resources, run: NightlyRun) -> tuple[pd.DataFrame, set[str]]:
    """The rows of each YOT's newest snapshot, and the set of stale YOTs."""
    rows = [_read_sql(res.state, sa.select(db.caseload_rows).where(
                (db.caseload_rows.c.yot_id == yot_id) & (db.caseload_rows.c.snapshot_date == day)))
            for yot_id, day in _newest_snapshots(res, run).items()]
    cases = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=[c.name for c in db.caseload_rows.columns])
    return cases, set(_stale_yots(res, run))


def match_referrals(res: Resources, run: NightlyRun) -> dict:
    """Find each referred child in their YOT's newest caseload; one-to-one, with reasons."""
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
        found.append(pairs.assign(yot_id=yot_id))
    matched = pd.concat(found, ignore_index=True) if found else pd.DataFrame(
        columns=["left_id", "right_id", "score", "status", "method", "reasons", "yot_id"])
    rows = [{"referral_ref": r.left_id, "yot_id": r.yot_id, "case_id": r.right_id,
             "score": float(r.score), "status": r.status, "method": r.method, "reasons": r.reasons,
             "run_id": run.run_id} for r in matched.itertuples()]
    with res.state.transaction() as conn:
        conn.execute(db.matches.delete())  # tonight's matching replaces the last one whole
        res.state.upsert(conn, db.matches, rows)
        res.state.record_counts(conn, run.run_id, "match", {"all": {
            "referrals": len(referrals), "matched": int((matched["status"] == "matched").sum()),
            "possible": int((matched["status"] == "possible").sum())}})
    return {"referrals": len(referrals), "matched": int((matched["status"] == "matched").sum()),
            "possible": int((matched["status"] == "possible").sum())}


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
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.engagement, _nulls(rows.to_dict("records")))
        res.state.record_counts(conn, run.run_id, "engagement", {
            "states": {k: int(v) for k, v in result["state"].value_counts().items()},
            "stale_yots": {y: 1 for y in sorted(stale)}})
    return {"assessed": len(result), "stale_yots": sorted(stale),
            "not_engaged": int(result["non_engagement_reason"].notna().sum())}


def _import_acknowledgement_files(res: Resources, run: NightlyRun) -> dict[str, int]:
    """Take supervisors' acknowledgement files from the inbound folder into the state database.

    A good file moves to processed/, a bad one to rejected/ (named in the log with its line and
    field); neither stops the night.
    """
    inbound = res.data_dir / "acknowledgements"
    counts = {"files": 0, "rows": 0, "rejected_files": 0}
    for path in sorted(inbound.glob("*.csv")) if inbound.is_dir() else []:
        try:
            acks = read_acknowledgements(path.read_bytes(), path.name)
        except AcknowledgementError as exc:
            log.error("acknowledgements rejected: %s", exc)
            counts["rejected_files"] += 1
            _move_into(path, inbound / "rejected")
            continue
        with res.state.transaction() as conn:
            res.state.upsert(conn, db.acknowledgements, _nulls(acks.to_dict("records")),
                             update=["acknowledged_by", "acknowledged_on", "note", "source"])
        counts["files"] += 1
        counts["rows"] += len(acks)
        _move_into(path, inbound / "processed")
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
    """Check the counts reconcile, advance the watermark, and write the night's summary."""
    counts = _read_sql(res.state, sa.select(db.run_counts).where(db.run_counts.c.run_id == run.run_id))
    validated = counts[counts["step"] == "validate"].pivot_table(
        index="source", columns="metric", values="value", aggfunc="sum", fill_value=0)
    for source, row in validated.iterrows():
        if "read" in row:
            _reconcile(source, {k: int(row.get(k, 0)) for k in ("read", "valid", "quarantined")})
    extracted = counts[(counts["step"] == "extract")]["value"].sum()
    if RECORDS_SOURCE in validated.index and int(validated.loc[RECORDS_SOURCE, "read"]) != extracted:
        raise ReconciliationError(f"extracted {extracted} stops but validated "
                                  f"{int(validated.loc[RECORDS_SOURCE, 'read'])}")
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
    escalated = _read_sql(state, sa.select(sa.func.count()).select_from(db.escalations).where(
        db.escalations.c.state.in_(["open", "notified", "acknowledged"]))).iloc[0, 0]
    return {
        "run_id": run_id,
        "stops extracted": get("extract", RECORDS_SOURCE, "extracted"),
        "stops quarantined": get("validate", RECORDS_SOURCE, "quarantined"),
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
        "stale YOTs": sorted(counts[(counts["step"] == "engagement")
                                    & (counts["source"] == "stale_yots")]["metric"]),
    }


from pipeline.reporting import send_reports  # noqa: E402,F401 - a step of the night, kept beside the others
