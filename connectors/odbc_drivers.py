"""A private ODBC driver list, so driver diagnostics never write personal data to disk.

Debian's /etc/odbcinst.ini turns on psqlODBC's CommLog, which writes every statement and its
results to a file in /tmp per connection. We point unixODBC (ODBCSYSINI) at our own copy of the
system list with logging forced off, before the first connection is made.
"""
from __future__ import annotations

import configparser
import os
import tempfile
from pathlib import Path

SYSTEM_ODBCINST = Path("/etc/odbcinst.ini")
_QUIET = {"commlog": "0", "debug": "0", "trace": "No"}


def private_driver_config(system_file: Path = SYSTEM_ODBCINST) -> str:
    """The system's driver list with every diagnostic log switched off."""
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # keep key case: unixODBC reads Driver=, Setup=
    if system_file.exists():
        parser.read(system_file, encoding="utf-8")
    for section in parser.sections():
        for key in list(parser[section]):
            if key.lower() in _QUIET:
                del parser[section][key]
        parser[section]["CommLog"] = "0"
        parser[section]["Debug"] = "0"
    lines = []
    for section in parser.sections():
        lines.append(f"[{section}]")
        lines.extend(f"{k}={v}" for k, v in parser[section].items())
        lines.append("")
    return "\n".join(lines)


def use_private_driver_config(directory: Path | None = None) -> Path:
    """Write the quiet driver list and point ODBCSYSINI at it (idempotent, per process)."""
    current = os.environ.get("ODBCSYSINI")
    if current and (Path(current) / "odbcinst.ini").exists() and os.environ.get("DIVERSION_ODBC_QUIET"):
        return Path(current)
    folder = directory or Path(tempfile.gettempdir()) / f"diversion-sync-odbc-{os.getuid()}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / "odbcinst.ini"
    text = private_driver_config()
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    os.environ["ODBCSYSINI"] = str(folder)
    os.environ["DIVERSION_ODBC_QUIET"] = "1"
    return folder
