"""The pipeline's state as comparable frames: what two ways of running the same nights must agree on."""
import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db

# Columns that record which run or when, not what: left out when comparing two runs' state.
BOOKKEEPING = {"run_id", "first_run_id", "sent_at", "logged_at", "started_at", "finished_at", "uploaded_at"}
STATE_TABLES = ("stops", "eligibility_decisions", "referrals", "caseload_rows", "caseload_snapshots",
                "processed_files", "matches", "engagement", "escalations", "escalation_history",
                "quarantine", "report_dispatches", "watermarks", "referral_uploads", "referral_exports",
                "match_reviews")


def snapshot(state: db.StateStore, tables=STATE_TABLES) -> dict[str, pd.DataFrame]:
    out = {}
    with state.engine.connect() as conn:
        for name in tables:
            table = db.metadata.tables[name]
            cols = [c for c in table.columns if c.name not in BOOKKEEPING]
            frame = pd.DataFrame(conn.execute(sa.select(*cols)).fetchall(), columns=[c.name for c in cols])
            out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True).astype(str)
    return out


def assert_same_state(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
