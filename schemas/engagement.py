"""The engagement contract: one row of `engagement` (a referral's state on a night) as
assess_engagement writes it. `referral_date` is not stored but may be given alongside, so that
'the deadline falls after the referral was made' is checked."""
from __future__ import annotations

from typing import Any, Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.codes import OUTCOME_DIVERSION_COMPLETED
from schemas.config import CASELOAD_STATUSES
from transforms.engagement import NON_ENGAGEMENT, STATES

#: States reached because a working-day deadline passed: the only ones that carry a deadline.
MISSED_DEADLINE = ("no_yot_record", "no_first_contact", "no_session")
#: States in which no YOT case was found for the referral.
WITHOUT_CASE = ("awaiting_yot_record", "no_yot_record")


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values)


class EngagementAssessment(pa.DataFrameModel):
    referral_ref: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    state: Series[str] = pa.Field(isin=STATES)
    non_engagement_reason: Series[str] = pa.Field(nullable=True, isin=NON_ENGAGEMENT)
    deadline: Series[pa.Date] = pa.Field(nullable=True)
    yot_case_id: Series[str] = pa.Field(nullable=True)
    yot_status: Series[str] = pa.Field(nullable=True, isin=CASELOAD_STATUSES)
    evidence: Series[str] = pa.Field(str_length={"min_value": 1})
    as_of: Series[pa.Date]
    crime_outcome: Series[Any] = pa.Field(nullable=True, isin=[OUTCOME_DIVERSION_COMPLETED])
    run_id: Optional[Series[str]]
    referral_date: Optional[Series[pa.Date]]

    @pa.dataframe_check(name="non-engagement reason is the state exactly when the state is non-engagement")
    def reason_is_state(cls, df: pd.DataFrame) -> Series[bool]:
        non_engaged = df["state"].isin(NON_ENGAGEMENT)
        same = df["non_engagement_reason"].astype("object") == df["state"].astype("object")
        return (non_engaged & same) | (~non_engaged & df["non_engagement_reason"].isna())

    @pa.dataframe_check(name="a deadline is recorded exactly when one was missed")
    def deadline_only_when_missed(cls, df: pd.DataFrame) -> Series[bool]:
        return df["state"].isin(MISSED_DEADLINE) == df["deadline"].notna()

    @pa.dataframe_check(name="a missed deadline is before the night it was assessed")
    def deadline_before_night(cls, df: pd.DataFrame) -> Series[bool]:
        deadline = _day(df["deadline"])
        return deadline.isna() | (deadline < _day(df["as_of"]))

    @pa.dataframe_check(name="the deadline falls after the referral was made")
    def deadline_after_referral(cls, df: pd.DataFrame) -> Series[bool]:
        if "referral_date" not in df:
            return pd.Series(True, index=df.index)
        deadline = _day(df["deadline"])
        return deadline.isna() | (deadline > _day(df["referral_date"]))

    @pa.dataframe_check(name="a YOT case is linked exactly when the state needs one")
    def case_when_needed(cls, df: pd.DataFrame) -> Series[bool]:
        return df["state"].isin(WITHOUT_CASE) == df["yot_case_id"].isna()

    @pa.dataframe_check(name="the YOT status is given exactly when a YOT case is linked")
    def status_with_case(cls, df: pd.DataFrame) -> Series[bool]:
        return df["yot_status"].isna() == df["yot_case_id"].isna()

    @pa.dataframe_check(name="a completed diversion, and only one, carries the diversion-completed outcome")
    def outcome_when_completed(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["state"] == "completed") == df["crime_outcome"].notna()

    class Config:
        strict = False
        coerce = False
        name = "engagement assessment"
