"""The compose stack's configuration: the shipped config/scheme.yaml with the records system
pointed at the SQL Server stand-in (FreeTDS driver, mssql dialect), validated before it is used.

Run by airflow-init: python docker/render_config.py OUT.yaml
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas.config import DEFAULT_CONFIG_PATH, load_config  # noqa: E402

RECORDS_SYSTEM = {"odbc_driver": "FreeTDS", "dialect": "mssql", "table": "stop_record"}


def render(source: Path, out: Path) -> Path:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["records_system"] |= RECORDS_SYSTEM
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text("# made by docker/render_config.py from config/scheme.yaml: edit that, not this\n"
                       + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    load_config(partial)  # a bad file fails airflow-init, not the first night
    partial.replace(out)
    return out


if __name__ == "__main__":
    print(render(DEFAULT_CONFIG_PATH, Path(sys.argv[1])))
