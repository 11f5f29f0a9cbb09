"""The whole night against the demo world: real SQLite ODBC, real sshd, real SMTP.

The escalated young people must be exactly the generator's non-engagers (by identity), and
running the same night again must leave the same state and send no second email.
"""
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.stack import DemoStack
from pipeline.context import NightlyRun
from pipeline.runner import run_night
from tests.state_snapshot import STATE_TABLES, snapshot as _snapshot

ACTIVE = ("open", "notified", "acknowledged")


@pytest.fixture(scope="module")
def stack():
    with DemoStack(Path(tempfile.mkdtemp(prefix="diversion-e2e-"))) as running:
        yield running


def _escalated(state: db.StateStore) -> set[str]:
    with state.engine.connect() as conn:
        return {r for (r,) in conn.execute(sa.select(db.escalations.c.referral_ref).where(
            db.escalations.c.state.in_(ACTIVE)))}


def _plan(stack: DemoStack, run_id: str) -> NightlyRun:
    return NightlyRun.plan(run_id, stack.night, stack.config.scheme.timezone, root=stack.data_dir)


@pytest.fixture(scope="module")
def first_run(stack):
    res = stack.resources()
    summary = run_night(res, _plan(stack, "scheduled__2026-11-25T02:00:00+00:00"))
    return res, summary


def test_escalated_young_people_are_the_ground_truth(stack, first_run):
    res, summary = first_run
    truth = stack.world.truth
    assert _escalated(res.state) == set(truth["escalated_referral_refs"])
    with res.state.engine.connect() as conn:
        persons = {p for (p,) in conn.execute(
            sa.select(db.referrals.c.person_id).join(db.escalations, db.escalations.c.referral_ref
                                                     == db.referrals.c.referral_ref))}
        eligible = {s for (s,) in conn.execute(sa.select(db.eligibility_decisions.c.stop_ref).where(
            db.eligibility_decisions.c.eligible))}
        quarantined = {k for (k,) in conn.execute(sa.select(db.quarantine.c.source_key).where(
            db.quarantine.c.source == "records_system"))}
    assert persons == set(truth["escalated_person_ids"])
    assert eligible == set(truth["eligible_stop_refs"])
    assert quarantined == set(truth["quarantined_stop_refs"])
    assert summary["stops extracted"] == truth["stops"]
    assert summary["caseload rows quarantined"] == truth["caseload_rows_quarantined"]
    assert summary["stale YOTs"] == truth["stale_yots"]


def test_counts_reconcile_for_every_source(first_run):
    res, _ = first_run
    with res.state.engine.connect() as conn:
        counts = pd.DataFrame(conn.execute(sa.select(db.run_counts).where(
            db.run_counts.c.step == "validate")).fetchall())
    per_source = counts.pivot_table(index="source", columns="metric", values="value", aggfunc="sum")
    assert len(per_source) >= 2
    assert (per_source["read"] == per_source["valid"] + per_source["quarantined"]).all()


def test_each_supervisor_group_gets_one_email_with_its_cases(stack, first_run):
    res, _ = first_run
    everything = stack.mail.messages()
    messages = [m for m in everything if m["X-Diversion-Report"].split("/")[0] in stack.config.supervisor_groups]
    assert messages, "no report was sent"
    with res.state.engine.connect() as conn:
        dispatched = pd.DataFrame(conn.execute(sa.select(db.report_dispatches).where(
            db.report_dispatches.c.group_id.in_(list(stack.config.supervisor_groups)))).fetchall())
        disclosures = conn.execute(sa.select(sa.func.count()).select_from(db.processing_log).where(
            db.processing_log.c.operation == "disclosure",
            db.processing_log.c.subject.startswith("exception report"))).scalar()
    assert len(messages) == len(dispatched) == disclosures
    for message in messages:
        group = stack.config.supervisor_groups[message["X-Diversion-Report"].split("/")[0]]
        assert message["To"] == ", ".join(group.recipients)
        (chart,) = [p for p in message.walk() if p.get_content_type() == "image/png"]
        assert chart.get_content().startswith(b"\x89PNG")
    (stale,) = [m for m in everything if m["X-Diversion-Report"].startswith("stale-yots/")]
    assert stale["To"] == ", ".join(stack.config.report.engineers)
    assert "Slough: no export received yet" in stale.get_content()
    (to_yot,) = [m for m in everything if m["X-Diversion-Report"].startswith("yot-stale/")]
    assert to_yot["X-Diversion-Report"] == "yot-stale/slough/2026-11-24"
    assert to_yot["To"] == ", ".join(stack.config.yots["slough"].contacts)
    assert "no export received yet" in to_yot.get_content()
    body = to_yot.get_content()
    assert not any(ref in body for ref in stack.world.truth["escalated_referral_refs"])
    sent_refs = set()
    for message in messages:
        html = message.get_body(("html",)).get_content()
        sent_refs |= {ref for ref in stack.world.truth["escalated_referral_refs"] if ref in html}
    assert sent_refs == set(stack.world.truth["escalated_referral_refs"])


def test_same_night_again_gives_same_state_and_no_second_email(stack, first_run):
    res, _ = first_run
    before = _snapshot(res.state)
    sent_before = len(stack.mail.messages())
    run_night(res, _plan(stack, "scheduled__2026-11-25T02:00:00+00:00"))  # a retry of the run
    run_night(res, _plan(stack, "manual__2026-11-25T09:00:00+00:00"))     # a manual re-run
    after = _snapshot(res.state)
    for name in STATE_TABLES:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    assert len(stack.mail.messages()) == sent_before


def test_state_database_on_postgresql(postgres_database):
    """The same night with the state in PostgreSQL: same escalations, and a re-run adds nothing."""
    url = (f"postgresql+psycopg://{postgres_database['user']}@{postgres_database['host']}:"
           f"{postgres_database['port']}/{postgres_database['dbname']}")
    with DemoStack(Path(tempfile.mkdtemp(prefix="diversion-pg-e2e-")), state_url=url) as pg_stack:
        res = pg_stack.resources()
        run_night(res, _plan(pg_stack, "scheduled__2026-11-25T02:00:00+00:00"))
        assert _escalated(res.state) == set(pg_stack.world.truth["escalated_referral_refs"])
        before, sent = _snapshot(res.state), len(pg_stack.mail.messages())
        run_night(res, _plan(pg_stack, "manual__2026-11-25T09:00:00+00:00"))
        after = _snapshot(res.state)
        for name in STATE_TABLES:
            pd.testing.assert_frame_equal(before[name], after[name], obj=name)
        assert len(pg_stack.mail.messages()) == sent
