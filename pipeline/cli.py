"""`diversion-sync`: small operator commands that need no Airflow (check the config, show a night)."""
from __future__ import annotations

import argparse
import sys
from datetime import date

from connectors.state_db import StateStore
from pipeline.summary import format_summary, load_summary
from schemas.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diversion-sync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate the scheme configuration")
    check.add_argument("--config", help="path (default: $DIVERSION_CONFIG or config/scheme.yaml)")
    show = sub.add_parser("summary", help="print the summary of a night's newest successful run")
    show.add_argument("--state-url", required=True, help="SQLAlchemy URL of the state database")
    show.add_argument("--night", type=date.fromisoformat, help="YYYY-MM-DD (default: newest run)")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"configuration valid: {len(config.areas)} areas, {len(config.yots)} YOTs, "
              f"{len(config.supervisor_groups)} supervisor groups, rules {config.scheme.rule_version}")
        return 0
    try:
        summary = load_summary(StateStore(args.state_url), night=args.night)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
