"""The local day of a stop and a child's age on it: the contract's checks and eligibility's rules
must agree on both, so both use these."""
from __future__ import annotations

import pandas as pd


def local_stop_day(stop_time: pd.Series, timezone: str) -> pd.Series:
    """The day (as local midnight, without a zone) each UTC stop time falls on in `timezone`."""
    return stop_time.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def age_on(dob: pd.Series, day: pd.Series) -> pd.Series:
    """Whole years of age on `day`; a birthday counts on the day itself, 29 February on 1 March.
    NaN without a birth date.

    As yyyymmdd numbers the difference floored to ten thousands is the difference in years, less
    one when the birthday is still to come that year."""
    born = dob.dt.year * 10_000 + dob.dt.month * 100 + dob.dt.day
    on = day.dt.year * 10_000 + day.dt.month * 100 + day.dt.day
    return (on - born) // 10_000
