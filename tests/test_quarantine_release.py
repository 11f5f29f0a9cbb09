"""A person releases quarantined rows (some corrected), discards others; the next run checks the
released ones again, processes those that pass, holds the rest, and every decision is audited.

Real parts: the demo world (SQLite through ODBC, sshd, SMTP) and the `diversion-sync` CLI.
"""
import json
import tempfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.stack import DemoStack
from pipeline import cli
from pipeline.context import NightlyRun
from pipeline.runner import run_night
from tests.state_snapshot import assert_same_state, snapshot


def _plan(stack, night, run_id):
    return NightlyRun.plan(run_id, night, stack.config.scheme.timezone, root=stack.data_dir)


def _quarantine(state) -> pd.DataFrame:
    with state.engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.select(db.quarantine)).fetchall()).set_index(["source", "source_key"])


def _key_with(rows: pd.DataFrame, source: str, check: str) -> str:
    hits = [key for (src, key), r in rows.iterrows() if src == source and check in r["reasons"]]
    assert hits, f"no {source} row quarantined for {check!r}"
    return sorted(hits)[0]


@pytest.fixture(scope="module")
def released():
    with DemoStack(Path(tempfile.mkdtemp(prefix="diversion-release-"))) as stack:
        res = stack.resources()
        run_night(res, _plan(stack, stack.night, "night-1"))
        held = _quarantine(res.state)
        yot = next(s for s, _ in held.index if s.startswith("caseload:"))
        keys = {
            "pnc": _key_with(held, "records_system", "PNC id check letter"),
            "under_ten": _key_with(held, "records_system", "age of criminal responsibility"),
            "quantity": _key_with(held, "records_system", "not a number"),
            "status": _key_with(held, yot, "status is a known caseload status"),
            "dob": _key_with(held, yot, "not a date"),
        }
        url = ["--state-url", stack.state_url]
        decide = ["--by", "DC 4321 (data team)", "--note", "checked with the officer"]
        assert cli.main(["quarantine", "release", "--source", "records_system", "--key", keys["pnc"],
                         "--set", "pnc_id=", *decide, *url]) == 0
        assert cli.main(["quarantine", "release", "--source", "records_system", "--key", keys["under_ten"],
                         *decide, *url]) == 0
        assert cli.main(["quarantine", "discard", "--source", "records_system", "--key", keys["quantity"],
                         *decide, *url]) == 0
        assert cli.main(["quarantine", "release", "--source", yot, "--key", keys["status"],
                         "--set", "status=Engaged", *decide, *url]) == 0
        assert cli.main(["quarantine", "release", "--source", yot, "--key", keys["dob"],
                         "--set", "date_of_birth=28/02/2010", *decide, *url]) == 0
        second = stack.night + timedelta(days=1)
        summary = run_night(res, _plan(stack, second, "night-2"))
        yield stack, res, yot, keys, held, summary


def test_released_rows_that_now_pass_are_processed(released):
    stack, res, yot, keys, _, summary = released
    after = _quarantine(res.state)
    assert after.loc[("records_system", keys["pnc"]), "status"] == "processed"
    assert after.loc[(yot, keys["status"]), "status"] == "processed"
    assert after.loc[(yot, keys["dob"]), "status"] == "processed"
    with res.state.engine.connect() as conn:
        stop = conn.execute(sa.select(db.stops.c.pnc_id, db.stops.c.run_id).where(
            db.stops.c.stop_ref == keys["pnc"])).one()
        lines = {r.source_line: r for r in conn.execute(sa.select(db.caseload_rows).where(
            db.caseload_rows.c.yot_id == yot.removeprefix("caseload:")))}
    assert stop.pnc_id is None and stop.run_id == "night-2"
    for key, status in ((keys["status"], "engaged"), (keys["dob"], None)):
        row = lines[int(key.rsplit(":", 1)[1])]
        assert str(row.snapshot_date) == str(stack.night), "a released row goes back into its own snapshot"
        if status:
            assert row.status == status
    assert summary["stops released from quarantine"] == 2


def test_released_row_that_still_fails_is_held_again(released):
    _, res, _, keys, before, _ = released
    row = _quarantine(res.state).loc[("records_system", keys["under_ten"])]
    assert row["status"] == "held" and row["run_id"] == "night-2"
    assert row["first_run_id"] == "night-1"
    assert "age of criminal responsibility" in row["reasons"]


def test_discarded_row_is_erased_but_its_key_and_reasons_stay(released):
    _, res, _, keys, before, _ = released
    row = _quarantine(res.state).loc[("records_system", keys["quantity"])]
    assert row["status"] == "discarded" and row["record"] == "{}"
    assert row["reasons"] == before.loc[("records_system", keys["quantity"]), "reasons"]


def test_counts_reconcile_with_released_rows(released):
    _, res, yot, _, _, _ = released
    with res.state.engine.connect() as conn:
        counts = pd.DataFrame(conn.execute(sa.select(db.run_counts).where(
            (db.run_counts.c.run_id == "night-2") & (db.run_counts.c.step == "validate"))).fetchall())
    table = counts.pivot_table(index="source", columns="metric", values="value", aggfunc="sum", fill_value=0)
    assert table.loc["records_system", "released"] == 2
    assert table.loc[f"released:{yot}", "read"] == 2 and table.loc[f"released:{yot}", "valid"] == 2
    assert (table["read"] == table["valid"] + table["quarantined"]).all()


def test_decisions_are_audited_without_personal_values(released):
    _, res, yot, keys, before, _ = released
    with res.state.engine.connect() as conn:
        decisions = conn.execute(sa.select(db.quarantine_decisions)).fetchall()
        log = conn.execute(sa.select(db.processing_log).where(
            db.processing_log.c.run_id.like("quarantine__%"))).fetchall()
    assert {(d.source_key, d.decision) for d in decisions} == {
        (keys["pnc"], "released"), (keys["under_ten"], "released"), (keys["quantity"], "discarded"),
        (keys["status"], "released"), (keys["dob"], "released")}
    assert {d.decided_by for d in decisions} == {"DC 4321 (data team)"}
    assert {e.operation for e in log} == {"alteration", "consultation", "erasure"}
    original = json.loads(before.loc[(yot, keys["dob"]), "record"])
    text = " ".join(e.subject for e in log)
    assert "date_of_birth" in text
    for value in (original["date_of_birth"], original["surname"], "28/02/2010"):
        assert value not in text


def test_a_rerun_of_the_release_night_gives_the_same_state(released):
    stack, res, *_ = released
    before = snapshot(res.state)
    run_night(res, _plan(stack, stack.night + timedelta(days=1), "night-2"))
    assert_same_state(before, snapshot(res.state))


def test_list_shows_keys_and_reasons_never_values(released, capsys):
    stack, res, yot, keys, before, _ = released
    assert cli.main(["quarantine", "list", "--state-url", stack.state_url, "--status", "all"]) == 0
    out = capsys.readouterr().out
    assert keys["under_ten"] in out and "age of criminal responsibility" in out
    for (_, _), row in before.iterrows():
        record = json.loads(row["record"])
        for field in ("surname", "forename", "date_of_birth"):
            if record.get(field):
                assert record[field] not in out


def test_only_held_rows_can_be_decided_and_fields_must_exist(released, capsys):
    stack, _, yot, keys, _, _ = released
    url = ["--state-url", stack.state_url, "--by", "x", "--note", "y"]
    assert cli.main(["quarantine", "discard", "--source", "records_system", "--key", keys["pnc"], *url]) == 1
    assert "only held rows" in capsys.readouterr().err
    assert cli.main(["quarantine", "release", "--source", "records_system", "--key", keys["under_ten"],
                     "--set", "shoe_size=9", *url]) == 1
    assert "no field shoe_size" in capsys.readouterr().err
    assert cli.main(["quarantine", "release", "--source", "records_system", "--key", "NOPE", *url]) == 1
    assert "not in the quarantine" in capsys.readouterr().err


def test_data_quality_page_shows_the_trend_and_the_released_rows(released):
    stack, *_ = released
    page = (stack.data_dir / "reports" / str(stack.night + timedelta(days=1)) / "data-quality.html").read_text()
    assert "Trend over the last 2 run(s)" in page
    assert "released:caseload:" in page
    assert "age at the stop is 10 or over" in page
