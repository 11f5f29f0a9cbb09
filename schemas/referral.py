"""The referral contract: one row of `referrals` as decide_referrals writes it."""
from __future__ import annotations

from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.config import SchemeConfig

REFERRAL_PREFIX = "DR-"


class ReferralRecord(pa.DataFrameModel):
    referral_ref: Series[str] = pa.Field(unique=True, str_startswith=REFERRAL_PREFIX)
    stop_ref: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    person_id: Series[str] = pa.Field(nullable=True)
    yot_id: Series[str] = pa.Field(str_length={"min_value": 1})
    area: Series[str] = pa.Field(str_length={"min_value": 1})
    referral_date: Series[pa.Date]
    previous_referral_ref: Series[str] = pa.Field(nullable=True, str_startswith=REFERRAL_PREFIX)
    run_id: Optional[Series[str]]

    @pa.dataframe_check(name="referral reference is DR- and the stop reference")
    def ref_from_stop(cls, df: pd.DataFrame) -> Series[bool]:
        return df["referral_ref"] == REFERRAL_PREFIX + df["stop_ref"].astype("str")

    @pa.dataframe_check(name="a referral is not its own previous referral")
    def not_own_previous(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["previous_referral_ref"].isna() | (df["previous_referral_ref"] != df["referral_ref"])).astype(bool)

    class Config:
        strict = False
        coerce = False
        name = "referral"


def referral_schema(config: SchemeConfig) -> pa.DataFrameSchema:
    """The referral contract with the scheme's YOTs and areas as checks."""
    base = ReferralRecord.to_schema()
    columns = dict(base.columns)
    yots, areas = list(config.yots), list(config.areas)
    columns["yot_id"] = columns["yot_id"].set_checks(
        [pa.Check(lambda s: s.isin(yots), name="referred to a configured YOT")])
    columns["area"] = columns["area"].set_checks(
        [pa.Check(lambda s: s.isin(areas), name="area is a configured local policing area")])
    return pa.DataFrameSchema(columns=columns, checks=list(base.checks), unique=base.unique,
                              strict=False, coerce=False, name="referral")
