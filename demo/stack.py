"""The demo world running: records database, a real sshd holding the YOT exports, a mail sink.

Used by `make demo` and by the end-to-end tests, so both exercise the same world. It gives the
world to Airflow as connections in AIRFLOW_CONN_* variables (as a deployment would give them in
its secrets backend), or builds the pipeline's resources directly for runs without Airflow.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from connectors.mail import SmtpMailer, airflow_smtp_connection_json
from connectors.records_system import RecordsSystem
from connectors.state_db import StateStore
from connectors.yot_sftp import SftpEndpoint, airflow_connection_json, open_sftp
from demo.mailsink import MailSink
from demo.sshd import PrivateSshd
from demo.world import DEMO_NIGHT, DEMO_SEED, DemoWorld, generate_world
from pipeline.context import PROJECT_ROOT
from pipeline.resources import Resources
from schemas.config import SchemeConfig, load_config


def _env_name(conn_id: str) -> str:
    return "AIRFLOW_CONN_" + conn_id.upper()


class DemoStack:
    """Start with `with DemoStack(root) as stack:`; everything stops and stays on disk after."""

    def __init__(self, root: Path, config: SchemeConfig | None = None, *, night: date = DEMO_NIGHT,
                 seed: int = DEMO_SEED, state_url: str | None = None) -> None:
        self.root = root.resolve()
        self._state_url = state_url
        self.config = config or load_config()
        self.night = night
        self.seed = seed
        self._stack = ExitStack()
        self.world: DemoWorld
        self.sshd: PrivateSshd
        self.mail: MailSink

    def __enter__(self) -> "DemoStack":
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        try:
            self.sshd = self._stack.enter_context(PrivateSshd(self.root / "sshd"))
            self.mail = self._stack.enter_context(MailSink(self.root / "mail"))
            self.world = generate_world(self.root / "world", self.config, night=self.night,
                                        seed=self.seed, sftp_root=self.sshd.sftp_root)
            self._pin_mtimes()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # --- paths -----------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def state_url(self) -> str:
        """The state database: a SQLite file in the data folder unless a URL was given."""
        return self._state_url or f"sqlite:///{self.data_dir / 'state.db'}"

    @property
    def records_connection_string(self) -> str:
        return f"DRIVER={{{self.config.records_system.odbc_driver}}};Database={self.world.records_db};"

    def endpoint(self) -> SftpEndpoint:
        return SftpEndpoint(host=self.sshd.host, port=self.sshd.port, username=self.sshd.username,
                            private_key_path=str(self.sshd.client_key_path),
                            host_key=self.sshd.host_public_key, known_hosts_path=None)

    def _pin_mtimes(self) -> None:
        """Exports dated 01:30 UTC after the night, so two builds of the world are identical."""
        stamp = datetime.combine(self.night + timedelta(days=1), time(1, 30), tzinfo=timezone.utc).timestamp()
        for path in self.world.sftp_root.rglob("*"):
            if path.is_file():
                os.utime(path, (stamp, stamp))

    def repeat_exports(self, nights) -> None:
        """Each YOT's demo-night export also under the names of other nights (for multi-night runs)."""
        for yot_id, yot in self.config.yots.items():
            source = self.world.sftp_root / yot.export_dir / self.config.caseload.file_name(yot_id, self.night)
            if not source.exists():
                continue
            companions = [p for p in source.parent.iterdir() if p.name.startswith(source.name + ".")]
            for night in nights:
                target = source.with_name(self.config.caseload.file_name(yot_id, night))
                if target == source:
                    continue
                shutil.copy2(source, target)
                for companion in companions:  # .sha256 / .done files name the export they go with
                    twin = target.with_name(target.name + companion.name[len(source.name):])
                    twin.write_bytes(companion.read_bytes().replace(source.name.encode(), target.name.encode()))
                    shutil.copystat(companion, twin)

    # --- the pipeline's view ---------------------------------------------------------------
    def resources(self) -> Resources:
        """Resources for a run without Airflow (same world, same connectors)."""
        endpoint = self.endpoint()
        return Resources(
            config=self.config, state=StateStore(self.state_url),
            records=RecordsSystem.from_connection_string(self.records_connection_string,
                                                         self.config.records_system, "demo records system"),
            open_sftp=lambda _yot_id: open_sftp(endpoint),
            mailer=SmtpMailer.direct(self.mail.host, self.mail.port),
            data_dir=self.data_dir, actor="diversion-sync (demo)")

    def airflow_env(self) -> dict[str, str]:
        """Environment for an Airflow process: its home, the DAG folder and every connection."""
        conns = self.config.connections
        airflow_home = self.root / "airflow"
        airflow_home.mkdir(exist_ok=True)
        env = {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "DIVERSION_DATA_DIR": str(self.data_dir),
            _env_name(conns.records_system): json.dumps({
                "conn_type": "odbc", "schema": str(self.world.records_db)}),
            _env_name(conns.state_database): json.dumps({
                "conn_type": "generic", "extra": {"sqlalchemy_url": self.state_url}}),
            _env_name(conns.smtp): airflow_smtp_connection_json(self.mail.host, self.mail.port),
        }
        sftp_json = airflow_connection_json(self.endpoint())
        for yot in self.config.yots.values():
            env[_env_name(yot.sftp_connection)] = sftp_json
        return env

    def run_airflow(self, *args: str, log_name: str) -> subprocess.CompletedProcess:
        """Run the `airflow` command of this interpreter's environment with the demo's setup."""
        airflow = Path(sys.executable).with_name("airflow")
        log_path = self.root / log_name
        with open(log_path, "w", encoding="utf-8") as log:
            return subprocess.run([str(airflow), *args], env=os.environ | self.airflow_env(),
                                  stdout=log, stderr=subprocess.STDOUT, cwd=self.root, check=False)
