"""The nightly run's steps: each composes connectors (I/O) and transforms (logic) for one task.

NIGHTLY_STEPS names the steps of `pipeline.steps` in order; the DAG and the plain runner both
wire from it, and it lives here so that parsing the DAG imports nothing heavy.
"""
NIGHTLY_STEPS = (
    "start_run", "extract_stops", "validate_stops", "decide_referrals", "upload_referrals",
    "fetch_caseloads", "validate_caseloads", "match_referrals", "assess_engagement", "update_escalations",
    "send_reports", "finish_run", "send_backfill_digest",
)
