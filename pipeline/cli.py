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
    nights = sub.add_parser("nights", help="the last nights' runs as a table: counts, durations, warnings")
    nights.add_argument("--state-url", required=True, help="SQLAlchemy URL of the state database")
    nights.add_argument("--last", type=int, default=7, help="how many nights (default 7)")
    resend = sub.add_parser("resend-report", help="send a report again, exactly as sent, and log the disclosure")
    resend.add_argument("--state-url", required=True, help="SQLAlchemy URL of the state database")
    resend.add_argument("--data-dir", required=True, help="the pipeline's data folder (reports/ is inside)")
    resend.add_argument("--night", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    resend.add_argument("--report", required=True, help="the report's key: a supervisor group id, or e.g. stale-yots")
    resend.add_argument("--requested-by", required=True, help="who asked (goes in the disclosure log)")
    resend.add_argument("--reason", required=True, help="why (goes in the disclosure log)")
    resend.add_argument("--to", nargs="+", help="other recipients (default: the original ones)")
    resend.add_argument("--smtp-conn-id", help="Airflow SMTP connection (default: the scheme's)")
    args = parser.parse_args(argv)
    if args.command == "resend-report":
        from pathlib import Path
        from connectors.mail import SmtpMailer
        from pipeline.resend import resend_report
        conn_id = args.smtp_conn_id or load_config().connections.smtp
        try:
            sent_to = resend_report(StateStore(args.state_url), SmtpMailer.from_airflow(conn_id),
                                    Path(args.data_dir) / "reports", args.night, args.report,
                                    requested_by=args.requested_by, reason=args.reason, to=args.to)
        except FileNotFoundError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"re-sent {args.report} for {args.night} to {', '.join(sent_to)}")
        return 0
    if args.command == "nights":
        from pipeline.operations import format_nights, last_nights
        print(format_nights(last_nights(StateStore(args.state_url), last=args.last)))
        return 0
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
