"""The scheme configuration: one YAML file, validated on load.

Everything a force would set (areas, YOTs, thresholds, deadlines, recipients, column mappings,
connection ids) lives in that file; code reads it only through these models, so a bad key fails
at load time with its path named, never half-way through a night.
"""
from __future__ import annotations

import os
import re
from datetime import date, time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "scheme.yaml"
CONFIG_ENV = "DIVERSION_CONFIG"

#: Pipeline fields of the stop record that the records-system mapping must provide.
REQUIRED_STOP_FIELDS = (
    "stop_ref", "stop_time", "area", "person_id", "pnc_id", "forename", "surname",
    "date_of_birth", "gender", "postcode", "search_type", "age_range", "legislation",
    "object_of_search", "outcome", "drug_name", "drug_class", "quantity", "quantity_unit",
    "offence", "officer_action", "last_modified",
)
#: Pipeline fields of the stop record a force may map, or leave out (then they are blank).
#: Ethnicity is sensitive processing (DPA 2018 s.35(8)): map it only where strictly necessary.
OPTIONAL_STOP_FIELDS = ("self_defined_ethnicity", "officer_defined_ethnicity")
#: Pipeline fields of a caseload export row.
REQUIRED_CASELOAD_FIELDS = (
    "case_id", "referral_ref", "pnc_id", "forename", "surname", "date_of_birth", "gender",
    "postcode", "referral_received", "first_contact", "assessment_date", "sessions_offered",
    "sessions_attended", "status", "status_date",
)
OFFENCES = ("possession", "possession_with_intent", "supply")
CASELOAD_STATUSES = (
    "referred", "contacted", "engaged", "completed", "declined", "did_not_engage", "closed_other",
)
_DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")


def _check_mapping(mapping: dict[str, str], required: tuple[str, ...], side: str,
                   optional: tuple[str, ...] = ()) -> None:
    """Every required pipeline field mapped to a column, and no field the pipeline does not know."""
    missing = [f for f in required if f not in mapping]
    unknown = [f for f in mapping if f not in required and f not in optional]
    if missing:
        raise ValueError(f"no {side} column mapped for: {', '.join(missing)}")
    if unknown:
        raise ValueError(f"unknown pipeline field(s): {', '.join(unknown)}")


def _lower_keys(codes: dict[str, str]) -> dict[str, str]:
    """Code lists are matched case-insensitively: keys are stored trimmed and lower-cased."""
    return {k.strip().lower(): v for k, v in codes.items()}


def _addresses(addresses: list[str]) -> list[str]:
    bad = [a for a in addresses if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", a)]
    if bad:
        raise ValueError(f"not an email address: {', '.join(bad)}")
    return addresses


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid; the message names the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Scheme(_Model):
    name: str
    force: str
    timezone: str = "Europe/London"
    rule_version: str


class Connections(_Model):
    records_system: str
    state_database: str
    smtp: str


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class RecordsSystem(_Model):
    odbc_driver: str
    dialect: Literal["sqlite", "postgresql", "mssql"]
    table: str
    source_timezone: str = "Europe/London"
    initial_lookback_days: int = Field(120, ge=1)
    fetch_size: int = Field(20000, ge=1)  # rows per fetchmany: bounds memory (~250 MB at 20,000)
    login_timeout_seconds: int = Field(30, ge=1)
    query_timeout_seconds: int = Field(600, ge=1)
    paging: Literal["cursor", "keyset"] | None = None  # None: keyset for sqlite, else cursor
    columns: dict[str, str]
    offences: dict[str, Literal["possession", "possession_with_intent", "supply"]]

    @field_validator("columns")
    @classmethod
    def _all_fields_mapped(cls, v: dict[str, str]) -> dict[str, str]:
        _check_mapping(v, REQUIRED_STOP_FIELDS, "source", OPTIONAL_STOP_FIELDS)
        bad = [c for c in v.values() if not _IDENTIFIER.match(c)]
        if bad:
            raise ValueError(f"not a plain column name: {', '.join(bad)}")
        return v

    @field_validator("table")
    @classmethod
    def _plain_table(cls, v: str) -> str:
        if not _IDENTIFIER.match(v):
            raise ValueError(f"not a plain table name: {v!r}")
        return v

    _lower_offence_keys = field_validator("offences")(classmethod(lambda cls, v: _lower_keys(v)))


class Transfer(_Model):
    """How hard to try a YOT's SFTP server each night, and how still a file must be to be taken."""
    attempts: int = Field(3, ge=1)             # per YOT, per night, for transient failures
    backoff_seconds: float = Field(5, ge=0)    # before the 2nd attempt; doubled after each failure
    settle_seconds: float = Field(2, ge=0)     # two listings this far apart must agree on size and time


def _has_yot_and_date(v: str) -> str:
    if "{yot}" not in v or "{date" not in v:
        raise ValueError("must contain {yot} and {date:...}")
    return v


class Caseload(_Model):
    file_pattern: str
    referral_file_pattern: str = "referrals_{yot}_{date:%Y%m%d}.csv"  # uploaded to each YOT's inbox
    transfer: Transfer = Transfer()
    date_format: str = "%d/%m/%Y"
    stale_after_days: int = Field(2, ge=0)
    columns: dict[str, str]
    statuses: dict[str, Literal[
        "referred", "contacted", "engaged", "completed", "declined", "did_not_engage", "closed_other"]]

    @field_validator("columns")
    @classmethod
    def _all_fields_mapped(cls, v: dict[str, str]) -> dict[str, str]:
        _check_mapping(v, REQUIRED_CASELOAD_FIELDS, "export")
        return v

    _lower_status_keys = field_validator("statuses")(classmethod(lambda cls, v: _lower_keys(v)))

    _patterns_have_fields = field_validator("file_pattern", "referral_file_pattern")(
        classmethod(lambda cls, v: _has_yot_and_date(v)))

    def file_name(self, yot_id: str, night: date) -> str:
        return self.file_pattern.format(yot=yot_id, date=night)

    def referral_file_name(self, yot_id: str, night: date) -> str:
        return self.referral_file_pattern.format(yot=yot_id, date=night)


class Drug(_Model):
    drug_class: Literal["A", "B", "C"] = Field(alias="class")
    max_quantity: Decimal = Field(gt=0)
    unit: str
    class_since: date | None = None


class Eligibility(_Model):
    min_age: int = Field(10, ge=0)
    max_age: int = Field(17, ge=0)
    exclude_after_non_engagement: bool = True
    drugs: dict[str, Drug]
    units: list[str]

    @model_validator(mode="after")
    def _consistent(self) -> "Eligibility":
        if self.min_age > self.max_age:
            raise ValueError("min_age is above max_age")
        for name, drug in self.drugs.items():
            if drug.unit not in self.units:
                raise ValueError(f"drugs.{name}.unit {drug.unit!r} is not one of units {self.units}")
        return self

    def drug(self, name: str | None) -> Drug | None:
        return self.drugs.get((name or "").strip().lower())


class BankHolidays(_Model):
    country: str = "GB"
    subdivision: str | None = "ENG"


class Deadlines(_Model):
    yot_record: int = Field(ge=1)
    first_contact: int = Field(ge=1)
    first_session: int = Field(ge=1)


class Engagement(_Model):
    bank_holidays: BankHolidays = BankHolidays()
    deadlines: Deadlines


class Report(_Model):
    sender: str
    subject: str
    purpose: str
    engineers: list[str] = Field(min_length=1)  # data engineers: stale data, rejected files, digests
    # analysts who review possible matches: sent the night's pairs to confirm or reject (none: the
    # report is only written to disk)
    analysts: list[str] = []
    review_subject: str = "Youth drug diversion: possible matches to review ({night})"
    review_purpose: str = ("Review of possible matches between police referrals and YOT caseloads "
                           "(policing purpose)")

    _engineer_addresses = field_validator("engineers", "analysts")(classmethod(lambda cls, v: _addresses(v)))

    @field_validator("review_subject")
    @classmethod
    def _review_subject_fields(cls, v: str) -> str:
        try:
            v.format(night="2026-01-01")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{night}} may be used: {exc}") from None
        return v


class Area(_Model):
    default_yot: str
    supervisor_group: str


class SupervisorGroup(_Model):
    name: str
    recipients: list[str] = Field(min_length=1)

    _recipient_addresses = field_validator("recipients")(classmethod(lambda cls, v: _addresses(v)))


class Yot(_Model):
    name: str
    sftp_connection: str
    export_dir: str
    postcode_districts: list[str]
    contacts: list[str] = []  # told (without personal data) when the YOT's export is missing or stale
    inbox_dir: str | None = None    # the night's new referrals are uploaded here (none: not sent)
    archive_dir: str | None = None  # processed exports are moved here on the server (none: left)
    companion: Literal["none", "done", "sha256"] = "none"  # `<export>.done` / `.sha256` must come too

    _contact_addresses = field_validator("contacts")(classmethod(lambda cls, v: _addresses(v)))

    @field_validator("postcode_districts")
    @classmethod
    def _districts(cls, v: list[str]) -> list[str]:
        norm = [d.strip().upper() for d in v]
        bad = [d for d in norm if not _DISTRICT.match(d)]
        if bad:
            raise ValueError(f"not a postcode district: {', '.join(bad)}")
        return norm


class Retention(_Model):
    """Personal data kept no longer than needed: purged daily by the diversion_retention DAG."""
    staging_days: int = Field(30, ge=1)      # staged extracts and caseload files, by night
    quarantine_days: int = Field(90, ge=1)   # quarantined rows (with their original values), by first night


class Operations(_Model):
    night_due_by: time_of_day = time_of_day(7, 0)  # local time by which last night's run must have succeeded


class Staging(_Model):
    """Where each run's staged files live. Unset: <data dir>/staging on local disk (one machine).
    A URL puts them on shared or object storage through Airflow's ObjectStoragePath, so tasks on
    different Celery workers read what earlier tasks wrote: file:///mnt/shared/staging, or
    s3://<aws connection id>@bucket/prefix. $DIVERSION_STAGING_URL overrides it."""
    url: str | None = Field(None, pattern=r"^[a-z][a-z0-9+.-]*://\S+$")


class SchemeConfig(_Model):
    scheme: Scheme
    connections: Connections
    records_system: RecordsSystem
    caseload: Caseload
    eligibility: Eligibility
    engagement: Engagement
    report: Report
    areas: dict[str, Area]
    supervisor_groups: dict[str, SupervisorGroup]
    yots: dict[str, Yot]
    retention: Retention = Retention()
    operations: Operations = Operations()
    staging: Staging = Staging()

    @model_validator(mode="after")
    def _cross_references(self) -> "SchemeConfig":
        if "analysts" in self.supervisor_groups:  # the analysts' report is dispatched under that key
            raise ValueError("supervisor_groups: 'analysts' is reserved for the analysts' match review report")
        for name, area in self.areas.items():
            if area.default_yot not in self.yots:
                raise ValueError(f"areas.{name}.default_yot {area.default_yot!r} is not a configured YOT")
            if area.supervisor_group not in self.supervisor_groups:
                raise ValueError(
                    f"areas.{name}.supervisor_group {area.supervisor_group!r} is not a configured group")
        seen: dict[str, str] = {}
        for yot_id, yot in self.yots.items():
            for district in yot.postcode_districts:
                if district in seen:
                    raise ValueError(
                        f"yots.{yot_id}.postcode_districts: {district} is already served by {seen[district]}")
                seen[district] = yot_id
        return self

    def district_to_yot(self) -> dict[str, str]:
        return {d: yot_id for yot_id, yot in self.yots.items() for d in yot.postcode_districts}


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"invalid configuration in {path}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def load_config(path: str | os.PathLike[str] | None = None) -> SchemeConfig:
    """Load and validate the scheme configuration (explicit path, $DIVERSION_CONFIG, or the default)."""
    cfg_path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    try:
        raw = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {cfg_path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {cfg_path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"configuration file {cfg_path} must hold a mapping at the top level")
    try:
        return SchemeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(cfg_path, exc)) from None
