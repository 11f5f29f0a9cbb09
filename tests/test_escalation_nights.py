"""Escalations across nights: the child who engages after all, a supervisor's acknowledgement,
and the next report saying what changed, without telling anyone the same case twice."""
import csv
import io
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.stack import DemoStack
from pipeline.context import NightlyRun
from pipeline.runner import run_night


def _plan(stack, night, run_id):
    return NightlyRun.plan(run_id, night, stack.config.scheme.timezone, root=stack.data_dir)


def _rows(state, query):
    with state.engine.connect() as conn:
        return conn.execute(query).all()


@pytest.fixture(scope="module")
def two_nights():
    with DemoStack(Path(tempfile.mkdtemp(prefix="diversion-nights-"))) as stack:
        res = stack.resources()
        first = stack.night
        run_night(res, _plan(stack, first, "night-1"))
        sent_first = len(stack.mail.messages())
        # a child escalated for no first contact, on a YOT that sent its export
        (engaging_ref, yot_id, case_id), *_ = _rows(res.state, sa.select(
            db.escalations.c.referral_ref, db.referrals.c.yot_id, db.engagement.c.yot_case_id)
            .join(db.referrals, db.referrals.c.referral_ref == db.escalations.c.referral_ref)
            .join(db.engagement, db.engagement.c.referral_ref == db.escalations.c.referral_ref)
            .where(db.escalations.c.reason == "no_first_contact", db.engagement.c.yot_case_id.is_not(None))
            .order_by(db.escalations.c.referral_ref))
        acked_ref, acked_reason = _rows(res.state, sa.select(db.escalations.c.referral_ref, db.escalations.c.reason)
                                        .where(db.escalations.c.referral_ref != engaging_ref)
                                        .order_by(db.escalations.c.referral_ref))[0]
        second = first + timedelta(days=1)
        for yot in stack.config.yots.values():
            folder = stack.world.sftp_root / yot.export_dir
            name = stack.config.caseload.file_name(next(k for k, v in stack.config.yots.items() if v is yot), first)
            places = [folder / name] + ([stack.world.sftp_root / yot.archive_dir / name] if yot.archive_dir else [])
            today = next((p for p in places if p.exists()), None)  # processed exports may be archived
            if today is None:
                continue
            text = today.read_bytes().decode("cp1252" if "oxfordshire" in today.name else "utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text)))
            for row in rows:
                if row["YOT Case ID"] == case_id:
                    row.update({"Status": "Engaged", "First Contact": second.strftime("%d/%m/%Y"),
                                "Sessions Offered": "3", "Sessions Attended": "1",
                                "Status Date": second.strftime("%d/%m/%Y")})
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)
            (folder / today.name.replace(first.strftime("%Y%m%d"), second.strftime("%Y%m%d"))).write_text(
                out.getvalue(), encoding="utf-8")
        inbound = stack.data_dir / "acknowledgements"
        inbound.mkdir(parents=True)
        (inbound / "acks-1.csv").write_text(
            "referral_ref,reason,acknowledged_by,acknowledged_on,note\r\n"
            f"{acked_ref},{acked_reason},Sgt 1234,{second.isoformat()},arrest planned\r\n")
        (inbound / "bad.csv").write_text("referral_ref,reason,acknowledged_by,acknowledged_on\r\n"
                                         f"{acked_ref},tired,Sgt 1234,{second.isoformat()}\r\n")
        run_night(res, _plan(stack, second, "night-2"))
        yield stack, res, sent_first, engaging_ref, (acked_ref, acked_reason), yot_id


def test_child_who_engaged_after_all_is_resolved(two_nights):
    stack, res, _, engaging_ref, _, _ = two_nights
    (state, resolved_night), = _rows(res.state, sa.select(db.escalations.c.state, db.escalations.c.resolved_night)
                                     .where(db.escalations.c.referral_ref == engaging_ref))
    assert state == "resolved" and str(resolved_night) == str(stack.night + timedelta(days=1))


def test_acknowledgement_file_is_honoured_and_bad_file_set_aside(two_nights):
    stack, res, _, _, (ref, reason), _ = two_nights
    (state,), = _rows(res.state, sa.select(db.escalations.c.state).where(
        db.escalations.c.referral_ref == ref, db.escalations.c.reason == reason))
    assert state == "acknowledged"
    inbound = stack.data_dir / "acknowledgements"
    assert (inbound / "processed" / "acks-1.csv").exists()
    assert (inbound / "rejected" / "bad.csv").exists()


def test_next_report_says_what_changed_and_repeats_no_case(two_nights):
    stack, res, sent_first, engaging_ref, (acked_ref, _), _ = two_nights
    second_night = [m for m in stack.mail.messages()[sent_first:]
                    if m["X-Diversion-Report"].split("/")[0] in stack.config.supervisor_groups]
    assert second_night, "the groups whose cases changed get a report"
    html = "".join(m.get_body(("html",)).get_content() for m in second_night)
    assert "Changes since the last report" in html
    assert engaging_ref in html and acked_ref in html
    first_night = {m["X-Diversion-Report"].split("/")[0]: m.get_body(("html",)).get_content()
                   for m in stack.mail.messages()[:sent_first]
                   if m["X-Diversion-Report"].split("/")[0] in stack.config.supervisor_groups}
    for message in second_night:
        new_rows = message.get_body(("html",)).get_content().split("Changes since the last report")[0]
        group = message["X-Diversion-Report"].split("/")[0]
        notified_before = _rows(res.state, sa.select(db.escalations.c.referral_ref).where(
            db.escalations.c.notified_night == stack.night))
        assert not any(f">{ref}<" in new_rows for (ref,) in notified_before), group
    assert first_night


def test_third_run_of_the_same_night_sends_nothing(two_nights):
    stack, res, _, _, _, _ = two_nights
    before = len(stack.mail.messages())
    run_night(res, _plan(stack, stack.night + timedelta(days=1), "night-2-again"))
    run_night(res, _plan(stack, stack.night, "night-1-again"))
    assert len(stack.mail.messages()) == before
    (dupes,) = _rows(res.state, sa.select(sa.func.count()).select_from(
        sa.select(db.escalations.c.referral_ref, db.escalations.c.reason).group_by(
            db.escalations.c.referral_ref, db.escalations.c.reason).having(sa.func.count() > 1).subquery()))
    assert dupes == (0,)
