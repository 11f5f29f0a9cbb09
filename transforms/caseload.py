"""Read a YOT caseload export: bytes in, typed rows (with file and line) and reasons out.

Real exports arrive as UTF-8 with or without BOM, or Windows-1252, with CRLF line ends, quoted
fields and trailing blank lines; headers are matched case-insensitively after trimming.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date

import pandas as pd

from schemas.caseload import caseload_schema
from schemas.config import Caseload as CaseloadSettings
from transforms.text import clean_text, map_codes, normalise_pnc_ids, normalise_postcodes
from transforms.validation import (BatchRejected, SplitBatch, contract_failures, parse_failures,
                                   split_batch)

DATE_FIELDS = ("date_of_birth", "referral_received", "first_contact", "assessment_date",
               "status_date")
COUNT_FIELDS = ("sessions_offered", "sessions_attended")
GENDER_CODES = {"m": "Male", "male": "Male", "f": "Female", "female": "Female", "other": "Other"}


BROKEN_LINE = "line has the wrong number of fields (truncated or broken)"
BAD_BYTES = "line is not valid UTF-8 (wrong encoding)"
_MULTIBYTE_UTF8 = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
_UNDECODED = re.compile("[\udc80-\udcff]")
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def decode_export(data: bytes, file_name: str) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM (Excel's "Unicode text"), else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise BatchRejected(f"{file_name}: unreadable: starts as UTF-16 but is not valid UTF-16") from None
    if b"\x00" in data[:4096]:
        raise BatchRejected(f"{file_name}: unreadable: NUL bytes (UTF-16 without a byte-order mark, "
                            "or not a text file); ask for UTF-8 CSV")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if _MULTIBYTE_UTF8.search(data):
        # UTF-8 with some lines in another encoding (pasted from elsewhere): keep the file, and let
        # read_export set aside the lines whose bytes are not UTF-8 (they carry surrogate escapes)
        return data.decode("utf-8-sig", errors="surrogateescape")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise BatchRejected(f"{file_name}: unreadable: neither UTF-8 nor Windows-1252") from None


def read_export(data: bytes, file_name: str, settings: CaseloadSettings) -> pd.DataFrame:
    """Raw export rows under pipeline field names, with `source_line` (the row's first line) and
    `line_problem` (why a line cannot be trusted, e.g. a truncated last line; else null).

    Problems of the whole file (empty, header only, missing columns, another delimiter,
    unreadable encoding) raise BatchRejected with one reason naming the file."""
    text = decode_export(data, file_name)
    mixed = _UNDECODED.search(text) is not None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise BatchRejected(f"{file_name}: the file is empty") from None
    positions = {h.strip().lower(): i for i, h in enumerate(header)}
    missing = [col for col in settings.columns.values() if col.strip().lower() not in positions]
    if missing:
        first = ",".join(header)
        expected = {col.strip().lower() for col in settings.columns.values()}
        for sep, name in _OTHER_DELIMITERS.items():
            if expected <= {cell.strip().strip('"').lower() for cell in first.split(sep)}:
                raise BatchRejected(f"{file_name}: columns are separated by {name}, not commas")
        raise BatchRejected(f"{file_name}: missing column(s): {', '.join(missing)}"
                            f" (found: {', '.join(h.strip() for h in header)})")
    wanted = [positions[col.strip().lower()] for col in settings.columns.values()]
    records, lines, problems, details = [], [], [], []
    line = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            problem = detail = None
            if len(row) != len(header):
                problem, detail = BROKEN_LINE, f"{len(row)} of {len(header)} fields"
            elif mixed and any(_UNDECODED.search(cell) for cell in row):
                problem, detail = BAD_BYTES, None
                row = [_UNDECODED.sub("\ufffd", cell) for cell in row]
            problems.append(problem)
            details.append(detail)
            records.append([row[i] if i < len(row) else "" for i in wanted])
            lines.append(line)
        line = reader.line_num + 1
    if not records:
        raise BatchRejected(f"{file_name}: header only, no caseload rows")
    frame = pd.DataFrame(records, columns=list(settings.columns), dtype="str")
    frame["source_line"] = pd.Series(lines, dtype="int64")
    frame["line_problem"] = pd.Series(problems, dtype="str")
    frame["line_detail"] = pd.Series(details, dtype="str")
    return frame


def type_caseload_rows(raw: pd.DataFrame, settings: CaseloadSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    typed = pd.DataFrame(index=raw.index)
    for field in ("case_id", "referral_ref", "forename", "surname"):
        typed[field] = clean_text(raw[field])
    typed["referral_ref"] = typed["referral_ref"].str.upper()
    typed["pnc_id"] = normalise_pnc_ids(raw["pnc_id"])
    typed["postcode"] = normalise_postcodes(raw["postcode"])
    failures = []
    gender = clean_text(raw["gender"])
    typed["gender"] = map_codes(gender, GENDER_CODES)
    failures.append(parse_failures(gender, typed["gender"], "gender", "gender is Male, Female or Other"))
    for field in DATE_FIELDS:
        text = clean_text(raw[field])
        typed[field] = pd.to_datetime(text, format=settings.date_format, errors="coerce").astype(
            "datetime64[us]")
        failures.append(parse_failures(text, typed[field], field, f"not a date ({settings.date_format})"))
    for field in COUNT_FIELDS:
        text = clean_text(raw[field])
        number = pd.to_numeric(text, errors="coerce")
        whole = number.where(number.isna() | (number == number.round()))
        typed[field] = whole.astype("Int64")
        failures.append(parse_failures(text, typed[field], field, "not a whole number"))
    status = clean_text(raw["status"])
    typed["status"] = map_codes(status, settings.statuses)
    failures.append(parse_failures(status, typed["status"], "status", "status is a known caseload status"))
    if "line_problem" in raw:  # absent for rows a person released: they have been looked at
        broken = raw["line_problem"].notna()
        failures.append(pd.DataFrame({"row": raw.index[broken], "field": None,
                                      "check": raw.loc[broken, "line_problem"].to_numpy(),
                                      "value": raw.loc[broken, "line_detail"].to_numpy()}))
    return typed, pd.concat(failures, ignore_index=True)


def validate_caseload(raw: pd.DataFrame, settings: CaseloadSettings, file_date: date) -> SplitBatch:
    typed, failures = type_caseload_rows(raw, settings)
    unreadable = pd.Index(failures["row"].unique())
    checked = contract_failures(typed.loc[~typed.index.isin(unreadable)], caseload_schema(file_date))
    batch = split_batch(raw, typed, pd.concat([failures, checked], ignore_index=True))
    batch.valid["source_line"] = raw.loc[batch.valid.index, "source_line"]
    return batch
