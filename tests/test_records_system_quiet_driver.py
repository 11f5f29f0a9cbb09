"""psqlODBC's CommLog (on in Debian's driver list) opens a log file per connection in /tmp, into
which it writes statements and errors. The connector's private driver list keeps it off, so no
file is made at all: checked in child processes, since unixODBC reads the list once per process."""
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import os, sys
    if sys.argv[1] == "private":
        from connectors.odbc_drivers import use_private_driver_config
        use_private_driver_config()
    import pyodbc
    conn = pyodbc.connect(sys.argv[2])
    conn.cursor().execute("SELECT ?", sys.argv[3]).fetchall()
    conn.close()
    print(os.getpid())
""")


def _statement_logs(driver_list: str, db: dict, token: str) -> list[Path]:
    env = {k: v for k, v in os.environ.items() if k not in ("ODBCSYSINI", "DIVERSION_ODBC_QUIET")}
    conn_str = (f"DRIVER={{PostgreSQL Unicode}};Server={db['host']};Port={db['port']};Database=postgres;"
                f"Uid={db['user']};Pwd=;")
    out = subprocess.run([sys.executable, "-c", CHILD, driver_list, conn_str, token], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    pid = out.stdout.strip()
    return [p for p in Path(tempfile.gettempdir()).glob(f"*{pid}*.log")] + list(Path("/tmp").glob(f"*{pid}*.log"))


def test_private_driver_list_writes_no_statement_log(postgres_server):
    logs = _statement_logs("private", postgres_server, "Nic Dhòmhnaill 2009-05-04")
    assert logs == []


def test_the_system_driver_list_would_have_opened_a_log(postgres_server):
    """The check above can fail: with Debian's list the same connection opens a log file."""
    if "CommLog=1" not in Path("/etc/odbcinst.ini").read_text():
        return  # a driver list without CommLog: nothing to show
    logs = _statement_logs("system", postgres_server, "TOKEN-Dhomhnaill")
    try:
        assert logs
    finally:
        for p in set(logs):
            p.unlink(missing_ok=True)
