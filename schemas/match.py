"""The match contract: one row of `matches` (a referral paired with a YOT case) as match_referrals
writes it. Scores are sums of log2 likelihood ratios (see transforms.matching.MatchSettings), not
probabilities: an identifier match's score is for information and may be negative."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from transforms.matching import MATCHED, POSSIBLE, MatchSettings

METHODS = ("referral_ref", "pnc_id", "probabilistic", "review")  # review: confirmed by an analyst
IDENTIFIER_METHODS = ("referral_ref", "pnc_id")
_SETTINGS = MatchSettings()  # the settings match_referrals runs with


class MatchRecord(pa.DataFrameModel):
    referral_ref: Series[str] = pa.Field(str_length={"min_value": 1})
    yot_id: Series[str] = pa.Field(str_length={"min_value": 1})
    case_id: Series[str] = pa.Field(str_length={"min_value": 1})
    score: Series[float]
    status: Series[str] = pa.Field(isin=(MATCHED, POSSIBLE))
    method: Series[str] = pa.Field(isin=METHODS)
    reasons: Series[str] = pa.Field(str_length={"min_value": 1})
    run_id: Optional[Series[str]]

    @pa.check("score", name="score is a finite number")
    def score_finite(cls, score: Series[float]) -> Series[bool]:
        return pd.Series(np.isfinite(score.to_numpy(dtype=float)), index=score.index)

    @pa.dataframe_check(name="a referral is matched to at most one case per YOT")
    def one_case_per_referral(cls, df: pd.DataFrame) -> Series[bool]:
        matched = df["status"] == MATCHED
        return ~(matched & df[matched].duplicated(["referral_ref", "yot_id"], keep=False)
                 .reindex(df.index, fill_value=False))

    @pa.dataframe_check(name="a YOT case is matched to at most one referral")
    def one_referral_per_case(cls, df: pd.DataFrame) -> Series[bool]:
        matched = df["status"] == MATCHED
        return ~(matched & df[matched].duplicated(["yot_id", "case_id"], keep=False)
                 .reindex(df.index, fill_value=False))

    @pa.dataframe_check(name="a probabilistic pair scores at least the review threshold")
    def probabilistic_above_review(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["method"] != "probabilistic") | (df["score"] >= _SETTINGS.possible_threshold)

    @pa.dataframe_check(name="a probabilistic match scores at least the match threshold")
    def probabilistic_match_above_threshold(cls, df: pd.DataFrame) -> Series[bool]:
        return ((df["method"] != "probabilistic") | (df["status"] != MATCHED)
                | (df["score"] >= _SETTINGS.match_threshold))

    @pa.dataframe_check(name="an identifier pair left for review names the conflicting details")
    def identifier_possible_explained(cls, df: pd.DataFrame) -> Series[bool]:
        return (~df["method"].isin(IDENTIFIER_METHODS) | (df["status"] != POSSIBLE)
                | df["reasons"].str.contains("personal details conflict", regex=False).astype(bool))

    class Config:
        strict = False
        coerce = False
        unique = ["referral_ref", "yot_id", "case_id"]
        name = "match"
