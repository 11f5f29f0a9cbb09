"""Reading YOT caseload exports as they really arrive: encodings, line ends, quoting, blank lines,
and the whole-file problems that set a file aside with one clear reason."""
from datetime import date

import pytest

from schemas.config import load_config
from transforms.caseload import BAD_BYTES, BROKEN_LINE, read_export, validate_caseload
from transforms.validation import BatchRejected

SETTINGS = load_config().caseload
HEADER = list(SETTINGS.columns.values())
NIGHT = date(2026, 3, 10)


def row(case_id="YC1", forename="Zoë", surname="O'Brien", **extra) -> dict:
    values = {"YOT Case ID": case_id, "Police Referral Ref": "", "PNC ID": "", "Forename": forename,
              "Surname": surname, "Date of Birth": "04/05/2010", "Gender": "F", "Postcode": "RG1 1AA",
              "Referral Received": "01/03/2026", "First Contact": "", "Assessment Date": "",
              "Sessions Offered": "", "Sessions Attended": "", "Status": "Referred", "Status Date": ""}
    return values | extra


def export(*rows: dict, header=HEADER, sep=",", end="\r\n") -> str:
    def cell(v: str) -> str:
        return f'"{v.replace(chr(34), 2 * chr(34))}"' if any(c in v for c in f'{sep}"\r\n') else v
    lines = [sep.join(header)] + [sep.join(cell(r[h]) for h in HEADER) for r in rows]
    return end.join(lines) + end


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_each_encoding_real_exports_use_reads_the_same_names(encoding):
    frame = read_export(export(row(), row("YC2", "Siân", "Nic Dhòmhnaill")).encode(encoding), "f.csv", SETTINGS)
    assert list(frame["forename"]) == ["Zoë", "Siân"]
    assert list(frame["surname"]) == ["O'Brien", "Nic Dhòmhnaill"]
    assert frame["line_problem"].isna().all()


def test_quoted_newlines_and_commas_blank_lines_and_loose_headers():
    header = [f"  {h.upper()} " for h in HEADER]
    text = export(row(surname="Smith,\nJones"), row("YC2"), header=header, end="\n") + "\r\n\r\n  \r\n"
    frame = read_export(text.encode(), "f.csv", SETTINGS)
    assert list(frame["surname"]) == ["Smith,\nJones", "O'Brien"]
    assert list(frame["source_line"]) == [2, 4], "a row's line is the line it starts on"
    batch = validate_caseload(frame, SETTINGS, NIGHT)
    assert len(batch.valid) == 2


@pytest.mark.parametrize("data, reason", [
    (b"", "the file is empty"),
    (export().encode(), "header only, no caseload rows"),
    (export(row(), sep=";").encode(), "separated by semicolons, not commas"),
    (export(row(), sep="\t").encode(), "separated by tabs, not commas"),
    (export(row(), header=[h if h != "Status" else "State" for h in HEADER]).encode(),
     "missing column(s): Status"),
    (export(row()).encode("utf-16-le"), "unreadable: NUL bytes"),
    (b"\xff\xfe\x00\xd8", "unreadable: starts as UTF-16"),
])
def test_whole_file_problems_give_one_reason_naming_the_file(data, reason):
    with pytest.raises(BatchRejected) as caught:
        read_export(data, "caseload_reading_20260310.csv", SETTINGS)
    assert str(caught.value).startswith("caseload_reading_20260310.csv: ")
    assert reason in str(caught.value)


def test_a_truncated_last_line_is_quarantined_not_padded():
    text = export(row(), row("YC2"))
    truncated = text[: text.rindex("RG1 1AA") + 3]  # cut mid-row, as a transfer that stopped would
    batch = validate_caseload(read_export(truncated.encode(), "f.csv", SETTINGS), SETTINGS, NIGHT)
    assert list(batch.valid["case_id"]) == ["YC1"]
    (reasons,) = batch.quarantined["reasons"]
    assert reasons == [{"field": None, "check": BROKEN_LINE, "value": f"8 of {len(HEADER)} fields"}]


def test_a_line_in_another_encoding_inside_a_utf8_file_is_set_aside_alone():
    good = export(row(), row("YC2", "Siân")).encode("utf-8")
    bad_line = export(row("YC3", "Zoë")).encode("cp1252").split(b"\r\n", 1)[1]
    batch = validate_caseload(read_export(good + bad_line, "f.csv", SETTINGS), SETTINGS, NIGHT)
    assert list(batch.valid["forename"]) == ["Zoë", "Siân"], "the UTF-8 lines are not garbled"
    assert batch.quarantined["reasons"].iloc[0][0]["check"] == BAD_BYTES
    assert batch.quarantined["source_line"].tolist() == [4]
    assert batch.counts == {"read": 3, "valid": 2, "quarantined": 1}
