"""What a run is about: which night, which window of stop times, where its files go."""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Union
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import ObjectStoragePath

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "DIVERSION_DATA_DIR"
STAGING_URL_ENV = "DIVERSION_STAGING_URL"
StagedPath = Union[Path, "ObjectStoragePath"]


def data_dir() -> Path:
    """Where staging, reports and the default state database live ($DIVERSION_DATA_DIR or ./var)."""
    return Path(os.environ.get(DATA_DIR_ENV) or PROJECT_ROOT / "var").resolve()


def staging_location(value: str | Path) -> StagedPath:
    """A staged file's location from its text form: a URL (`file://`, `s3://conn@bucket/...`) is
    an ObjectStoragePath, so Celery workers on other machines read what an earlier task wrote;
    anything else is a local path, as before."""
    text = str(value)
    if "://" in text:
        from airflow.sdk import ObjectStoragePath
        return ObjectStoragePath(text)
    return Path(text)


def staging_root(root: Path, staging_url: str | None = None) -> StagedPath:
    """$DIVERSION_STAGING_URL, else the `staging.url` setting, else `root`/staging."""
    url = os.environ.get(STAGING_URL_ENV) or staging_url
    return staging_location(url.rstrip("/")) if url else root / "staging"


def is_local(path: StagedPath) -> bool:
    return isinstance(path, Path) or getattr(path, "protocol", "") in ("file", "local")


def write_frame(path: StagedPath, frame: "pd.DataFrame") -> None:
    """Parquet through a partial name: a crash mid-write never leaves half a file for the next step."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as fh:
        frame.to_parquet(fh, index=False)
    partial.replace(path)


def read_frame(path: StagedPath) -> "pd.DataFrame":
    """A staged frame with the dtypes it was written with; decimals (quantities) stay decimals."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    with path.open("rb") as fh:
        return pq.read_table(fh).to_pandas(
            types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_decimal(t) else None)


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
    staging_dir: StagedPath
    reports_dir: Path

    @classmethod
    def plan(cls, run_id: str, night: date, timezone: str, root: Path | None = None,
             staging_url: str | None = None) -> "NightlyRun":
        """$DIVERSION_STAGING_URL, else `staging_url` (the `staging.url` setting), puts the staging
        area on shared or object storage; without either, staging stays under `root`/staging."""
        root = root or data_dir()
        start, end = night_window(night, timezone)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)
        base = staging_root(root, staging_url)
        return cls(run_id=run_id, night=night, window_start=start, window_end=end,
                   staging_dir=base / night.isoformat() / safe,
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
                   staging_dir=staging_location(data["staging_dir"]), reports_dir=Path(data["reports_dir"]))

    @property
    def review_rejections(self) -> Path:
        """Why tonight's match review files were set aside, kept for the analysts' report."""
        return self.reports_dir / "match_reviews_rejected.txt"

    def staged(self, name: str) -> StagedPath:
        path = self.staging_dir / name
        if is_local(path):  # object stores have no folders to make
            path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def prepare_staging(self) -> None:
        if is_local(self.staging_dir):
            self.staging_dir.mkdir(parents=True, exist_ok=True)

    def download_dest(self, name: str) -> Path:
        """Where an SFTP download lands: the staged path itself on local staging, otherwise a
        scratch file on this worker that `keep_download` moves to the staging area."""
        if isinstance(self.staging_dir, Path):
            return self.staged(name)
        import tempfile
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.run_id)
        path = Path(tempfile.gettempdir()) / "diversion-sync-scratch" / self.night.isoformat() / safe / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def keep_download(self, local: Path, name: str) -> str:
        """The downloaded file's staged location as text (for caseloads.json and XCom)."""
        if isinstance(self.staging_dir, Path):
            return str(local)
        target = self.staged(name)
        with local.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        local.unlink()
        return str(target)
