"""The quarantine's life after a row is set aside: a person releases it (optionally correcting
values) or discards it; the next run re-checks every released row and processes it if it passes.

Statuses: held (waiting for a person) -> released (a person says: check it again) -> processed
(it passed in a run) or held again (it failed again, with the new reasons); held -> discarded (its
values are erased, its key and reasons kept). Every decision is kept in `quarantine_decisions`
and logged for s.62: a correction is an alteration, a discard an erasure.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db
from connectors.state_db import StateStore

HELD, RELEASED, PROCESSED, DISCARDED = "held", "released", "processed", "discarded"
#: Whole-file quarantines hold a file's name, not its rows: releasing one means "fetch it again".
FILE_RECORD_KEYS = {"file", "sha256"}


class QuarantineError(LookupError):
    """The row asked for is not in the quarantine, or not in a state that allows the decision."""


@dataclass(frozen=True)
class Decision:
    by: str
    note: str


def held_rows(state: StateStore, source: str | None = None, status: str | None = HELD) -> pd.DataFrame:
    """Keys, status and reasons, never the held values: safe to print to a terminal or a log."""
    q = db.quarantine
    query = sa.select(q.c.source, q.c.source_key, q.c.status, q.c.reasons, q.c.first_run_id, q.c.run_id)
    if source:
        query = query.where(q.c.source == source)
    if status:
        query = query.where(q.c.status == status)
    with state.engine.connect() as conn:
        rows = conn.execute(query.order_by(q.c.source, q.c.source_key)).all()
    frame = pd.DataFrame(rows, columns=["source", "source_key", "status", "reasons", "first_run_id", "run_id"])
    frame["reasons"] = [json.loads(r) for r in frame["reasons"]]
    return frame


def release(state: StateStore, source: str, keys: list[str], decision: Decision,
            corrections: dict[str, str] | None = None) -> int:
    """Mark held rows for re-checking by the next run; `corrections` replace original values."""
    corrections = corrections or {}
    q = db.quarantine
    with state.transaction() as conn:
        rows = _held(conn, source, keys)
        for row in rows:
            record = json.loads(row.record)
            if FILE_RECORD_KEYS >= set(record):
                raise QuarantineError(f"{source} {row.source_key} is a whole file, not a row: ask the sender "
                                      "for a corrected file (it is fetched and checked by the next run), "
                                      "then discard this one")
            unknown = sorted(set(corrections) - set(record))
            if unknown:
                raise QuarantineError(f"{source} {row.source_key}: no field {', '.join(unknown)} "
                                      f"(fields: {', '.join(sorted(record))})")
            record.update(corrections)
            conn.execute(q.update().where((q.c.source == source) & (q.c.source_key == row.source_key))
                         .values(status=RELEASED, record=json.dumps(record, ensure_ascii=False)))
        _record_decisions(conn, state, source, [r.source_key for r in rows], RELEASED, decision,
                          sorted(corrections))
    return len(rows)


def discard(state: StateStore, source: str, keys: list[str], decision: Decision) -> int:
    """Never process these rows: their values are erased now, the key and reasons stay as evidence."""
    q = db.quarantine
    with state.transaction() as conn:
        rows = _held(conn, source, keys)
        conn.execute(q.update().where((q.c.source == source) & q.c.source_key.in_([r.source_key for r in rows]))
                     .values(status=DISCARDED, record="{}"))
        _record_decisions(conn, state, source, [r.source_key for r in rows], DISCARDED, decision, [])
    return len(rows)


def released_records(state: StateStore, source: str, run_id: str) -> pd.DataFrame:
    """Rows to re-check in this run: released ones, and those this same run processed already
    (so a retried or re-run task sees the same input). Columns: the original fields + `source_key`."""
    q = db.quarantine
    with state.engine.connect() as conn:
        rows = conn.execute(sa.select(q.c.source_key, q.c.record).where(
            (q.c.source == source) & ((q.c.status == RELEASED)
                                      | ((q.c.status == PROCESSED) & (q.c.run_id == run_id))))
            .order_by(q.c.source_key)).all()
    records = [json.loads(r.record) | {"source_key": r.source_key} for r in rows]
    return pd.DataFrame(records, dtype="str") if records else pd.DataFrame(columns=["source_key"], dtype="str")


def mark_processed(conn: sa.Connection, source: str, keys: pd.Series, run_id: str) -> int:
    """Rows that passed: whatever their quarantine said (held or released), they are done with.
    Reads the (small) open quarantine first, so the cost follows the quarantine, not the batch."""
    q = db.quarantine
    waiting = {k for (k,) in conn.execute(sa.select(q.c.source_key).where(
        (q.c.source == source) & q.c.status.in_([HELD, RELEASED])))}
    done = sorted(waiting.intersection(keys.dropna().astype(str)))
    for start in range(0, len(done), 500):
        conn.execute(q.update().where((q.c.source == source) & q.c.source_key.in_(done[start:start + 500]))
                     .values(status=PROCESSED, run_id=run_id))
    return len(done)


def _held(conn: sa.Connection, source: str, keys: list[str]) -> list:
    q = db.quarantine
    found = conn.execute(sa.select(q.c.source_key, q.c.status, q.c.record).where(
        (q.c.source == source) & q.c.source_key.in_(keys))).all()
    by_key = {r.source_key: r for r in found}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise QuarantineError(f"not in the quarantine of {source}: {', '.join(missing)}")
    wrong = [f"{k} ({by_key[k].status})" for k in keys if by_key[k].status != HELD]
    if wrong:
        raise QuarantineError(f"only held rows can be released or discarded; {source}: {', '.join(wrong)}")
    return [by_key[k] for k in keys]


def _record_decisions(conn: sa.Connection, state: StateStore, source: str, keys: list[str], decision: str,
                      by: Decision, corrected: list[str]) -> None:
    if not keys:
        return
    conn.execute(db.quarantine_decisions.insert(), [{
        "source": source, "source_key": k, "decision": decision, "decided_by": by.by, "note": by.note,
        "corrected_fields": json.dumps(corrected) if corrected else None} for k in keys])
    operation = "erasure" if decision == DISCARDED else ("alteration" if corrected else "consultation")
    what = f" (corrected: {', '.join(corrected)})" if corrected else ""
    state.log_processing(conn, operation=operation, actor=by.by, run_id=f"quarantine__{decision}",
                         subject=f"{len(keys)} quarantined {source} rows {decision}{what}: {', '.join(keys)}",
                         purpose=by.note)
