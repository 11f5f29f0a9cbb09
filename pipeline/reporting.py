"""The night's reports: each supervisor group's exception report, and the engineers' notices.

A group is emailed once per night, and only when something is new (a new escalation, or a change
to a case it was told about before); the audit copy is always written to disk. Each email is a
disclosure of children's personal data and is logged as one (DPA 2018 s.62).
"""
from __future__ import annotations

import logging
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from connectors import state_db as db
from connectors.mail import build_report_message
from pipeline import queries
from pipeline.context import NightlyRun
from pipeline.quality import reconciliation_lines
from pipeline.resources import Resources
from transforms.engagement import NON_ENGAGEMENT
from transforms.funnel import engagement_funnel, funnel_chart_png
from transforms.report import REVIEW_GROUP, ExceptionReport, build_exception_report, build_match_review_report

log = logging.getLogger(__name__)


def _read(res: Resources, query: sa.Select) -> pd.DataFrame:
    with res.state.engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _as_dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for col in columns:
        frame[col] = pd.to_datetime(frame[col]).dt.date
    return frame


def open_escalations(res: Resources) -> pd.DataFrame:
    """Escalations not yet sent to anyone, with what a supervisor needs to act on them."""
    r, s, e, x = db.referrals, db.stops, db.engagement, db.escalations
    frame = _read(res, sa.select(
        x.c.referral_ref, x.c.reason, x.c.deadline, x.c.evidence, r.c.stop_ref, r.c.area, r.c.yot_id,
        s.c.person_id, s.c.pnc_id, s.c.forename, s.c.surname, s.c.date_of_birth, s.c.stop_time,
        e.c.yot_status, e.c.yot_case_id,
    ).join(r, r.c.referral_ref == x.c.referral_ref).join(s, s.c.stop_ref == r.c.stop_ref)
        .outerjoin(e, e.c.referral_ref == x.c.referral_ref).where(x.c.state == "open"))
    frame["stop_date"] = pd.to_datetime(frame["stop_time"], utc=True).dt.tz_convert(
        res.config.scheme.timezone).dt.date
    frame["yot_name"] = frame["yot_id"].map({k: y.name for k, y in res.config.yots.items()})
    return _as_dates(frame, "date_of_birth", "deadline")


def changes_since(res: Resources, after: date | None, night: date) -> pd.DataFrame:
    """Cases already notified whose escalation changed in (after, night]."""
    if after is None:
        return pd.DataFrame(columns=["referral_ref", "reason", "change", "night", "area", "forename", "surname"])
    h, x, r, s = db.escalation_history, db.escalations, db.referrals, db.stops
    return _read(res, sa.select(
        h.c.referral_ref, h.c.reason, h.c.to_state.label("change"), h.c.night, r.c.area, s.c.forename,
        s.c.surname,
    ).join(x, (x.c.referral_ref == h.c.referral_ref) & (x.c.reason == h.c.reason))
        .join(r, r.c.referral_ref == h.c.referral_ref).join(s, s.c.stop_ref == r.c.stop_ref)
        .where(h.c.to_state.in_(["resolved", "acknowledged"]), h.c.night > after, h.c.night <= night,
               x.c.notified_night.is_not(None)))


def _last_dispatch(res: Resources, group_id: str, night: date) -> date | None:
    with res.state.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(db.report_dispatches.c.night)).where(
            db.report_dispatches.c.group_id == group_id, db.report_dispatches.c.night < night)).scalar()


def _already_sent(res: Resources, key: str, night: date) -> bool:
    with res.state.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.report_dispatches).where(
            db.report_dispatches.c.group_id == key, db.report_dispatches.c.night == night)).scalar() > 0


def _write_audit_copy(report: ExceptionReport, run: NightlyRun) -> str:
    run.reports_dir.mkdir(parents=True, exist_ok=True)
    html_path = run.reports_dir / f"{report.kind}_{report.group_id}.html"
    html_path.write_text(report.html_file, encoding="utf-8")
    (run.reports_dir / f"{report.kind}_{report.group_id}.csv").write_bytes(report.csv_bytes)
    if report.chart_png:
        (run.reports_dir / report.chart_file_name).write_bytes(report.chart_png)
    return str(html_path)


def sent_message_path(reports_dir: Path, key: str) -> Path:
    """Where the exact message sent for `key` that night is kept (audit, and `resend-report`)."""
    return reports_dir / "sent" / (key.replace(":", "_").replace("/", "_") + ".eml")


def keep_sent_message(reports_dir: Path, key: str, message: EmailMessage) -> None:
    path = sent_message_path(reports_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(message))


def _dispatch(res: Resources, run: NightlyRun, key: str, message: EmailMessage, rows: int,
              report_path: str, *, disclosure: str | None, recipients: list[str],
              notify: list[tuple[str, str]] = (), purpose: str | None = None) -> None:
    """Record, mark and send in one transaction: a failed send records nothing and marks nothing."""
    with res.state.transaction() as conn:
        res.state.upsert(conn, db.report_dispatches, [{
            "night": run.night, "group_id": key, "message_id": message["Message-ID"], "rows": rows,
            "report_path": report_path, "run_id": run.run_id}], update=[])
        for ref, reason in notify:
            conn.execute(db.escalations.update().where(
                (db.escalations.c.referral_ref == ref) & (db.escalations.c.reason == reason)).values(
                    state="notified", notified_night=run.night))
        res.state.upsert(conn, db.escalation_history, [
            {"referral_ref": ref, "reason": reason, "night": run.night, "from_state": "open",
             "to_state": "notified", "run_id": run.run_id} for ref, reason in notify], update=[])
        if disclosure:
            res.state.log_processing(conn, operation="disclosure", actor=res.actor, recipients=recipients,
                                     subject=disclosure, purpose=purpose or res.config.report.purpose,
                                     run_id=run.run_id)
        keep_sent_message(run.reports_dir, key, message)
        res.mailer.send(message)


def send_reports(res: Resources, run: NightlyRun) -> dict:
    """Each supervisor group's new escalations and changes, emailed once per night, kept on disk.

    A backfilled night's reports are only kept on disk (see pipeline.digest for the policy).
    """
    from pipeline.digest import run_type_of
    held = run_type_of(res, run.run_id) == "backfill"
    escalations = open_escalations(res)
    engagement = _read(res, sa.select(db.engagement.c.state, db.referrals.c.area).join(
        db.referrals, db.referrals.c.referral_ref == db.engagement.c.referral_ref).where(
            db.engagement.c.as_of == run.night))
    stale = queries.stale_yots(res.state, res.config, run.night)
    stale_named = {res.config.yots[y].name: day for y, day in stale.items()}
    outcome: dict[str, dict] = {}
    for group_id, group in res.config.supervisor_groups.items():
        areas = [a for a, cfg in res.config.areas.items() if cfg.supervisor_group == group_id]
        mine = escalations[escalations["area"].isin(areas)]
        in_group = engagement[engagement["area"].isin(areas)]
        changes = changes_since(res, _last_dispatch(res, group_id, run.night), run.night)
        changes = changes[changes["area"].isin(areas)]
        report = build_exception_report(
            mine, group_id=group_id, group_name=group.name, night=run.night,
            subject_template=res.config.report.subject,
            summary={"referrals assessed": len(in_group),
                     "engaged or completed": int(in_group["state"].isin(["engaged", "completed"]).sum()),
                     "not engaged": int(in_group["state"].isin(NON_ENGAGEMENT).sum()),
                     "newly escalated": len(mine), "changed since the last report": len(changes)}
            | reconciliation_lines(res.state, run.run_id),
            stale_yots=stale_named, changes=changes,
            chart_png=funnel_chart_png(engagement_funnel(in_group), f"Engagement funnel: {group.name}"))
        if held or _already_sent(res, group_id, run.night) or (mine.empty and changes.empty):
            why = ("held: backfill" if held else
                   "already sent" if _already_sent(res, group_id, run.night) else "nothing new")
            outcome[group_id] = {"sent": False, "rows": len(mine), "changes": len(changes), "why": why}
            if why != "already sent":
                _write_audit_copy(report, run)
            continue
        path = _write_audit_copy(report, run)
        message = build_report_message(report, sender=res.config.report.sender, recipients=group.recipients)
        refs = sorted(set(mine["referral_ref"]) | set(changes["referral_ref"]))
        _dispatch(res, run, group_id, message, len(mine), path, recipients=group.recipients,
                  disclosure="exception report " + ", ".join(refs),
                  notify=list(zip(mine["referral_ref"], mine["reason"])))
        outcome[group_id] = {"sent": True, "rows": len(mine), "changes": len(changes),
                             "message_id": message["Message-ID"]}
        log.info("report for %s sent: %d new escalations, %d changes", group_id, len(mine), len(changes))
    outcome[REVIEW_GROUP] = send_review_report(res, run, held=held)
    outcome["stale_notice"] = ({"sent": False, "rows": len(stale), "why": "held: backfill"} if held
                               else send_stale_notice(res, run, stale))
    with res.state.transaction() as conn:
        res.state.record_counts(conn, run.run_id, "report", {
            g: {"rows": o.get("rows", 0), "sent": int(o["sent"])} for g, o in outcome.items()})
    return outcome


def possible_matches(res: Resources, night: date) -> pd.DataFrame:
    """Tonight's ``possible`` pairs with both records' names and dates of birth (the YOT's from its
    newest snapshot up to the night, the one matched), for the analysts."""
    m, r, s, c = db.matches, db.referrals, db.stops, db.caseload_rows
    pairs = _read(res, sa.select(
        m.c.referral_ref, m.c.yot_id, m.c.case_id, m.c.score, m.c.method, m.c.reasons,
        s.c.forename.label("police_forename"), s.c.surname.label("police_surname"),
        s.c.date_of_birth.label("police_date_of_birth"),
    ).join(r, r.c.referral_ref == m.c.referral_ref).join(s, s.c.stop_ref == r.c.stop_ref)
        .where(m.c.status == "possible"))
    newest = (sa.select(c.c.yot_id, sa.func.max(c.c.snapshot_date).label("day"))
              .where(c.c.snapshot_date <= night).group_by(c.c.yot_id).subquery())
    cases = _read(res, sa.select(c.c.yot_id, c.c.case_id, c.c.forename.label("yot_forename"),
                                 c.c.surname.label("yot_surname"), c.c.date_of_birth.label("yot_date_of_birth"))
                  .join(newest, (newest.c.yot_id == c.c.yot_id) & (newest.c.day == c.c.snapshot_date)))
    pairs = pairs.merge(cases, on=["yot_id", "case_id"], how="left")
    pairs["yot"] = pairs["yot_id"].map({k: y.name for k, y in res.config.yots.items()})
    return pairs


def send_review_report(res: Resources, run: NightlyRun, *, held: bool = False) -> dict:
    """The analysts' report of possible matches (and review files set aside tonight), emailed once
    per night when there is something to review, always kept on disk; a disclosure, logged with ids.
    """
    pairs = possible_matches(res, run.night)
    rejections = run.review_rejections
    rejected = rejections.read_text(encoding="utf-8").splitlines() if rejections.exists() else []
    report = build_match_review_report(pairs, night=run.night, subject_template=res.config.report.review_subject,
                                       rejected_files=rejected)
    recipients = list(res.config.report.analysts)
    sent_before = _already_sent(res, REVIEW_GROUP, run.night)
    why = ("held: backfill" if held else "already sent" if sent_before else
           "nothing to review" if pairs.empty and not rejected else
           "no analysts configured" if not recipients else None)
    if why:
        if why != "already sent":
            _write_audit_copy(report, run)
        return {"sent": False, "rows": len(pairs), "why": why}
    path = _write_audit_copy(report, run)
    message = build_report_message(report, sender=res.config.report.sender, recipients=recipients)
    ids = sorted(set(pairs["referral_ref"])) + sorted(f"{y}/{c}" for y, c in set(zip(pairs["yot_id"], pairs["case_id"])))
    _dispatch(res, run, REVIEW_GROUP, message, len(pairs), path, recipients=recipients,
              disclosure="match review report " + ", ".join(ids), purpose=res.config.report.review_purpose)
    log.info("match review report sent: %d possible matches, %d review files set aside", len(pairs), len(rejected))
    return {"sent": True, "rows": len(pairs), "message_id": message["Message-ID"]}


def _notice(res: Resources, run: NightlyRun, tag: str, subject: str, to: list[str], body: str) -> EmailMessage:
    """A plain notice without personal data; its Message-ID is stable so a resend is recognisable."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = res.config.report.sender
    message["To"] = ", ".join(to)
    message["Message-ID"] = f"<{tag.replace('/', '.')}.{run.night}@diversion-sync.invalid>"
    message["X-Diversion-Report"] = f"{tag}/{run.night}"
    message.set_content(body)
    return message


def _since(day: date | None) -> str:
    return f"newest export {day}" if day else "no export received yet"


def send_stale_notice(res: Resources, run: NightlyRun, stale: dict[str, date | None]) -> dict:
    """Tell the data engineers, and each late YOT's contacts, once a night, whose data is stale."""
    sent = 0
    key = "engineers:stale-yots"
    warnings = queries.file_warnings(res.state, run.run_id)
    if (stale or warnings) and not _already_sent(res, key, run.night):
        lines = [f"- {res.config.yots[y].name}: {_since(d)}" for y, d in sorted(stale.items())]
        body = ""
        if stale:
            body += (f"For the night of {run.night} these YOTs' caseload exports are missing or stale:\n"
                     + "\n".join(lines) + "\n\nTheir referrals wait; no child is escalated because of a "
                     "YOT's delay.\nPlease contact the YOT.\n\n")
        if warnings:
            body += ("The YOT file exchange noticed (file names and events only):\n"
                     + "\n".join(f"- {w}" for w in warnings) + "\n\n")
        message = _notice(
            res, run, "stale-yots",
            f"diversion-sync: YOT caseload data {'stale' if stale else 'warnings'} ({run.night})",
            list(res.config.report.engineers), body + "(No personal data in this message.)\n")
        _dispatch(res, run, key, message, len(stale) + len(warnings), "", disclosure=None,
                  recipients=list(res.config.report.engineers))
        sent += 1
    rejected = _read(res, sa.select(db.file_events.c.yot_id, db.file_events.c.detail).where(
        (db.file_events.c.run_id == run.run_id) & (db.file_events.c.event == "file_rejected")))
    unreadable = dict(zip(rejected["yot_id"], rejected["detail"]))
    for yot_id, day in sorted(stale.items()):
        yot, key = res.config.yots[yot_id], f"yot:{yot_id}:stale"
        if not yot.contacts or _already_sent(res, key, run.night):
            continue
        why = (f"Tonight's export arrived but could not be read: {unreadable[yot_id]}.\nPlease send a "
               "corrected file under the same name" if yot_id in unreadable else
               f"The police diversion scheme has not received a current caseload export from you for the "
               f"night of {run.night} ({_since(day)})")
        message = _notice(
            res, run, f"yot-stale/{yot_id}", f"Youth diversion: caseload export needed from {yot.name} ({run.night})",
            yot.contacts,
            f"Dear {yot.name} YOT,\n\n{why}.\nUntil it arrives, the "
            "engagement of the young people referred to you cannot be checked; none of them is "
            "escalated because of the delay.\nPlease send the export to your usual SFTP folder, or "
            "reply to this message if something is wrong.\n\n(This message holds no personal data.)\n")
        _dispatch(res, run, key, message, 0, "", disclosure=None, recipients=yot.contacts)
        sent += 1
    return {"sent": bool(sent), "rows": len(stale), "messages": sent}
