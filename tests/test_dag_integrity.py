"""Every DAG file imports cleanly in a fresh process, has no cycles, and Airflow reports no errors."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
DAGS = sorted((PROJECT / "dags").glob("*.py"))
EXPECTED_TASKS = ["wait_for_earlier_nights", "plan", "extract_stops", "validate_stops", "decide_referrals", "upload_referrals",
                  "fetch_caseloads", "validate_caseloads", "match_referrals", "assess_engagement", "update_escalations",
                  "send_reports", "finish_run", "send_backfill_digest"]


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    return os.environ | {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
                         "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                         "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}


@pytest.mark.parametrize("dag_file", DAGS, ids=lambda p: p.name)
def test_dag_file_imports_in_a_clean_process(dag_file, airflow_env):
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('d', sys.argv[1]);"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
            "heavy = [x for x in ('pandas', 'pandera', 'pyodbc', 'paramiko') if x in sys.modules];"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code, str(dag_file)], env=airflow_env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HEAVY ['pandas'" not in out.stdout and "'pandera'" not in out.stdout, (
        "DAG parsing must not import heavy libraries")


def test_dagbag_has_no_import_errors_and_no_cycles(airflow_env, monkeypatch):
    for key in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__LOAD_EXAMPLES"):
        monkeypatch.setenv(key, airflow_env[key])
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["diversion_nightly"]
    order = [t.task_id for t in dag.topological_sort()]
    assert order == EXPECTED_TASKS
    assert set(bag.dags) == {"diversion_nightly", "diversion_watchdog", "diversion_retention"}
    from pipeline.alerts import TaskFailureAlert
    for one in bag.dags.values():
        assert all(t.retries >= 1 for t in one.tasks), one.dag_id
        assert all(isinstance(cb, TaskFailureAlert) for t in one.tasks for cb in (
            t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback])), one.dag_id


def test_airflow_list_import_errors_reports_nothing(airflow_env):
    airflow = Path(sys.executable).with_name("airflow")
    migrate = subprocess.run([str(airflow), "db", "migrate"], env=airflow_env, capture_output=True,
                             text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    out = subprocess.run([str(airflow), "dags", "list-import-errors", "-l"], env=airflow_env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Traceback" not in out.stdout
    assert "No data found" in out.stdout or "diversion_nightly" not in out.stdout
