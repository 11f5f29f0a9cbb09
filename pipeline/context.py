"""What a run is about: which night, which window of stop times, where its files go."""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "DIVERSION_DATA_DIR"


def data_dir() -> Path:
    """Where staging, reports and the default state database live ($DIVERSION_DATA_DIR or ./var)."""
    return Path(os.environ.get(DATA_DIR_ENV) or PROJECT_ROOT / "var").resolve()


def night_window(night: date, timezone: str) -> tuple[datetime, datetime]:
    """The local calendar day `night` as a UTC [start, end) window (23 or 25 hours at clock changes)."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(night, time(0), tzinfo=tz)
    end = datetime.combine(night + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def night_for_schedule(data_interval_end: datetime, timezone: str) -> date:
    """A run scheduled on the morning of day D processes night D-1 (the previous local day)."""
    return data_interval_end.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


@dataclass(frozen=True)
class NightlyRun:
    run_id: str
    night: date
    window_start: datetime
    window_end: datetime
    staging_dir: Path
    reports_dir: Path

    @classmethod
    def plan(cls, run_id: str, night: date, timezone: str, root: Path | None = None) -> "NightlyRun":
        root = root or data_dir()
        start, end = night_window(night, timezone)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)
        return cls(run_id=run_id, night=night, window_start=start, window_end=end,
                   staging_dir=root / "staging" / night.isoformat() / safe,
                   reports_dir=root / "reports" / night.isoformat())

    def to_xcom(self) -> dict[str, str]:
        """Small, JSON-safe metadata for XCom."""
        return {k: (v.isoformat() if isinstance(v, (date, datetime)) else str(v))
                for k, v in asdict(self).items()}

    @classmethod
    def from_xcom(cls, data: dict[str, str]) -> "NightlyRun":
        return cls(run_id=data["run_id"], night=date.fromisoformat(data["night"]),
                   window_start=datetime.fromisoformat(data["window_start"]),
                   window_end=datetime.fromisoformat(data["window_end"]),
                   staging_dir=Path(data["staging_dir"]), reports_dir=Path(data["reports_dir"]))

    def staged(self, name: str) -> Path:
        path = self.staging_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
