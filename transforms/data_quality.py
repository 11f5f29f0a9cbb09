"""The data-quality page of a run: did every row reconcile, which checks failed where, and how
tonight compares with the last 30 runs. Counts and check names only: no personal data.

Inputs are plain frames read by pipeline.quality from the state database:
- counts: source, metric, value for the run's validate step (read/valid/quarantined/released,
  file_rejected);
- failures: source, field, check, rows for the run;
- history: run_id, night, run_type, source, metric, value for the validate step of the last runs;
- history_failures: run_id, source, field, check, rows for the same runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader

TREND_RUNS = 30
_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=True, trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class QualityPage:
    night: date
    run_id: str
    reconciliation: pd.DataFrame     # source, read, valid, quarantined, released, file set aside, reconciled
    checks: dict[str, pd.DataFrame]  # source kind -> field, check, one column per source, total
    trend: pd.DataFrame              # night, run, stops read/quarantined, caseload read/quarantined, files
    check_trend: pd.DataFrame        # field, check, counts (list, oldest first), tonight, total
    problems: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        return bool(self.reconciliation["reconciled"].all()) if len(self.reconciliation) else True

    def html(self) -> str:
        return _TEMPLATES.get_template("data_quality.html.j2").render(page=self, max=max)


def source_kind(source: str) -> str:
    """records_system -> stops; caseload:<yot> and released:caseload:<yot> -> caseload."""
    return "caseload" if source.removeprefix("released:").startswith("caseload:") else "stops"


def _metrics(frame: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    table = frame.pivot_table(index=index, columns="metric", values="value", aggfunc="sum", fill_value=0)
    for metric in ("read", "valid", "quarantined", "released", "file_rejected"):
        if metric not in table:
            table[metric] = 0
    return table.astype("int64")


def reconciliation(counts: pd.DataFrame) -> pd.DataFrame:
    if counts.empty:
        return pd.DataFrame(columns=["source", "read", "valid", "quarantined", "released",
                                     "file set aside", "reconciled"])
    table = _metrics(counts, ["source"]).reset_index()
    table["reconciled"] = table["read"] == table["valid"] + table["quarantined"]
    return table.rename(columns={"file_rejected": "file set aside"})[
        ["source", "read", "valid", "quarantined", "released", "file set aside", "reconciled"]]


def checks_by_source(checks_run: dict[str, list[tuple[str, str]]], failures: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """For each source kind, every check it ran (failing or not) with failures per source."""
    out = {}
    for kind, listed in checks_run.items():
        mine = failures[failures["source"].map(source_kind) == kind] if len(failures) else failures
        base = pd.DataFrame(listed, columns=["field", "check"]).drop_duplicates()
        seen = mine[["field", "check"]].drop_duplicates() if len(mine) else base.iloc[:0]
        table = pd.concat([base, seen], ignore_index=True).drop_duplicates(ignore_index=True)
        if len(mine):
            wide = mine.pivot_table(index=["field", "check"], columns="source", values="rows",
                                    aggfunc="sum", fill_value=0)
            table = table.merge(wide.reset_index(), on=["field", "check"], how="left")
        sources = [c for c in table.columns if c not in ("field", "check")]
        table[sources] = table[sources].fillna(0).astype("int64")
        table["total"] = table[sources].sum(axis=1) if sources else 0
        out[kind] = table.sort_values(["total", "field", "check"], ascending=[False, True, True],
                                      ignore_index=True)
    return out


def trend(history: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run (oldest first): what was read and set aside, by source kind."""
    rows = []
    for run in runs.itertuples():
        mine = history[history["run_id"] == run.run_id]
        table = _metrics(mine.assign(kind=mine["source"].map(source_kind)), ["kind"]) if len(mine) else None

        def get(kind: str, metric: str) -> int:
            return int(table.loc[kind, metric]) if table is not None and kind in table.index else 0
        stops_read, caseload_read = get("stops", "read"), get("caseload", "read")
        rows.append({
            "night": run.night, "run_id": run.run_id, "run_type": run.run_type,
            "stops read": stops_read, "stops quarantined": get("stops", "quarantined"),
            "stops quarantined %": 100 * get("stops", "quarantined") / stops_read if stops_read else 0.0,
            "caseload rows read": caseload_read, "caseload rows quarantined": get("caseload", "quarantined"),
            "caseload quarantined %": (100 * get("caseload", "quarantined") / caseload_read
                                       if caseload_read else 0.0),
            "files set aside": get("caseload", "file_rejected")})
    return pd.DataFrame(rows)


def check_trend(history_failures: pd.DataFrame, runs: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Each check that failed in any of the runs: its count per run (oldest first)."""
    if history_failures.empty:
        return pd.DataFrame(columns=["kind", "field", "check", "counts", "tonight", "total"])
    frame = history_failures.assign(kind=history_failures["source"].map(source_kind))
    wide = frame.pivot_table(index=["kind", "field", "check"], columns="run_id", values="rows",
                             aggfunc="sum", fill_value=0).reindex(columns=list(runs["run_id"]), fill_value=0)
    out = wide.reset_index()[["kind", "field", "check"]]
    out["counts"] = [list(map(int, r)) for r in wide.to_numpy()]
    out["tonight"] = wide[run_id].to_numpy().astype(int) if run_id in wide else 0
    out["total"] = wide.sum(axis=1).to_numpy().astype(int)
    return out.sort_values(["tonight", "total", "check"], ascending=[False, False, True], ignore_index=True)


def build_quality_page(*, night: date, run_id: str, checks_run: dict[str, list[tuple[str, str]]],
                       counts: pd.DataFrame, failures: pd.DataFrame, runs: pd.DataFrame,
                       history: pd.DataFrame, history_failures: pd.DataFrame) -> QualityPage:
    """`runs`: run_id, night, run_type of the last runs up to this one (any order)."""
    runs = runs.sort_values(["night", "run_id"]).tail(TREND_RUNS).reset_index(drop=True)
    recon = reconciliation(counts)
    problems = [f"{r.source}: read {r.read} but {r.valid} valid + {r.quarantined} quarantined"
                for r in recon.itertuples() if not r.reconciled]
    return QualityPage(night=night, run_id=run_id, reconciliation=recon,
                       checks=checks_by_source(checks_run, failures), trend=trend(history, runs),
                       check_trend=check_trend(history_failures, runs, run_id), problems=problems)
