"""Analysts' review decisions on possible matches: read strictly, honoured on later nights."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from transforms.matching import match_people
from transforms.review import ReviewError, apply_reviews, read_match_reviews

COLUMNS = ["record_id", "forename", "surname", "date_of_birth", "gender", "postcode", "pnc_id", "referral_ref"]


def people(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(COLUMNS, r)) for r in rows], columns=COLUMNS)


def night() -> pd.DataFrame:
    """A wrong date of birth: the engine can only offer L1/Y1 as possible, and L2/Y2 matches."""
    left = people(("L1", "Olivia", "Hartley", dt.date(2009, 3, 14), "F", "RG14 5AB", None, None),
                  ("L2", "Jack", "Obi", dt.date(2010, 6, 2), "M", "SL1 2AA", None, None))
    right = people(("Y1", "Olivia", "Hartley", dt.date(2011, 10, 2), "F", "RG14 5AB", None, None),
                   ("Y2", "Jack", "Obi", dt.date(2010, 6, 2), "M", "SL1 2AA", None, None))
    return match_people(left, right)


def reviews(text: str) -> pd.DataFrame:
    return read_match_reviews(text.encode(), "reviews.csv")


def status(pairs: pd.DataFrame) -> set[tuple[str, str, str]]:
    return set(zip(pairs["left_id"], pairs["right_id"], pairs["status"]))


def test_confirmed_possible_becomes_matched_in_later_runs() -> None:
    pairs = night()
    assert ("L1", "Y1", "possible") in status(pairs)
    decided = reviews("left_id,right_id,decision,reviewed_by,reviewed_on\nL1,Y1,confirm,analyst 7,2026-11-25\n")
    for _ in range(2):  # every later night
        out = apply_reviews(night(), decided, {"L1", "L2"}, {"Y1", "Y2"})
        assert status(out) == {("L1", "Y1", "matched"), ("L2", "Y2", "matched")}
        assert out.loc[out["left_id"] == "L1", "method"].item() == "review"


def test_rejected_pair_never_matches_again() -> None:
    decided = reviews("left_id,right_id,decision,reviewed_by,reviewed_on\nL2,Y2,reject,analyst 7,2026-11-25\n"
                      "L1,Y1,reject,analyst 7,2026-11-25\n")
    out = apply_reviews(night(), decided, {"L1", "L2"}, {"Y1", "Y2"})
    assert out.empty


def test_newest_decision_wins_and_absent_records_are_not_invented() -> None:
    decided = reviews("left_id,right_id,decision,reviewed_by,reviewed_on\nL1,Y1,reject,a,2026-11-20\n"
                      "L1,Y1,confirm,b,2026-11-24\nL9,Y9,confirm,b,2026-11-24\n")
    out = apply_reviews(night(), decided, {"L1", "L2"}, {"Y1", "Y2"})
    assert status(out) == {("L1", "Y1", "matched"), ("L2", "Y2", "matched")}


@pytest.mark.parametrize(("text", "message"), [
    ("left_id,right_id,decision\nL1,Y1,confirm\n", "missing column(s): reviewed_by, reviewed_on"),
    ("left_id,right_id,decision,reviewed_by,reviewed_on\nL1,Y1,maybe,a,2026-11-25\n", "line 2, decision"),
    ("left_id,right_id,decision,reviewed_by,reviewed_on\nL1,,confirm,a,2026-11-25\n", "line 2, right_id"),
    ("left_id,right_id,decision,reviewed_by,reviewed_on\nL1,Y1,confirm,a,25/11/2026\n", "line 2, reviewed_on"),
])
def test_bad_review_file_is_rejected_naming_line_and_field(text: str, message: str) -> None:
    with pytest.raises(ReviewError, match=message.replace("(", r"\(").replace(")", r"\)")):
        reviews(text)
