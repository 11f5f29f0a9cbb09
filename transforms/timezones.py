"""Turn the records system's local wall-clock times into UTC, with the clock changes explicit.

Policy (Europe/London): in the hour that repeats when the clocks go back in October, a time is
read as its first occurrence (BST, UTC+1); a time in the hour that does not exist when the clocks
go forward in March is moved forward by the gap (01:30 becomes 02:30 BST, i.e. 01:30 UTC).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def local_to_utc(values: pd.Series, timezone: str) -> pd.Series:
    """Naive local times (datetimes or ISO strings) to UTC; unreadable values become NaT."""
    naive = pd.to_datetime(values, errors="coerce", format="ISO8601")
    if getattr(naive.dt, "tz", None) is not None:  # already zone-aware: trust its offset
        return naive.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    first_occurrence = np.ones(len(naive), dtype=bool)
    local = naive.dt.tz_localize(timezone, ambiguous=first_occurrence, nonexistent=pd.Timedelta(hours=1))
    return local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def utc_to_local_naive(moment: pd.Timestamp, timezone: str) -> pd.Timestamp:
    return moment.tz_convert(timezone).tz_localize(None)
