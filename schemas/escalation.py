"""The escalation contract: one row of the `escalations` ledger, keyed by referral and reason, as
update_escalations writes it."""
from __future__ import annotations

from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from transforms.engagement import NON_ENGAGEMENT

STATES = ("open", "notified", "acknowledged", "resolved")


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values)


class EscalationRecord(pa.DataFrameModel):
    referral_ref: Series[str] = pa.Field(str_length={"min_value": 1})
    reason: Series[str] = pa.Field(isin=NON_ENGAGEMENT)
    state: Series[str] = pa.Field(isin=STATES)
    opened_night: Series[pa.Date]
    notified_night: Series[pa.Date] = pa.Field(nullable=True)
    resolved_night: Series[pa.Date] = pa.Field(nullable=True)
    evidence: Series[str] = pa.Field(str_length={"min_value": 1})
    deadline: Series[pa.Date] = pa.Field(nullable=True)
    run_id: Optional[Series[str]]

    @pa.dataframe_check(name="a resolved escalation has a resolved night not before its opened night")
    def resolved_after_opened(cls, df: pd.DataFrame) -> Series[bool]:
        resolved = _day(df["resolved_night"])
        return (df["state"] != "resolved") | (resolved.notna() & (resolved >= _day(df["opened_night"])))

    @pa.dataframe_check(name="only a resolved escalation has a resolved night")
    def resolved_night_only_when_resolved(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["state"] == "resolved") | df["resolved_night"].isna()

    @pa.dataframe_check(name="a notified escalation has a notified night")
    def notified_has_night(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["state"] != "notified") | df["notified_night"].notna()

    @pa.dataframe_check(name="an escalation is notified no earlier than it was opened")
    def notified_after_opened(cls, df: pd.DataFrame) -> Series[bool]:
        notified = _day(df["notified_night"])
        return notified.isna() | (notified >= _day(df["opened_night"]))

    class Config:
        strict = False
        coerce = False
        unique = ["referral_ref", "reason"]
        name = "escalation"
