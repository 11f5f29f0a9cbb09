"""The outside world a run talks to, built from Airflow connections or given directly (tests, CLI)."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.mail import SmtpMailer
from connectors.records_system import RecordsSystem
from connectors.state_db import StateStore
from pipeline.context import data_dir
from schemas.config import SchemeConfig, load_config

SftpOpener = Callable[[str], AbstractContextManager[Any]]  # yot_id -> paramiko SFTPClient


@dataclass
class Resources:
    config: SchemeConfig
    state: StateStore
    records: RecordsSystem
    open_sftp: SftpOpener
    mailer: SmtpMailer
    data_dir: Path
    actor: str = "diversion-sync"


def state_url_from_airflow(conn_id: str) -> str:
    """A SQLAlchemy URL from an Airflow connection: extra `sqlalchemy_url`, or a postgres conn."""
    from airflow.sdk import BaseHook
    conn = BaseHook.get_connection(conn_id)
    url = conn.extra_dejson.get("sqlalchemy_url")
    if url:
        return url
    import sqlalchemy as sa
    return sa.URL.create("postgresql+psycopg", username=conn.login, password=conn.password,
                         host=conn.host, port=conn.port, database=conn.schema).render_as_string(
                             hide_password=False)


def airflow_resources(config: SchemeConfig | None = None) -> Resources:
    """Everything from Airflow connections named in the configuration; no secret in code."""
    from connectors.yot_sftp import open_sftp_from_airflow
    config = config or load_config()
    conns = config.connections
    return Resources(
        config=config,
        state=StateStore(state_url_from_airflow(conns.state_database)),
        records=RecordsSystem.from_airflow(conns.records_system, config.records_system),
        open_sftp=lambda yot_id: open_sftp_from_airflow(config.yots[yot_id].sftp_connection),
        mailer=SmtpMailer.from_airflow(conns.smtp),
        data_dir=data_dir(),
        actor="diversion-sync (Airflow)",
    )
