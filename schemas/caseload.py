"""The caseload row contract: one row of a YOT's caseload export, after mapping and typing."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.config import CASELOAD_STATUSES
from schemas.identifiers import PNC_PATTERN, POSTCODE_PATTERN

_DATE_ORDER = ("referral_received", "first_contact", "assessment_date")


class CaseloadRow(pa.DataFrameModel):
    case_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    referral_ref: Series[str] = pa.Field(nullable=True)
    pnc_id: Series[str] = pa.Field(nullable=True, str_matches=PNC_PATTERN)
    forename: Series[str] = pa.Field(nullable=True)
    surname: Series[str] = pa.Field(nullable=True)
    date_of_birth: Series[pa.DateTime] = pa.Field(nullable=True)
    gender: Series[str] = pa.Field(nullable=True, isin=("Male", "Female", "Other"))
    postcode: Series[str] = pa.Field(nullable=True, str_matches=POSTCODE_PATTERN)
    referral_received: Series[pa.DateTime] = pa.Field(nullable=True)
    first_contact: Series[pa.DateTime] = pa.Field(nullable=True)
    assessment_date: Series[pa.DateTime] = pa.Field(nullable=True)
    sessions_offered: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    sessions_attended: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    status: Series[str] = pa.Field(isin=CASELOAD_STATUSES)
    status_date: Series[pa.DateTime] = pa.Field(nullable=True)

    @pa.dataframe_check(name="dates in order (referral received, first contact, assessment)")
    def dates_in_order(cls, df: pd.DataFrame) -> Series[bool]:
        ok = pd.Series(True, index=df.index)
        for earlier, later in zip(_DATE_ORDER, _DATE_ORDER[1:]):
            ok &= df[earlier].isna() | df[later].isna() | (df[earlier] <= df[later])
        return ok

    @pa.dataframe_check(name="sessions attended not more than sessions offered")
    def attended_within_offered(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["sessions_attended"].isna() | df["sessions_offered"].isna()
                | (df["sessions_attended"] <= df["sessions_offered"])).astype(bool)

    class Config:
        strict = False
        coerce = False


def caseload_schema(file_date: date) -> pa.DataFrameSchema:
    """The row contract plus 'no date after the file's own date'."""
    limit = pd.Timestamp(file_date)
    base = CaseloadRow.to_schema()

    def no_future_dates(df: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=df.index)
        for col in (*_DATE_ORDER, "status_date"):
            ok &= df[col].isna() | (df[col] <= limit)
        return ok

    return pa.DataFrameSchema(
        columns=base.columns, strict=False, coerce=False, name="caseload row",
        checks=[*base.checks, pa.Check(no_future_dates, name="no date after the export's date")])
