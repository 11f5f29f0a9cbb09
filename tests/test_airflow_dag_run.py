"""A real DAG run through Airflow itself (`airflow dags test`) against the demo world."""
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors import state_db as db
from demo.__main__ import DEMO_LOGICAL_DATE
from demo.stack import DemoStack

pytestmark = pytest.mark.airflow


def test_nightly_dag_runs_through_airflow():
    with DemoStack(Path(tempfile.mkdtemp(prefix="diversion-airflow-"))) as stack:
        migrate = stack.run_airflow("db", "migrate", log_name="migrate.log")
        assert migrate.returncode == 0, (stack.root / "migrate.log").read_text()[-3000:]
        result = stack.run_airflow("dags", "test", "diversion_nightly", DEMO_LOGICAL_DATE,
                                   log_name="dags-test.log")
        log = (stack.root / "dags-test.log").read_text(errors="replace")
        assert result.returncode == 0, log[-5000:]
        state = db.StateStore(stack.state_url)
        with state.engine.connect() as conn:
            runs = conn.execute(sa.select(db.runs.c.run_id, db.runs.c.night, db.runs.c.status)).all()
            escalated = {r for (r,) in conn.execute(sa.select(db.escalations.c.referral_ref))}
        assert [(str(night), status) for _, night, status in runs] == [("2026-11-24", "succeeded")]
        assert escalated == set(stack.world.truth["escalated_referral_refs"])
        assert len(stack.mail.messages()) >= 1
        # personal data never reaches the task logs: no child's name or date of birth
        logs = "".join(p.read_text(errors="replace") for p in (stack.root / "airflow" / "logs").rglob("*")
                       if p.is_file()) + log
        with state.engine.connect() as conn:
            people = conn.execute(sa.select(db.stops.c.surname, db.stops.c.date_of_birth).where(
                db.stops.c.surname.is_not(None))).all()
        leaked = [s for s, dob in people if f" {s} " in logs or (dob and str(dob) in logs)]
        assert not leaked, f"{len(leaked)} surnames or dates of birth found in logs"
