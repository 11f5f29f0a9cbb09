"""`make demo`: one real nightly run through Airflow against the demo world, then its summary."""
from __future__ import annotations

import json
import subprocess
import sys

import sqlalchemy as sa

from connectors import state_db as db
from demo.screenshot import screenshot
from demo.stack import DemoStack
from pipeline.context import PROJECT_ROOT
from pipeline.summary import format_summary, load_summary

# The scheduled run at 02:00 Europe/London on the morning after the demo night (GMT in November).
DEMO_LOGICAL_DATE = "2026-11-25T02:00:00+00:00"


def main() -> int:
    root = PROJECT_ROOT / "var" / "demo"
    print(f"diversion-sync demo: building the demo world in {root}")
    with DemoStack(root) as stack:
        truth = stack.world.truth
        print(f"  records system: {stack.world.records_db} ({truth['stops']} stops, SQLite through ODBC)")
        print(f"  SFTP server:    sshd on {stack.sshd.host}:{stack.sshd.port} (host key pinned)")
        print(f"  mail sink:      SMTP on {stack.mail.host}:{stack.mail.port}")
        for args, log in ((("db", "migrate"), "airflow-db-migrate.log"),
                          (("dags", "test", "diversion_nightly", DEMO_LOGICAL_DATE), "airflow-dags-test.log")):
            print(f"  airflow {' '.join(args)} ...", flush=True)
            result = stack.run_airflow(*args, log_name=log)
            if result.returncode != 0:
                tail = (stack.root / log).read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
                print("\n".join(tail), file=sys.stderr)
                print(f"demo failed: 'airflow {' '.join(args)}' exited {result.returncode}; "
                      f"full log: {stack.root / log}", file=sys.stderr)
                return 1
        state = db.StateStore(stack.state_url)
        summary = load_summary(state, night=stack.night)
        print()
        print(format_summary(summary))
        escalated = {r for (r,) in state.engine.connect().execute(sa.select(db.escalations.c.referral_ref)
                     .where(db.escalations.c.state.in_(["open", "notified", "acknowledged"])))}
        agree = escalated == set(truth["escalated_referral_refs"])
        print(f"\nescalated young people match the demo's ground truth: {'yes' if agree else 'NO'} "
              f"({len(escalated)} escalated, {len(truth['escalated_referral_refs'])} expected)")
        reports = sorted((stack.data_dir / "reports").rglob("*.*"))
        print("\nreports written:")
        for path in reports:
            print(f"  {path}")
        shots = []
        for html in sorted((stack.data_dir / "reports").rglob("exceptions_*.html")):
            try:
                shots.append(screenshot(html, stack.root / "screenshots" / html.with_suffix(".png").name))
            except (FileNotFoundError, OSError, subprocess.SubprocessError) as exc:
                print(f"  (no screenshot of {html.name}: {exc})")
        if shots:
            print("screenshots of the reports (headless Chromium):")
            for path in shots:
                print(f"  {path}")
        print("messages in the mail sink:")
        for path in stack.mail.paths():
            print(f"  {path}")
        print(f"\nground truth: {stack.world.truth_path}\nAirflow log: {stack.root / 'airflow-dags-test.log'}")
        (stack.root / "demo_summary.json").write_text(json.dumps(summary, indent=1, default=str))
        return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
