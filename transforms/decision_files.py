"""Decision files people send back to the pipeline as CSV: supervisors' acknowledgements and
analysts' match reviews. One strict reader for both.

Strict: a missing column, a blank required value, a value outside its list or an unreadable date
rejects the whole file with the file, line and field named, so a person's decision is never
silently dropped. Blank lines are skipped. Header names are matched trimmed and case-insensitively;
extra columns are ignored. Error messages never repeat a cell's value (a misplaced column may
hold a name), so they may be logged.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date


def read_decision_rows(data: bytes, file_name: str, *, required_columns: Sequence[str],
                       required_values: Sequence[str], choices: Mapping[str, Sequence[str]],
                       dates: Sequence[str], error: type[ValueError],
                       casefold: Sequence[str] = ()) -> list[tuple[int, dict[str, object]]]:
    """(line number, row) for each non-blank row, values trimmed, dates parsed, choices checked.

    `casefold` fields are lower-cased before their choice is checked. Raises `error` naming the
    file (and line and field) on the first problem.
    """
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or []) if h]
    missing = [c for c in required_columns if c not in header]
    if missing:
        raise error(f"{file_name}: missing column(s): {', '.join(missing)}")
    rows: list[tuple[int, dict[str, object]]] = []
    for record in reader:
        line = reader.line_num
        rec: dict[str, object] = {k.strip().lower(): (v or "").strip() for k, v in record.items() if k}
        if not any(rec.values()):
            continue
        for field in required_values:
            if not rec.get(field):
                raise error(f"{file_name}, line {line}, {field}: required value is blank")
        for field, allowed in choices.items():
            value = str(rec.get(field, ""))
            rec[field] = value.lower() if field in casefold else value
            if rec[field] not in allowed:
                raise error(f"{file_name}, line {line}, {field}: not one of {', '.join(allowed)}"
                            + (" (blank)" if not value else ""))  # the value is not echoed: it may be personal
        for field in dates:
            try:
                rec[field] = date.fromisoformat(str(rec.get(field, "")))
            except ValueError:
                raise error(f"{file_name}, line {line}, {field}: not a date (YYYY-MM-DD)") from None
        rows.append((line, rec))
    return rows
