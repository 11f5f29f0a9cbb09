"""Analysts' decisions on possible matches, as they come back in a CSV file, applied to a night's pairs.

A decision outlives the night it was made: a confirmed pair is matched in every later run (and
its two records are taken out of any other pair, one-to-one), a rejected pair is never returned
again. Strict reading, like the acknowledgements: a bad file is rejected whole with file, line
and field named, so a reviewer's decision is never silently dropped.

The nightly run imports decision files from ``<data_dir>/match_reviews/*.csv`` into the
``match_reviews`` table (pipeline.steps.match_referrals) and applies every standing decision to
each night's pairs; the analysts' report (pipeline.reporting) lists the ``possible`` pairs with
the header line and an example line of the file to send back.
"""
from __future__ import annotations

import pandas as pd

from transforms.decision_files import read_decision_rows

COLUMNS = ("referral_ref", "yot_id", "case_id", "decision", "decided_by", "decided_on", "note")
DECISIONS = ("confirm", "reject")
HEADER = ",".join(COLUMNS)


def example_line(referral_ref: str, yot_id: str, case_id: str, decided_by: str = "your name",
                 decided_on: str = "YYYY-MM-DD") -> str:
    """The line an analyst fills in for one pair (decision: confirm or reject)."""
    return ",".join([referral_ref, yot_id, case_id, "confirm", decided_by, decided_on, ""])


class ReviewError(ValueError):
    """A review file that cannot be taken as it is; names file, line and field."""


def read_match_reviews(data: bytes, file_name: str) -> pd.DataFrame:
    """Rows of (referral_ref, yot_id, case_id, decision, decided_by, decided_on, note, source)."""
    rows = read_decision_rows(data, file_name, required_columns=COLUMNS[:6],
                              required_values=("referral_ref", "yot_id", "case_id", "decided_by"),
                              choices={"decision": DECISIONS}, dates=("decided_on",), error=ReviewError,
                              casefold=("decision",))
    return pd.DataFrame([{"referral_ref": str(rec["referral_ref"]).upper(), "yot_id": rec["yot_id"],
                          "case_id": rec["case_id"], "decision": rec["decision"],
                          "decided_by": rec["decided_by"], "decided_on": rec["decided_on"],
                          "note": rec.get("note") or None, "source": f"{file_name}:{line}"}
                         for line, rec in rows], columns=[*COLUMNS, "source"])


def latest_decisions(reviews: pd.DataFrame) -> pd.DataFrame:
    """The newest decision per pair (a later row wins a tie)."""
    return (reviews.sort_values("decided_on", kind="stable")
            .drop_duplicates(["referral_ref", "yot_id", "case_id"], keep="last").reset_index(drop=True))


def apply_reviews(pairs: pd.DataFrame, reviews: pd.DataFrame, left_ids: set[str],
                  right_ids: set[str]) -> pd.DataFrame:
    """``match_people`` output for one YOT with the standing decisions on that YOT's pairs applied.

    ``reviews`` has referral_ref (the pairs' left_id), case_id (right_id), decision and decided_on.
    The newest decision per pair wins (and, of two confirmations holding one record, the newer).
    Rejected pairs are dropped. A confirmed pair whose two
    records are both present tonight is ``matched`` with method ``review`` (its score tonight, 0
    when the engine did not propose it), and every other pair holding either record is dropped.
    """
    if reviews.empty:
        return pairs
    latest = (reviews.sort_values("decided_on", kind="stable")
              .drop_duplicates(["referral_ref", "case_id"], keep="last"))
    key = list(zip(pairs["left_id"], pairs["right_id"]))
    rejected = set(zip(*(latest.loc[latest["decision"] == "reject", c] for c in ("referral_ref", "case_id"))))
    confirmed, taken_left, taken_right = [], set(), set()
    newest_first = latest[latest["decision"] == "confirm"].iloc[::-1]
    for a, b in zip(newest_first["referral_ref"], newest_first["case_id"]):
        # one-to-one even among decisions: the newest confirmation of a record stands
        if a in left_ids and b in right_ids and a not in taken_left and b not in taken_right:
            confirmed.append((a, b))
            taken_left.add(a)
            taken_right.add(b)
    keep = [k not in rejected and k[0] not in taken_left and k[1] not in taken_right for k in key]
    kept = pairs[keep]
    scores = dict(zip(key, pairs["score"]))
    added = pd.DataFrame({"left_id": [a for a, _ in confirmed], "right_id": [b for _, b in confirmed],
                          "score": [float(scores.get(k, 0.0)) for k in confirmed],
                          "status": "matched", "method": "review", "reasons": "confirmed by review"})
    out = pd.concat([kept, added], ignore_index=True) if len(added) else kept.reset_index(drop=True)
    return out.sort_values(["left_id", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)
