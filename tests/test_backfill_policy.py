"""Backfills without Airflow: the policy (held reports, one digest), equality with nights run one
by one, re-running changing nothing, and the next scheduled night telling supervisors once."""
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.stack import DemoStack
from pipeline.context import NightlyRun
from pipeline.operations import format_nights, last_nights
from pipeline.runner import run_backfill, run_night
from tests.state_snapshot import STATE_TABLES, assert_same_state, snapshot

NIGHTS = 3
DOMAIN_TABLES = tuple(t for t in STATE_TABLES if t != "report_dispatches")


def _runs(stack, prefix):
    first = stack.night - timedelta(days=NIGHTS - 1)
    return [NightlyRun.plan(f"{prefix}__{first + timedelta(days=i)}", first + timedelta(days=i),
                            stack.config.scheme.timezone, root=stack.data_dir) for i in range(NIGHTS)]


def _stack(prefix):
    stack = DemoStack(Path(tempfile.mkdtemp(prefix=prefix))).__enter__()
    stack.repeat_exports([stack.night - timedelta(days=i) for i in range(NIGHTS + 1)])
    return stack


@pytest.fixture(scope="module")
def backfilled():
    stack = _stack("diversion-backfill-")
    res = stack.resources()
    run_backfill(res, _runs(stack, "backfill"))
    yield stack, res
    stack.__exit__(None, None, None)


def _dispatches(res):
    with res.state.engine.connect() as conn:
        return [r.group_id for r in conn.execute(sa.select(db.report_dispatches.c.group_id))]


def test_backfill_mails_no_supervisor_and_one_digest_to_the_engineers(backfilled):
    stack, res = backfilled
    messages = stack.mail.messages()
    assert [m["X-Diversion-Report"].split("/")[0] for m in messages] == ["backfill-digest"]
    (digest,) = messages
    assert digest["To"] == ", ".join(stack.config.report.engineers)
    body = digest.get_content()
    first = stack.night - timedelta(days=NIGHTS - 1)
    assert f"ran {NIGHTS} night(s), {first} to {stack.night}" in body
    with res.state.engine.connect() as conn:
        held = conn.execute(sa.select(sa.func.count()).select_from(db.escalations)
                            .where(db.escalations.c.state == "open")).scalar()
        surnames = {s for (s,) in conn.execute(sa.select(db.stops.c.surname)) if s}
    assert held > 0 and f"{held} escalation(s) are open" in body
    assert not any(f" {s} " in body or f" {s}\n" in body for s in surnames), "digest carries names"
    for night in (first + timedelta(days=i) for i in range(NIGHTS)):  # audit copies are still kept
        assert list((stack.data_dir / "reports" / str(night)).glob("exceptions_*.html"))


def test_backfill_equals_the_same_nights_run_one_by_one(backfilled):
    stack, res = backfilled
    one_by_one = _stack("diversion-single-")
    try:
        single = one_by_one.resources()
        for run in _runs(one_by_one, "manual"):
            run_night(single, run, run_type="backfill")
        assert_same_state(snapshot(res.state, DOMAIN_TABLES), snapshot(single.state, DOMAIN_TABLES))
        # each single backfill night ends its own backfill, so each has its own digest
        assert len(one_by_one.mail.messages()) == NIGHTS
    finally:
        one_by_one.__exit__(None, None, None)


def test_backfill_again_changes_nothing_and_sends_nothing(backfilled):
    stack, res = backfilled
    before, sent = snapshot(res.state), len(stack.mail.messages())
    run_backfill(res, _runs(stack, "backfill"))          # the same runs cleared and re-run
    run_backfill(res, _runs(stack, "backfill_again"))    # a second backfill of the same range
    after = snapshot(res.state, DOMAIN_TABLES)
    assert_same_state({k: before[k] for k in DOMAIN_TABLES}, after)
    digests = [m for m in stack.mail.messages()[sent:]]
    # the re-run needs no digest; the second backfill (new runs) is reported once, to engineers only
    assert [m["X-Diversion-Report"].split("/")[0] for m in digests] == ["backfill-digest"]


def test_next_scheduled_night_sends_held_escalations_once(backfilled):
    stack, res = backfilled
    sent = len(stack.mail.messages())
    night = stack.night + timedelta(days=1)
    stack.repeat_exports([night])
    run = NightlyRun.plan(f"scheduled__{night}", night, stack.config.scheme.timezone, root=stack.data_dir)
    run_night(res, run)
    new = stack.mail.messages()[sent:]
    to_supervisors = [m for m in new if m["X-Diversion-Report"].split("/")[0] in stack.config.supervisor_groups]
    assert to_supervisors
    with res.state.engine.connect() as conn:
        still_open = conn.execute(sa.select(sa.func.count()).select_from(db.escalations)
                                  .where(db.escalations.c.state == "open")).scalar()
    assert still_open == 0
    run_night(res, run)  # a retry sends nothing again
    assert len(stack.mail.messages()) == sent + len(new)


def test_last_nights_table_shows_each_night_with_durations(backfilled):
    _, res = backfilled
    table = last_nights(res.state, last=2)
    assert len(table) == 2 and table["night"].is_monotonic_decreasing
    assert (table["status"] == "succeeded").all()
    assert (table["seconds"] > 0).all() and table["slowest step"].str.match(r"\w+ \d+\.\d+s").all()
    text = format_nights(table)
    assert "night" in text and str(table["night"].iloc[0]) in text


def test_nights_command_prints_the_table(backfilled, capsys):
    stack, _ = backfilled
    from pipeline.cli import main
    assert main(["nights", "--state-url", stack.state_url, "--last", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["night", "run_id", "type", "status"]
    assert len(out) == 4 and all("succeeded" in line for line in out[1:])


def test_a_sent_report_can_be_resent_exactly_and_is_logged(backfilled, monkeypatch, capsys):
    stack, res = backfilled
    from connectors.mail import airflow_smtp_connection_json
    from pipeline.cli import main
    with res.state.engine.connect() as conn:
        night, group = conn.execute(sa.select(db.report_dispatches.c.night, db.report_dispatches.c.group_id)
                                    .where(db.report_dispatches.c.group_id.in_(list(stack.config.supervisor_groups)))
                                    .order_by(db.report_dispatches.c.group_id)).first()
    original = next(m for m in stack.mail.messages() if m["X-Diversion-Report"] == f"{group}/{night}")
    monkeypatch.setenv("AIRFLOW_CONN_" + stack.config.connections.smtp.upper(),
                       airflow_smtp_connection_json(stack.mail.host, stack.mail.port))
    args = ["resend-report", "--state-url", stack.state_url, "--data-dir", str(stack.data_dir),
            "--night", str(night), "--report", group, "--requested-by", "PS 1234", "--reason", "mailbox lost it",
            "--to", "duty.sergeant@police.example"]
    assert main(args) == 0
    again = stack.mail.messages()[-1]
    assert again["To"] == "duty.sergeant@police.example"
    assert again["Message-ID"] == original["Message-ID"] and again["X-Diversion-Resent"]
    assert again.get_body(("html",)).get_content() == original.get_body(("html",)).get_content()
    with res.state.engine.connect() as conn:
        logged = conn.execute(sa.select(db.processing_log).where(db.processing_log.c.actor == "PS 1234")).one()
    assert logged.operation == "disclosure" and "mailbox lost it" in logged.purpose
    assert main(args[:5] + ["--night", "2020-01-01"] + args[7:]) == 1
    assert "no message was sent" in capsys.readouterr().err
