"""Analysts' review of possible matches across real nights of the demo world: the first night's
possible pairs reach the analysts by SMTP, an analyst's file confirms one and rejects another, and
every later night honours both; a bad file is set aside with its reason."""
import csv
import io
import logging
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.stack import DemoStack
from pipeline.context import NightlyRun
from pipeline.runner import run_night
from tests.state_snapshot import snapshot
from transforms.review import HEADER

YOT = "reading"


def _plan(stack, night, run_id):
    return NightlyRun.plan(run_id, night, stack.config.scheme.timezone, root=stack.data_dir)


def _rows(state, query):
    with state.engine.connect() as conn:
        return conn.execute(query).all()


def _blur_dates_of_birth(stack) -> dict[str, dict]:
    """In one YOT's first export, drop the referral ref and PNC id of the referred children and
    give them another date of birth: the engine can then only offer them for review."""
    path = stack.world.sftp_root / stack.config.yots[YOT].export_dir / stack.config.caseload.file_name(
        YOT, stack.night)
    stamp = path.stat().st_mtime
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    blurred = {}
    for row in rows:
        if row["Police Referral Ref"]:
            blurred[row["YOT Case ID"]] = dict(row)
            d, m, y = (int(p) for p in row["Date of Birth"].split("/"))
            row.update({"Police Referral Ref": "", "PNC ID": "",
                        "Date of Birth": f"{d % 28 + 1:02d}/{m % 12 + 1:02d}/{y - 3}"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    os.utime(path, (stamp, stamp))
    return blurred


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def reviewed_nights():
    handler, root = _Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with DemoStack(Path(tempfile.mkdtemp(prefix="diversion-review-"))) as stack:
            res = stack.resources()
            blurred = _blur_dates_of_birth(stack)
            first, second = stack.night, stack.night + timedelta(days=1)
            run_night(res, _plan(stack, first, "night-1"))
            sent_first = len(stack.mail.messages())
            possible = _rows(res.state, sa.select(db.matches.c.referral_ref, db.matches.c.case_id).where(
                db.matches.c.status == "possible", db.matches.c.yot_id == YOT,
                db.matches.c.case_id.in_(list(blurred))).order_by(db.matches.c.referral_ref))
            assert len(possible) >= 2, "the blurred children are offered for review"
            confirmed, rejected = possible[0], possible[1]
            inbound = stack.data_dir / "match_reviews"
            inbound.mkdir(parents=True)
            (inbound / "review-1.csv").write_text(
                f"{HEADER}\r\n"
                f"{confirmed[0]},{YOT},{confirmed[1]},confirm,Analyst 42,{second.isoformat()},same school\r\n"
                f"{rejected[0]},{YOT},{rejected[1]},Reject,Analyst 42,{second.isoformat()},\r\n")
            (inbound / "bad.csv").write_text(f"{HEADER}\r\n"
                                             f"{rejected[0]},{YOT},{rejected[1]},maybe,Analyst 42,2026-11-25,\r\n")
            run_night(res, _plan(stack, second, "night-2"))
            yield stack, res, sent_first, blurred, confirmed, rejected, handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _matches(res, ref):
    return _rows(res.state, sa.select(db.matches.c.case_id, db.matches.c.status, db.matches.c.method)
                 .where(db.matches.c.referral_ref == ref))


def test_first_night_sends_the_analysts_the_possible_pairs(reviewed_nights):
    stack, res, sent_first, blurred, confirmed, rejected, _ = reviewed_nights
    (message,) = [m for m in stack.mail.messages()[:sent_first]
                  if m["X-Diversion-Report"] == f"analysts/{stack.night}"]
    assert message["To"] == ", ".join(stack.config.report.analysts)
    html = message.get_body(("html",)).get_content()
    for ref, case_id in (confirmed, rejected):
        assert f">{ref}<" in html and f">{case_id}<" in html
        row = blurred[case_id]
        assert row["Forename"] in html  # the analysts need the names to decide
    assert HEADER in html and f"{confirmed[0]},{YOT}," in html
    assert "date of birth" in html and "Score" in html
    attachment = next(p for p in message.iter_attachments() if p.get_filename().endswith(".csv"))
    assert attachment.get_content().splitlines()[0] == HEADER
    logged = _rows(res.state, sa.select(db.processing_log.c.subject, db.processing_log.c.recipients,
                                        db.processing_log.c.purpose).where(
        db.processing_log.c.operation == "disclosure", db.processing_log.c.run_id == "night-1",
        db.processing_log.c.subject.like("match review report%")))
    assert len(logged) == 1
    subject, recipients, purpose = logged[0]
    assert confirmed[0] in subject and f"{YOT}/{confirmed[1]}" in subject
    assert blurred[confirmed[1]]["Surname"] not in subject and "analysts" in recipients
    assert "match" in purpose


def test_audit_copy_is_kept_beside_the_other_reports(reviewed_nights):
    stack, *_ = reviewed_nights
    folder = _plan(stack, stack.night, "night-1").reports_dir
    assert (folder / "match_review_analysts.html").exists()
    assert (folder / "match_review_analysts.csv").read_text().splitlines()[0] == HEADER
    assert list(folder.glob("exceptions_*.html"))


def test_second_night_honours_the_confirmation_and_the_rejection(reviewed_nights):
    _, res, _, _, confirmed, rejected, _ = reviewed_nights
    assert _matches(res, confirmed[0]) == [(confirmed[1], "matched", "review")]
    assert not any(case_id == rejected[1] for case_id, _, _ in _matches(res, rejected[0]))
    stored = _rows(res.state, sa.select(db.match_reviews.c.referral_ref, db.match_reviews.c.decision,
                                        db.match_reviews.c.decided_by, db.match_reviews.c.source)
                   .order_by(db.match_reviews.c.decision))
    assert stored == [(confirmed[0], "confirm", "Analyst 42", "review-1.csv:2"),
                      (rejected[0], "reject", "Analyst 42", "review-1.csv:3")]


def test_bad_review_file_is_set_aside_with_its_reason(reviewed_nights):
    stack, _, sent_first, _, _, _, lines = reviewed_nights
    inbound = stack.data_dir / "match_reviews"
    assert (inbound / "processed" / "review-1.csv").exists()
    assert (inbound / "rejected" / "bad.csv").exists()
    reason = (inbound / "rejected" / "bad.csv.reason.txt").read_text()
    assert "bad.csv, line 2, decision: not one of confirm, reject" in reason
    assert any("bad.csv, line 2, decision" in line for line in lines)
    (message,) = [m for m in stack.mail.messages()[sent_first:]
                  if m["X-Diversion-Report"] == f"analysts/{stack.night + timedelta(days=1)}"]
    html = message.get_body(("html",)).get_content()
    assert "bad.csv, line 2, decision" in html


def test_second_night_report_no_longer_offers_decided_pairs(reviewed_nights):
    stack, _, sent_first, _, confirmed, rejected, _ = reviewed_nights
    (message,) = [m for m in stack.mail.messages()[sent_first:]
                  if m["X-Diversion-Report"] == f"analysts/{stack.night + timedelta(days=1)}"]
    html = message.get_body(("html",)).get_content()
    assert f">{confirmed[0]}<" not in html and f">{rejected[1]}<" not in html


def test_no_name_or_date_of_birth_reaches_the_logs(reviewed_nights):
    _, _, _, blurred, confirmed, rejected, lines = reviewed_nights
    text = "\n".join(lines)
    for _, case_id in (confirmed, rejected):
        row = blurred[case_id]
        assert row["Surname"] not in text and row["Date of Birth"] not in text


def test_rerunning_a_night_gives_the_same_state_and_no_mail(reviewed_nights):
    stack, res, *_ = reviewed_nights
    before, sent = snapshot(res.state), len(stack.mail.messages())
    run_night(res, _plan(stack, stack.night + timedelta(days=1), "night-2-again"))
    after = snapshot(res.state)
    assert len(stack.mail.messages()) == sent
    for name in ("matches", "match_reviews", "escalations", "report_dispatches"):
        assert before[name].equals(after[name]), name


def test_backfilled_night_holds_the_analysts_report(reviewed_nights):
    stack, res, *_ = reviewed_nights
    sent = len(stack.mail.messages())
    third = stack.night + timedelta(days=2)
    run_night(res, _plan(stack, third, "night-3-backfill"), run_type="backfill")
    assert not [m for m in stack.mail.messages()[sent:] if m["X-Diversion-Report"].startswith("analysts/")]
    assert (_plan(stack, third, "night-3-backfill").reports_dir / "match_review_analysts.html").exists()
