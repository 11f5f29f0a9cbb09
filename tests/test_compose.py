"""docker-compose.yml, checked offline (no Docker engine here): Debian's docker-compose validates
it against the compose schema and its depends_on names, and the structure is checked against
what the DAG needs: every connection it opens, one image and configuration for every Airflow
service, CeleryExecutor on PostgreSQL metadata with a Redis broker, and the outside world's stand-ins.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from schemas.config import load_config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}
CONN_TYPES = {"records_system": {"odbc"}, "state_database": {"postgres", "generic"}, "smtp": {"smtp"}}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env_example() -> dict[str, str]:
    lines = [ln for ln in ENV_EXAMPLE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, enough to read the connections."""
    def one(m: re.Match) -> str:
        name, op, rest = m.group(1), m.group(2), m.group(3)
        if name in env:
            return env[name]
        if op == ":-":
            return rest
        raise KeyError(f"{name} is not set")
    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", one, text)


def _airflow_services(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if n.startswith("airflow-")}


def _docker_compose(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: run scripts/install-system-packages.sh")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_docker_compose_validates_the_file():
    done = _docker_compose("--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q")
    assert done.returncode == 0, done.stderr


def test_the_validator_catches_an_unknown_dependency_and_a_missing_secret(tmp_path, compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-scheduler"]["depends_on"]["records-sytem"] = {"condition": "service_healthy"}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    done = _docker_compose("--env-file", str(ENV_EXAMPLE), "config", "-q", cwd=tmp_path)
    assert done.returncode != 0 and "records-sytem" in done.stderr
    partial = tmp_path / "partial.env"
    partial.write_text("\n".join(ln for ln in ENV_EXAMPLE.read_text().splitlines()
                                 if not ln.startswith("MSSQL_SA_PASSWORD=")))
    done = _docker_compose("--env-file", str(partial), "-f", str(COMPOSE), "config", "-q")
    assert done.returncode != 0 and "MSSQL_SA_PASSWORD" in done.stderr


def test_every_dependency_exists_and_waits_on_a_health_or_completion(compose):
    services = compose["services"]
    for name, service in services.items():
        for dep, how in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = how["condition"]
            assert condition in ("service_healthy", "service_completed_successfully"), (name, dep)
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"


def test_airflow_services_share_one_image_and_configuration(compose):
    airflow = _airflow_services(compose)
    commands = {" ".join(s["command"]) if isinstance(s["command"], list) else s["command"]
                for n, s in airflow.items() if n != "airflow-init"}
    assert commands == AIRFLOW_COMMANDS
    assert {s["image"] for s in airflow.values()} == {"diversion-sync:latest"}
    assert {s["build"] for s in airflow.values()} == {"."}
    common = airflow["airflow-scheduler"]["environment"]
    for name, service in airflow.items():
        assert service["environment"].items() >= common.items(), f"{name} has its own configuration"
        assert service["volumes"] == airflow["airflow-scheduler"]["volumes"], name
    worker_deps = set(airflow["airflow-worker"]["depends_on"])
    assert {"records-system-seed", "sftp", "mailpit", "airflow-init"} <= worker_deps


def test_celery_on_postgres_metadata_with_a_redis_broker(compose):
    env, services = compose["services"]["airflow-scheduler"]["environment"], compose["services"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert services["redis"]["image"].startswith("redis:")


def test_every_connection_the_dag_opens_is_defined(compose):
    config, env_file = load_config(), _env_example()
    env = compose["services"]["airflow-worker"]["environment"]
    wanted = {getattr(config.connections, k): CONN_TYPES[k] for k in CONN_TYPES}
    wanted |= {yot.sftp_connection: {"sftp"} for yot in config.yots.values()}
    for conn_id, types in wanted.items():
        key = f"AIRFLOW_CONN_{conn_id.upper()}"
        assert key in env, f"{key} is missing"
        conn = json.loads(_interpolate(env[key], env_file))
        assert conn["conn_type"] in types, key
        assert conn.get("host"), key
        if "sftp" in types:  # the host key is pinned, never skipped
            extra = conn["extra"]
            assert extra["host_key"].startswith("ssh-ed25519 ") and extra["key_file"]
            assert not extra.get("no_host_key_check") and not extra.get("allow_host_key_change")
    assert not [k for k in env if k.startswith("AIRFLOW_CONN_") and k[len("AIRFLOW_CONN_"):].lower() not in wanted]


def test_secrets_come_only_from_the_env_file(compose):
    text, env_file = COMPOSE.read_text(), _env_example()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required and required <= set(env_file), required - set(env_file)
    assert all("change-me" in v.lower() for k, v in env_file.items() if k in required)
    env = compose["services"]["airflow-worker"]["environment"]
    for key, value in env.items():
        for secret in re.findall(r'"password":\s*"([^"]*)"', value):
            assert secret.startswith("${"), f"{key} holds a literal password"
        if re.search(r"PASSWORD|SECRET|FERNET", key):
            assert value.startswith("${"), key
    assert "airflow:${AIRFLOW_DB_PASSWORD" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    tracked = subprocess.run(["git", "ls-files", ".env", "docker/secrets"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert tracked in ([], ["docker/secrets/.gitignore"])


def test_the_outside_world_stand_ins(compose):
    services = compose["services"]
    assert services["records-system"]["image"].startswith("mcr.microsoft.com/mssql/server:")
    assert services["sftp"]["image"].startswith("atmoz/sftp")
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    smtp = json.loads(_interpolate(services["airflow-worker"]["environment"]["AIRFLOW_CONN_DIVERSION_SMTP"], {}))
    assert (smtp["host"], smtp["port"]) == ("mailpit", 1025)
    for service in services.values():  # every bind-mounted project file is there (keys are made locally)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and "/secrets/" not in source:
                assert (ROOT / source).is_file(), source


def test_the_stops_table_matches_the_configured_columns():
    sql = (ROOT / "docker/mssql/init.sql").read_text()
    body = re.search(r"CREATE TABLE dbo\.(\w+) \((.*?)\n\);", sql, re.S)
    config = load_config().records_system
    assert body.group(1) == config.table
    columns = [ln.split()[0] for ln in body.group(2).strip().splitlines()]
    assert sorted(columns) == sorted(config.columns.values())
    assert "GRANT SELECT ON dbo.stop_record TO diversion_reader" in sql


def test_the_image_is_the_pinned_airflow_with_the_records_system_driver():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert f"FROM apache/airflow:{pinned}-python3.11" in dockerfile
    assert "tdsodbc" in dockerfile and "constraints.txt" in dockerfile
    copied = set(re.findall(r"^COPY --chown=\S+ (.+?) \S+$", dockerfile, re.M))
    assert not [c for c in copied if c.split()[0] in (".", "docker", "var", ".env")]  # no secrets, no .venv
    for package in ("connectors", "transforms", "schemas", "pipeline", "demo", "dags", "config"):
        assert package in copied, package


def test_the_rendered_configuration_reads_sql_server(tmp_path):
    out = subprocess.run([str(ROOT / ".venv/bin/python"), str(ROOT / "docker/render_config.py"),
                          str(tmp_path / "scheme.yaml")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rendered = load_config(tmp_path / "scheme.yaml")
    assert (rendered.records_system.dialect, rendered.records_system.odbc_driver) == ("mssql", "FreeTDS")
    assert rendered.yots == load_config().yots


def test_the_sftp_stand_in_is_seeded_with_each_yots_export(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "docker"))
    try:
        from seed_yot_drops import seed
    finally:
        sys.path.remove(str(ROOT / "docker"))
    files = seed(tmp_path)
    config = load_config()
    from demo.world import DEMO_NIGHT, STALE_YOT
    for yot_id, yot in config.yots.items():
        export = tmp_path / yot.export_dir / config.caseload.file_name(yot_id, DEMO_NIGHT)
        assert export.is_file() == (yot_id != STALE_YOT), yot_id
    assert files and all(f.is_relative_to(tmp_path) for f in files)
