"""A corrupted caseload export processed end to end, through a real night (SQLite over ODBC, sshd,
SMTP): every good row goes on, every bad row is quarantined with the right reason, the counts
reconcile; another YOT's unreadable file is set aside whole, the engineers are told, and the
other YOTs' files are processed."""
import csv
import io
import json
import logging
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.stack import DemoStack
from pipeline.context import NightlyRun
from pipeline.runner import run_night
from transforms.caseload import BAD_BYTES, BROKEN_LINE

CORRUPTED, SEMICOLONS = "reading", "milton_keynes"


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline=""))
    return list(reader.fieldnames), list(reader)


def _csv(header: list[str], rows: list[dict], sep: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n", delimiter=sep)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


@pytest.fixture(scope="module")
def night():
    with DemoStack(Path(tempfile.mkdtemp(prefix="diversion-corrupt-"))) as stack:
        cfg = stack.config
        path = stack.world.sftp_root / cfg.yots[CORRUPTED].export_dir / cfg.caseload.file_name(CORRUPTED, stack.night)
        header, rows = _rows(path)
        assert len(rows) >= 8
        rows = sorted(rows, key=lambda r: r["YOT Case ID"])
        rows[0]["Forename"] = "Zoë"                        # a good row with a UTF-8 name (line 2)
        rows[1]["Referral Received"] = "31/02/2026"        # not a date (line 3)
        rows[2]["Status"] = "Pending review"               # not a known status (line 4)
        rows[3]["YOT Case ID"] = rows[4]["YOT Case ID"]    # duplicate case ids, both set aside (lines 5, 6)
        rows[5]["Forename"] = "Chloë"                      # this line arrives in Windows-1252 (line 7)
        lines = _csv(header, rows).split("\r\n")
        body = b"\r\n".join(line.encode("cp1252" if n == 6 else "utf-8") for n, line in enumerate(lines))
        body = body[: body.rindex(rows[-1]["Postcode"].encode())]  # the transfer stopped mid-line
        good = [r for i, r in enumerate(rows) if i not in (1, 2, 3, 4, 5, len(rows) - 1)]
        path.write_bytes(b"\xef\xbb\xbf" + body)
        other = stack.world.sftp_root / cfg.yots[SEMICOLONS].export_dir / cfg.caseload.file_name(SEMICOLONS, stack.night)
        other.write_text(_csv(*_rows(other), sep=";"), encoding="utf-8")
        res = stack.resources()
        sent_before = len(stack.mail.messages())
        logged = _Collect()
        logging.getLogger("pipeline").addHandler(logged)
        try:
            summary = run_night(res, NightlyRun.plan("corrupt-1", stack.night, cfg.scheme.timezone, root=stack.data_dir))
        finally:
            logging.getLogger("pipeline").removeHandler(logged)
        yield {"stack": stack, "res": res, "summary": summary, "good": good, "rows": rows, "log": logged.lines,
               "last_line": len(rows) + 1, "mail": stack.mail.messages()[sent_before:], "file": path.name, "other": other.name}


def _select(res, query) -> pd.DataFrame:
    with res.state.engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def test_every_good_row_goes_on(night):
    stored = _select(night["res"], sa.select(db.caseload_rows.c.case_id, db.caseload_rows.c.forename).where(
        db.caseload_rows.c.yot_id == CORRUPTED))
    assert set(stored["case_id"]) == {r["YOT Case ID"] for r in night["good"]}
    assert "Zoë" in set(stored["forename"]), "UTF-8 names are read as written"


def test_every_bad_row_is_quarantined_with_its_reason(night):
    held = _select(night["res"], sa.select(db.quarantine).where(db.quarantine.c.source == f"caseload:{CORRUPTED}"))
    reasons = {key.rsplit(":", 1)[1]: {(r["field"], r["check"]) for r in json.loads(text)}
               for key, text in zip(held["source_key"], held["reasons"])}
    assert reasons["3"] == {("referral_received", "not a date (%d/%m/%Y)")}
    assert reasons["4"] == {("status", "status is a known caseload status")}
    assert reasons["5"] == reasons["6"] == {("case_id", "duplicate (must be unique)")}
    assert reasons["7"] == {(None, BAD_BYTES)}
    assert reasons[str(night["last_line"])] == {(None, BROKEN_LINE)}
    assert len(reasons) == 6
    for record in held["record"]:  # the original values are kept for the person who fixes them
        assert json.loads(record)["case_id"]


def test_the_log_says_once_which_checks_failed_and_which_lines_without_their_values(night):
    said = [text for level, text in night["log"] if f"caseload:{CORRUPTED}: " in text and "quarantined" in text]
    assert len(said) == 1, said
    assert said[0].startswith(f"caseload:{CORRUPTED}: 6 caseload row(s) quarantined: ")
    assert "case_id: duplicate (must be unique) (2)" in said[0]
    assert "status: status is a known caseload status (1)" in said[0]
    assert f"{night['file']}:3" in said[0] and f"--source caseload:{CORRUPTED}" in said[0]
    for _, text in night["log"]:
        assert "Chlo" not in text and "Pending review" not in text and "31/02/2026" not in text


def test_counts_reconcile(night):
    counts = _select(night["res"], sa.select(db.run_counts).where(
        (db.run_counts.c.run_id == "corrupt-1") & (db.run_counts.c.source == f"caseload:{CORRUPTED}")
        & (db.run_counts.c.step == "validate")))
    got = dict(zip(counts["metric"], counts["value"]))
    assert got == {"read": len(night["good"]) + 6, "valid": len(night["good"]), "quarantined": 6}
    assert night["summary"]["caseload rows quarantined"] >= 6


def test_an_unreadable_file_is_set_aside_whole_and_the_engineers_are_told(night):
    res = night["res"]
    held = _select(res, sa.select(db.quarantine).where(db.quarantine.c.source == f"caseload:{SEMICOLONS}"))
    assert list(held["source_key"]) == [night["other"]]
    assert "separated by semicolons, not commas" in held["reasons"].iloc[0]
    notices = [m for m in night["mail"] if m["X-Diversion-Report"].startswith("stale-yots/")]
    assert notices and "separated by semicolons" in notices[0].get_content()
    snapshots = _select(res, sa.select(db.caseload_snapshots.c.yot_id))
    others = set(night["stack"].config.yots) - {SEMICOLONS, "slough"}
    assert others <= set(snapshots["yot_id"]), "the other YOTs' files were processed"
    assert SEMICOLONS not in set(snapshots["yot_id"])


def test_no_personal_value_reaches_the_engineers(night):
    text = "".join(m.get_content() for m in night["mail"] if m["X-Diversion-Report"].startswith("stale-yots/"))
    for row in night["rows"]:
        assert row["Surname"] not in text and row["Date of Birth"] not in text


def test_the_yot_is_told_its_file_could_not_be_read(night):
    to_yot = [m for m in night["mail"] if m["X-Diversion-Report"].startswith(f"yot-stale/{SEMICOLONS}/")]
    assert len(to_yot) == 1
    body = to_yot[0].get_content()
    assert "could not be read" in body and "separated by semicolons" in body and night["other"] in body


def test_the_data_quality_page_shows_each_failing_check_per_source(night):
    page = (night["stack"].data_dir / "reports" / str(night["stack"].night) / "data-quality.html").read_text()
    assert "Every row is accounted for" in page
    assert f"caseload:{CORRUPTED}" in page and f"caseload:{SEMICOLONS}" in page
    for check in ("status is a known caseload status", "duplicate (must be unique)", BAD_BYTES, BROKEN_LINE,
                  "whole file set aside: columns are separated by semicolons, not commas",
                  "sessions attended not more than sessions offered"):  # run, even where nothing failed
        assert check in page
    for row in night["rows"]:
        assert row["Surname"] not in page


def test_a_mismatch_fails_the_run_loudly_and_the_page_says_where(night):
    from pipeline import steps
    stack, res = night["stack"], night["res"]
    run = NightlyRun.plan("corrupt-1", stack.night, stack.config.scheme.timezone, root=stack.data_dir)
    key = ((db.run_counts.c.run_id == "corrupt-1") & (db.run_counts.c.step == "validate")
           & (db.run_counts.c.source == f"caseload:{CORRUPTED}") & (db.run_counts.c.metric == "valid"))
    with res.state.transaction() as conn:
        valid = conn.execute(sa.select(db.run_counts.c.value).where(key)).scalar_one()
        conn.execute(db.run_counts.update().where(key).values(value=valid - 1))  # one row lost
    try:
        with pytest.raises(steps.ReconciliationError, match=f"caseload:{CORRUPTED}: read"):
            steps.finish_run(res, run)
        page = (run.reports_dir / "data-quality.html").read_text()
        assert "Counts do not reconcile" in page and f"caseload:{CORRUPTED}: read" in page
    finally:
        with res.state.transaction() as conn:
            conn.execute(db.run_counts.update().where(key).values(value=valid))
        steps.finish_run(res, run)
