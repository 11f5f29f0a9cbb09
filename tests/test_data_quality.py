"""The data-quality page's figures, from plain frames (no database)."""
from datetime import date

import pandas as pd

from transforms.data_quality import build_quality_page, check_trend, checks_by_source, reconciliation


def _counts(rows):
    return pd.DataFrame(rows, columns=["source", "metric", "value"])


def test_reconciliation_flags_a_source_that_lost_a_row():
    table = reconciliation(_counts([
        ("records_system", "read", 10), ("records_system", "valid", 8), ("records_system", "quarantined", 2),
        ("caseload:reading", "read", 5), ("caseload:reading", "valid", 3), ("caseload:reading", "quarantined", 1),
        ("caseload:slough", "file_rejected", 1)]))
    ok = dict(zip(table["source"], table["reconciled"]))
    assert ok == {"records_system": True, "caseload:reading": False, "caseload:slough": True}
    assert table.set_index("source").loc["caseload:slough", "file set aside"] == 1


def test_every_check_run_is_listed_even_when_nothing_failed():
    failures = pd.DataFrame([("caseload:reading", "status", "status is a known caseload status", 3),
                             ("released:caseload:reading", "status", "status is a known caseload status", 1),
                             ("records_system", "pnc_id", "PNC id check letter", 2)],
                            columns=["source", "field", "check", "rows"])
    tables = checks_by_source({"stops": [("pnc_id", "PNC id check letter"), ("", "age at most 110")],
                               "caseload": [("status", "status is a known caseload status")]}, failures)
    stops = tables["stops"].set_index("check")
    assert stops.loc["age at most 110", "total"] == 0 and stops.loc["PNC id check letter", "total"] == 2
    caseload = tables["caseload"].set_index("check")
    assert caseload.loc["status is a known caseload status", "total"] == 4
    assert "records_system" not in tables["caseload"].columns


def test_trend_is_oldest_first_and_limited_to_30_runs():
    runs = pd.DataFrame({"run_id": [f"r{i:02d}" for i in range(35)],
                         "night": [date(2026, 1, 1 + i) for i in range(31)] + [date(2026, 2, i) for i in range(1, 5)],
                         "run_type": "scheduled"})
    history = pd.DataFrame([(r, "records_system", m, v) for r in runs["run_id"]
                            for m, v in (("read", 100), ("valid", 90), ("quarantined", 10))],
                           columns=["run_id", "source", "metric", "value"])
    fails = pd.DataFrame([("r34", "records_system", "pnc_id", "PNC id check letter", 10),
                          ("r10", "records_system", "pnc_id", "PNC id check letter", 99)],
                         columns=["run_id", "source", "field", "check", "rows"])
    page = build_quality_page(night=date(2026, 2, 4), run_id="r34", checks_run={"stops": []},
                              counts=history[history["run_id"] == "r34"].drop(columns="run_id"),
                              failures=fails[fails["run_id"] == "r34"], runs=runs, history=history,
                              history_failures=fails)
    assert len(page.trend) == 30 and page.trend["run_id"].iloc[0] == "r05" and page.trend["run_id"].iloc[-1] == "r34"
    assert page.trend["stops quarantined %"].tolist() == [10.0] * 30
    row = page.check_trend.iloc[0]
    assert row["tonight"] == 10 and row["counts"][-1] == 10 and row["counts"][5] == 99 and row["total"] == 109
    html = page.html()
    assert "Every row is accounted for" in html and "Trend over the last 30 run(s)" in html


def test_check_trend_is_empty_without_failures():
    runs = pd.DataFrame({"run_id": ["a"], "night": [date(2026, 1, 1)], "run_type": ["scheduled"]})
    empty = pd.DataFrame(columns=["run_id", "source", "field", "check", "rows"])
    assert check_trend(empty, runs, "a").empty
