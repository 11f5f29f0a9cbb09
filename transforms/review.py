"""Analysts' decisions on possible matches, as they come back in a CSV file, applied to a night's pairs.

A decision outlives the night it was made: a confirmed pair is matched in every later run (and
its two records are taken out of any other pair, one-to-one), a rejected pair is never returned
again. Strict reading, like the acknowledgements: a bad file is rejected whole with file, line
and field named, so a reviewer's decision is never silently dropped.

Not yet wired into the nightly run (needs a state table and a call in ``match_referrals``).
"""
from __future__ import annotations

import csv
import io
from datetime import date

import pandas as pd

COLUMNS = ("left_id", "right_id", "decision", "reviewed_by", "reviewed_on")
DECISIONS = ("confirm", "reject")


class ReviewError(ValueError):
    """A review file that cannot be taken as it is; names file, line and field."""


def read_match_reviews(data: bytes, file_name: str) -> pd.DataFrame:
    """Rows of (left_id, right_id, decision, reviewed_by, reviewed_on, source)."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ReviewError(f"{file_name}: missing column(s): {', '.join(missing)}")
    rows = []
    for record in reader:
        line = reader.line_num
        rec = {k.strip().lower(): (v or "").strip() for k, v in record.items() if k}
        if not any(rec.values()):
            continue
        for field in ("left_id", "right_id", "reviewed_by"):
            if not rec.get(field):
                raise ReviewError(f"{file_name}, line {line}, {field}: required value is blank")
        decision = rec["decision"].lower()
        if decision not in DECISIONS:
            raise ReviewError(f"{file_name}, line {line}, decision: {rec['decision']!r} is not one of "
                              f"{', '.join(DECISIONS)}")
        try:
            on = date.fromisoformat(rec["reviewed_on"])
        except ValueError:
            raise ReviewError(f"{file_name}, line {line}, reviewed_on: not a date (YYYY-MM-DD)") from None
        rows.append({"left_id": rec["left_id"], "right_id": rec["right_id"], "decision": decision,
                     "reviewed_by": rec["reviewed_by"], "reviewed_on": on, "source": f"{file_name}:{line}"})
    return pd.DataFrame(rows, columns=[*COLUMNS, "source"])


def apply_reviews(pairs: pd.DataFrame, reviews: pd.DataFrame, left_ids: set[str],
                  right_ids: set[str]) -> pd.DataFrame:
    """``match_people`` output with the standing decisions applied.

    The newest decision per pair wins. Rejected pairs are dropped. A confirmed pair whose two
    records are both present tonight is ``matched`` with method ``review``, and every other pair
    holding either record is dropped.
    """
    if reviews.empty:
        return pairs
    latest = (reviews.sort_values("reviewed_on", kind="stable")
              .drop_duplicates(["left_id", "right_id"], keep="last"))
    key = list(zip(pairs["left_id"], pairs["right_id"]))
    rejected = set(zip(*(latest.loc[latest["decision"] == "reject", c] for c in ("left_id", "right_id"))))
    confirmed = [(a, b) for a, b in zip(*(latest.loc[latest["decision"] == "confirm", c]
                                          for c in ("left_id", "right_id")))
                 if a in left_ids and b in right_ids]
    taken_left, taken_right = {a for a, _ in confirmed}, {b for _, b in confirmed}
    keep = [k not in rejected and k[0] not in taken_left and k[1] not in taken_right for k in key]
    kept = pairs[keep]
    scores = dict(zip(key, pairs["score"]))
    added = pd.DataFrame({"left_id": [a for a, _ in confirmed], "right_id": [b for _, b in confirmed],
                          "score": [float(scores.get(k, float("nan"))) for k in confirmed],
                          "status": "matched", "method": "review", "reasons": "confirmed by review"})
    out = pd.concat([kept, added], ignore_index=True) if len(added) else kept.reset_index(drop=True)
    return out.sort_values(["left_id", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)
