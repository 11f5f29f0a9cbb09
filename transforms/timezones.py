"""Turn the records system's local wall-clock times into UTC, with the clock changes explicit.

Policy (Europe/London): in the hour that repeats when the clocks go back in October, a time is
read as its first occurrence (BST, UTC+1); a time in the hour that does not exist when the clocks
go forward in March is moved forward by the gap (01:30 becomes 02:30 BST, i.e. 01:30 UTC).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


_ZONE = r"(?:Z|[+-]\d\d(?::?\d\d)?)$"


def local_to_utc(naive: pd.Series, timezone: str) -> pd.Series:
    """Naive local date-times to UTC, by the policy above."""
    first_occurrence = np.ones(len(naive), dtype=bool)
    local = naive.dt.tz_localize(timezone, ambiguous=first_occurrence, nonexistent=pd.Timedelta(hours=1))
    return local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def text_to_utc(values: "pa.Array", timezone: str) -> pd.Series:
    """ISO text to UTC. Local wall-clock text follows the policy above; text that carries its own
    offset (a timestamptz column, say) keeps it; unreadable text becomes NaT.

    Arrow parses a batch of plain local times at once; anything else goes value-class by
    value-class through pandas, which refuses a batch of mixed offsets as a whole.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        naive = pd.Series(pc.cast(values, pa.timestamp("us")).to_numpy(zero_copy_only=False),
                          dtype="datetime64[us]")
        return local_to_utc(naive, timezone)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = pd.Series(values, dtype="str").str.strip()
    aware = text.str.contains(_ZONE, regex=True, na=False).to_numpy()
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if (~aware).any():
        naive = pd.to_datetime(text[~aware], errors="coerce", format="ISO8601").astype("datetime64[us]")
        out[~aware] = local_to_utc(naive, timezone)
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], errors="coerce", format="ISO8601", utc=True)
    return out


def utc_iso_text(utc: pd.Series) -> pd.Series:
    """UTC times as ISO 8601 text ("2026-03-29T01:30:00+00:00"; six decimals when any time in
    the batch has a fraction), vectorised in Arrow: one by one in Python took seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc
    naive = utc.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    has_fraction = bool((naive[~pd.isna(naive)].astype("int64") % 1_000_000).any())
    if not has_fraction:
        naive = naive.astype("datetime64[s]")
    text = pc.utf8_replace_slice(pc.cast(pa.array(naive), pa.string()), 10, 11, "T")
    out = pd.Series(pc.binary_join_element_wise(text, "+00:00", ""), index=utc.index, dtype="str")
    return out.where(utc.notna())
