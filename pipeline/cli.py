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
    upgrade = sub.add_parser("upgrade-state", help="apply the state database's schema migrations now "
                                                   "(every night's first step does it too)")
    target = upgrade.add_mutually_exclusive_group(required=True)
    target.add_argument("--state-url", help="SQLAlchemy URL of the state database")
    target.add_argument("--from-airflow", action="store_true",
                        help="the state database of the scheme's Airflow connection (connections.state_database)")
    _add_quarantine_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "upgrade-state":
        from connectors.state_db import StateSchemaError
        if args.from_airflow:
            from pipeline.resources import state_url_from_airflow
            args.state_url = state_url_from_airflow(load_config().connections.state_database)
        try:
            print(f"state database at schema revision {StateStore(args.state_url).migrate()}")
        except StateSchemaError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    if args.command == "quarantine":
        return _quarantine_command(args)
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


def _add_quarantine_commands(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("quarantine", help="list held rows, release them for the next run, or discard them")
    qsub = q.add_subparsers(dest="action", required=True)
    listing = qsub.add_parser("list", help="held rows with their reasons (keys only, never values)")
    listing.add_argument("--status", default="held", help="held, released, processed, discarded or all")
    for name, text in (("release", "check these rows again in the next run (optionally corrected)"),
                       ("discard", "never process these rows; their values are erased now")):
        p = qsub.add_parser(name, help=text)
        keys = p.add_mutually_exclusive_group(required=True)
        keys.add_argument("--key", nargs="+", help="source keys as `quarantine list` shows them")
        keys.add_argument("--all", action="store_true", help="every held row of the source")
        p.add_argument("--by", required=True, help="who decides (goes in the audit log)")
        p.add_argument("--note", required=True, help="why (goes in the audit log)")
        if name == "release":
            p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                           help="corrected values (logged as an alteration; values are not logged)")
    for p in (listing, *qsub.choices.values()):
        if "--state-url" not in p._option_string_actions:
            p.add_argument("--state-url", required=True, help="SQLAlchemy URL of the state database")
            p.add_argument("--source", required=p is not listing,
                           help="records_system or caseload:<yot id>")


def _quarantine_command(args: argparse.Namespace) -> int:
    from pipeline import quarantine
    from transforms.validation import describe_reasons
    state = StateStore(args.state_url)
    state.migrate()
    if args.action == "list":
        rows = quarantine.held_rows(state, args.source, None if args.status == "all" else args.status)
        for row in rows.itertuples():
            print(f"{row.source}\t{row.source_key}\t{row.status}\t{describe_reasons(row.reasons)}")
        print(f"{len(rows)} row(s)")
        return 0
    keys = args.key or list(quarantine.held_rows(state, args.source)["source_key"])
    decision = quarantine.Decision(by=args.by, note=args.note)
    try:
        if args.action == "release":
            bad = [item for item in args.set if "=" not in item]
            if bad:
                print(f"--set takes FIELD=VALUE, not: {', '.join(bad)}", file=sys.stderr)
                return 2
            corrections = dict(item.split("=", 1) for item in args.set)
            done = quarantine.release(state, args.source, keys, decision, corrections)
        else:
            done = quarantine.discard(state, args.source, keys, decision)
    except quarantine.QuarantineError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.action}d {done} row(s) of {args.source}"
          + (": the next run checks them again" if args.action == "release" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
