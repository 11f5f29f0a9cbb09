"""A real Airflow deployment on this machine for the demo world: metadata in PostgreSQL, the
LocalExecutor, and the api-server, scheduler and dag-processor as separate processes, as a
production install runs them (docker-compose.yml scales the same shape out with Celery).

Used by the backfill test; `use_job_schedule` is off so that only the runs asked for are run.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

from demo.stack import DemoStack

SERVICES = ("api-server", "scheduler", "dag-processor")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowServices:
    """`with AirflowServices(stack, metadata_url) as airflow:` migrates, starts, and stops on exit."""

    def __init__(self, stack: DemoStack, metadata_url: str, *, parallelism: int = 2) -> None:
        if not metadata_url.startswith("postgresql+psycopg://"):
            raise ValueError("the metadata database URL must be postgresql+psycopg://...")
        self.stack = stack
        self.port = _free_port()
        self.env = os.environ | stack.airflow_env() | {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url.replace("+psycopg://", "+psycopg_async://"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        }
        self.airflow = str(Path(sys.executable).with_name("airflow"))
        self._procs: list[subprocess.Popen] = []

    def cli(self, *args: str, log_name: str, check: bool = True) -> str:
        """Run an `airflow` command against this deployment; its output also goes to a log file."""
        result = subprocess.run([self.airflow, *args], env=self.env, cwd=self.stack.root,
                                capture_output=True, text=True, check=False)
        (self.stack.root / log_name).write_text(result.stdout + result.stderr, encoding="utf-8")
        if check and result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited {result.returncode}:\n"
                               + (result.stdout + result.stderr)[-3000:])
        return result.stdout

    def __enter__(self) -> "AirflowServices":
        self.cli("db", "migrate", log_name="airflow-db-migrate.log")
        try:
            for name in SERVICES:
                log = open(self.stack.root / f"airflow-{name}.log", "w", encoding="utf-8")
                self._procs.append(subprocess.Popen(
                    [self.airflow, name], env=self.env, cwd=self.stack.root, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
                log.close()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        self._procs.clear()

    def _alive(self) -> None:
        for name, proc in zip(SERVICES, self._procs):
            if proc.poll() is not None:
                tail = (self.stack.root / f"airflow-{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {name} exited {proc.returncode}:\n{tail}")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has parsed the DAG; then make sure it is not paused."""
        deadline = time.monotonic() + timeout
        while True:
            self._alive()
            result = subprocess.run([self.airflow, "dags", "list", "-o", "json"], env=self.env,
                                    cwd=self.stack.root, capture_output=True, text=True)
            listed = [line for line in result.stdout.splitlines() if line.startswith("[")]
            if listed and any(d["dag_id"] == dag_id for d in json.loads(listed[-1])):
                self.cli("dags", "unpause", dag_id, log_name="airflow-unpause.log")
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} not parsed within {timeout} s: {result.stderr[-2000:]}")
            time.sleep(3)

    def runs(self, dag_id: str) -> list[dict]:
        out = self.cli("dags", "list-runs", dag_id, "-o", "json", log_name="airflow-list-runs.log")
        lines = [line for line in out.splitlines() if line.startswith("[")]  # past any log lines
        return json.loads(lines[-1]) if lines else []

    def wait_for_runs(self, dag_id: str, count: int, timeout: float = 1200) -> list[dict]:
        """Until `count` runs of the DAG have finished (succeeded or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            self._alive()
            runs = self.runs(dag_id)
            done = [r for r in runs if r["state"] in ("success", "failed")]
            if len(done) >= count:
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(done)} of {count} runs finished within {timeout} s: {runs}")
            time.sleep(5)
