"""The stop record contract: what a validated stop from the records system looks like.

Static checks (published code lists, formats) live on the model; checks that depend on the
scheme configuration (areas, the drug reference table, the time zone that decides a stop's day
and so a child's age at it) are added by `stop_schema`.
"""
from __future__ import annotations

from typing import Annotated

import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.typing import Series

from schemas import codes
from schemas.config import SchemeConfig
from schemas.identifiers import PNC_PATTERN, POSTCODE_PATTERN, pnc_ids_valid
from transforms.text import map_values
from transforms.derivations import derived
from transforms.stop_days import age_on, local_stop_day

UTC_TIME = Annotated[pd.DatetimeTZDtype, "us", "UTC"]


class StopRecord(pa.DataFrameModel):
    """A stop as the pipeline uses it, after mapping and type normalisation."""

    stop_ref: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    stop_time: Series[UTC_TIME]
    area: Series[str]
    person_id: Series[str] = pa.Field(nullable=True)
    pnc_id: Series[str] = pa.Field(nullable=True, str_matches=PNC_PATTERN)
    forename: Series[str] = pa.Field(nullable=True)
    surname: Series[str] = pa.Field(nullable=True)
    date_of_birth: Series[pa.DateTime] = pa.Field(nullable=True)
    gender: Series[str] = pa.Field(nullable=True, isin=codes.GENDERS)
    postcode: Series[str] = pa.Field(nullable=True, str_matches=POSTCODE_PATTERN)
    search_type: Series[str] = pa.Field(isin=codes.SEARCH_TYPES)
    age_range: Series[str] = pa.Field(nullable=True, isin=codes.AGE_RANGES)
    legislation: Series[str] = pa.Field(nullable=True, isin=codes.LEGISLATION)
    object_of_search: Series[str] = pa.Field(nullable=True, isin=codes.OBJECTS_OF_SEARCH)
    outcome: Series[str] = pa.Field(nullable=True, isin=codes.OUTCOMES)
    # Optional (sensitive, DPA 2018 s.35(8)): all blank unless the force maps them.
    self_defined_ethnicity: Series[str] = pa.Field(nullable=True, isin=codes.SELF_DEFINED_ETHNICITIES)
    officer_defined_ethnicity: Series[str] = pa.Field(nullable=True,
                                                      isin=codes.OFFICER_DEFINED_ETHNICITIES)
    drug_name: Series[str] = pa.Field(nullable=True)
    drug_class: Series[str] = pa.Field(nullable=True, isin=("A", "B", "C"))
    quantity: Series[Annotated[pd.ArrowDtype, pyarrow.decimal128(12, 3)]] = pa.Field(nullable=True, gt=0)
    quantity_unit: Series[str] = pa.Field(nullable=True)
    offence: Series[str] = pa.Field(nullable=True)
    officer_action: Series[str] = pa.Field(nullable=True)
    last_modified: Series[UTC_TIME]

    @pa.check("pnc_id", name="PNC id check letter")
    def pnc_check_letter(cls, pnc: Series[str]) -> Series[bool]:
        return pnc.isna() | pnc_ids_valid(pnc)

    @pa.dataframe_check(name="date of birth present for a drugs stop")
    def dob_for_drug_stop(cls, df: pd.DataFrame) -> Series[bool]:
        return df["date_of_birth"].notna() | ~_is_drug_find(df)

    @pa.dataframe_check(name="quantity and unit given together")
    def quantity_with_unit(cls, df: pd.DataFrame) -> Series[bool]:
        return df["quantity"].isna() == df["quantity_unit"].isna()

    @pa.dataframe_check(name="offence recorded when a drug was found")
    def offence_for_drug(cls, df: pd.DataFrame) -> Series[bool]:
        return df["offence"].notna() | df["drug_name"].isna()

    class Config:
        strict = False
        coerce = False


def _stop_day(df: pd.DataFrame, timezone: str) -> pd.Series:
    """The local day of each stop, as midnight; several row checks need it."""
    return derived(df, f"stop day in {timezone}", lambda df: local_stop_day(df["stop_time"], timezone))


def _age_at_stop(df: pd.DataFrame, timezone: str) -> pd.Series:
    """Whole years between date of birth and the local day of the stop; NaN without a birth date."""
    return derived(df, f"age at stop in {timezone}", lambda df: age_on(df["date_of_birth"], _stop_day(df, timezone)))


def _is_drug_find(df: pd.DataFrame) -> pd.Series:
    return df["drug_name"].notna()


def stop_schema(config: SchemeConfig) -> pa.DataFrameSchema:
    """The stop contract with the scheme's areas, drug reference table and time zone (the day of a
    stop, and so a child's age at it, is the scheme's local day) as checks."""
    drugs = config.eligibility.drugs
    units = list(config.eligibility.units)
    timezone = config.scheme.timezone
    base = StopRecord.to_schema()

    def dob_before_stop(df: pd.DataFrame) -> pd.Series:
        return df["date_of_birth"].isna() | (df["date_of_birth"] < _stop_day(df, timezone))

    def age_plausible(df: pd.DataFrame) -> pd.Series:
        age = _age_at_stop(df, timezone)
        return age.isna() | (age <= 110)

    def age_of_responsibility(df: pd.DataFrame) -> pd.Series:
        age = _age_at_stop(df, timezone)
        return age.isna() | (age >= 10) | (df["date_of_birth"] >= _stop_day(df, timezone))

    def drug_known(df: pd.DataFrame) -> pd.Series:
        return df["drug_name"].isna() | df["drug_name"].isin(list(drugs))

    def class_consistent(df: pd.DataFrame) -> pd.Series:
        expected = map_values(df["drug_name"], {n: d.drug_class for n, d in drugs.items()})
        # compared as midnight timestamps (no Python date per row): the same order as the dates
        since = map_values(df["drug_name"], {n: pd.Timestamp(d.class_since) for n, d in drugs.items()
                                             if d.class_since is not None}).astype("datetime64[us]")
        controlled_then = since.isna() | (_stop_day(df, timezone) >= since)
        return (df["drug_class"].isna() | expected.isna() | (df["drug_class"] == expected)
                | ~controlled_then.astype(bool))

    columns = dict(base.columns)
    columns["area"] = columns["area"].set_checks(
        [pa.Check.isin(list(config.areas), name="area is a configured local policing area",
                       error="area is a configured local policing area")])
    columns["quantity_unit"] = columns["quantity_unit"].set_checks(
        [pa.Check.isin(units, name="quantity unit is allowed", error="quantity unit is allowed")])
    checks = list(base.checks) + [
        pa.Check(dob_before_stop, name="date of birth before the stop"),
        pa.Check(age_plausible, name="age at the stop is at most 110"),
        pa.Check(age_of_responsibility, name="age at the stop is 10 or over (age of criminal responsibility)"),
        pa.Check(drug_known, name="drug is in the reference table"),
        pa.Check(class_consistent, name="drug class matches the reference table"),
    ]
    return pa.DataFrameSchema(columns=columns, checks=checks, strict=False, coerce=False,
                              name="stop record")
