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
    decided = reviews("referral_ref,yot_id,case_id,decision,decided_by,decided_on\nL1,yot,Y1,confirm,analyst 7,2026-11-25\n")
    for _ in range(2):  # every later night
        out = apply_reviews(night(), decided, {"L1", "L2"}, {"Y1", "Y2"})
        assert status(out) == {("L1", "Y1", "matched"), ("L2", "Y2", "matched")}
        assert out.loc[out["left_id"] == "L1", "method"].item() == "review"


def test_rejected_pair_never_matches_again() -> None:
    decided = reviews("referral_ref,yot_id,case_id,decision,decided_by,decided_on\nL2,yot,Y2,reject,analyst 7,2026-11-25\n"
                      "L1,yot,Y1,reject,analyst 7,2026-11-25\n")
    out = apply_reviews(night(), decided, {"L1", "L2"}, {"Y1", "Y2"})
    assert out.empty


def test_newest_decision_wins_and_absent_records_are_not_invented() -> None:
    decided = reviews("referral_ref,yot_id,case_id,decision,decided_by,decided_on\nL1,yot,Y1,reject,a,2026-11-20\n"
                      "L1,yot,Y1,confirm,b,2026-11-24\nL9,yot,Y9,confirm,b,2026-11-24\n")
    out = apply_reviews(night(), decided, {"L1", "L2"}, {"Y1", "Y2"})
    assert status(out) == {("L1", "Y1", "matched"), ("L2", "Y2", "matched")}


@pytest.mark.parametrize(("text", "message"), [
    ("referral_ref,yot_id,case_id,decision\nL1,yot,Y1,confirm\n", "missing column(s): decided_by, decided_on"),
    ("referral_ref,yot_id,case_id,decision,decided_by,decided_on\nL1,yot,Y1,maybe,a,2026-11-25\n", "line 2, decision: not one of confirm, reject"),
    ("referral_ref,yot_id,case_id,decision,decided_by,decided_on\nL1,yot,,confirm,a,2026-11-25\n", "line 2, case_id: required value is blank"),
    ("referral_ref,yot_id,case_id,decision,decided_by,decided_on\nL1,yot,Y1,confirm,a,25/11/2026\n", "line 2, decided_on: not a date"),
])
def test_bad_review_file_is_rejected_naming_line_and_field(text: str, message: str) -> None:
    with pytest.raises(ReviewError, match=message.replace("(", r"\(").replace(")", r"\)")):
        reviews(text)


def test_two_confirmations_of_one_record_the_newer_stands() -> None:
    decided = reviews("referral_ref,yot_id,case_id,decision,decided_by,decided_on\n"
                      "L1,yot,Y2,confirm,a,2026-11-20\nL1,yot,Y1,confirm,b,2026-11-24\n")
    out = apply_reviews(night(), decided, {"L1", "L2"}, {"Y1", "Y2"})
    assert ("L1", "Y1", "matched") in status(out)
    assert not (out["right_id"] == "Y2").any() or ("L2", "Y2", "matched") in status(out)
    assert out.loc[out["left_id"] == "L1", "right_id"].tolist() == ["Y1"]


def test_review_and_acknowledgement_files_share_one_reader() -> None:
    from transforms.acknowledgements import AcknowledgementError, read_acknowledgements
    acks = read_acknowledgements(b"referral_ref,reason,acknowledged_by,acknowledged_on,note\r\n"
                                 b"tvp-1,declined,Sgt 1,2026-11-25,\r\n\r\n", "acks.csv")
    assert acks[["referral_ref", "source", "note"]].values.tolist() == [["TVP-1", "acks.csv:2", None]]
    with pytest.raises(AcknowledgementError, match=r"acks.csv, line 2, reason: not one of declined"):
        read_acknowledgements(b"referral_ref,reason,acknowledged_by,acknowledged_on\nR1,Surname,S,2026-11-25\n",
                              "acks.csv")
    decided = reviews("Referral_Ref , YOT_ID,case_id,Decision,decided_by,decided_on,extra\n"
                      "r1,reading,C9,REJECT,analyst 7,2026-11-25,x\n")
    assert decided.iloc[0][["referral_ref", "yot_id", "case_id", "decision"]].tolist() == ["R1", "reading", "C9", "reject"]


def test_analysts_report_lists_pairs_with_reasons_and_the_line_to_send_back() -> None:
    from transforms.report import build_match_review_report
    from transforms.review import HEADER
    pairs = pd.DataFrame([{
        "referral_ref": "DR-1", "yot_id": "reading", "yot": "Reading", "case_id": "YC9", "score": 12.5,
        "method": "probabilistic", "reasons": "forename exact; surname exact; date of birth different",
        "police_forename": "Olivia", "police_surname": "Hartley", "police_date_of_birth": dt.date(2009, 3, 14),
        "yot_forename": "Olivia", "yot_surname": "Hartley", "yot_date_of_birth": dt.date(2011, 10, 2)}])
    report = build_match_review_report(pairs, night=dt.date(2026, 11, 24), subject_template="Review ({night})",
                                       rejected_files=["bad.csv, line 2, decision: not one of confirm, reject"])
    assert report.subject == "Review (2026-11-24)" and report.row_count == 1 and report.kind == "match_review"
    for text in (">DR-1<", ">YC9<", "12.5", "date of birth different", "2009-03-14", "2011-10-02", "Hartley",
                 HEADER, "DR-1,reading,YC9,confirm,your name,2026-11-24,", "bad.csv, line 2, decision"):
        assert text in report.html, text
    assert report.csv_bytes.decode() == f"{HEADER}\nDR-1,reading,YC9,,,,\n"  # ids only, decision blank
    assert "Hartley" not in report.text
    empty = build_match_review_report(pairs.iloc[:0], night=dt.date(2026, 11, 24), subject_template="R {night}")
    assert "No possible matches" in empty.html and empty.row_count == 0
