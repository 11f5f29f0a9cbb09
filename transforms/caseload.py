"""Read a YOT caseload export: bytes in, typed rows (with file and line) and reasons out.

Real exports arrive as UTF-8 with or without BOM, or Windows-1252, with CRLF line ends, quoted
fields and trailing blank lines; headers are matched case-insensitively after trimming.
"""
from __future__ import annotations

import csv
import io
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


def decode_export(data: bytes, file_name: str) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BatchRejected(f"{file_name}: not readable as UTF-8 or Windows-1252")


def read_export(data: bytes, file_name: str, settings: CaseloadSettings) -> pd.DataFrame:
    """Raw export rows under pipeline field names, with `source_line` (the row's first line)."""
    reader = csv.reader(io.StringIO(decode_export(data, file_name), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise BatchRejected(f"{file_name}: the file is empty") from None
    positions = {h.strip().lower(): i for i, h in enumerate(header)}
    missing = [col for col in settings.columns.values() if col.strip().lower() not in positions]
    if missing:
        raise BatchRejected(f"{file_name}: missing column(s): {', '.join(missing)}"
                            f" (found: {', '.join(h.strip() for h in header)})")
    records, lines = [], []
    line = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            if len(row) != len(header):
                row = (row + [""] * len(header))[:len(header)] if len(row) < len(header) else row
            records.append([row[positions[col.strip().lower()]] if positions[col.strip().lower()] < len(row)
                            else "" for col in settings.columns.values()])
            lines.append(line)
        line = reader.line_num + 1
    frame = pd.DataFrame(records, columns=list(settings.columns), dtype="str")
    frame["source_line"] = pd.Series(lines, dtype="int64")
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
    return typed, pd.concat(failures, ignore_index=True)


def validate_caseload(raw: pd.DataFrame, settings: CaseloadSettings, file_date: date) -> SplitBatch:
    typed, failures = type_caseload_rows(raw, settings)
    unreadable = pd.Index(failures["row"].unique())
    checked = contract_failures(typed.loc[~typed.index.isin(unreadable)], caseload_schema(file_date))
    batch = split_batch(raw, typed, pd.concat([failures, checked], ignore_index=True))
    batch.valid["source_line"] = raw.loc[batch.valid.index, "source_line"]
    return batch
