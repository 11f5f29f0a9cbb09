"""The vectorised forms used on whole columns give exactly what their one-value forms give."""
from __future__ import annotations

import random
import re
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
import pytest

from schemas.identifiers import pnc_check_letter, pnc_ids_valid, pnc_is_valid
from transforms.text import WHITESPACE_RUN, map_values


def test_whitespace_run_is_pythons_whitespace():
    pythons = {c for c in map(chr, range(sys.maxunicode + 1)) if re.fullmatch(r"\s", c)}
    assert set(WHITESPACE_RUN[1:-2]) == pythons
    values = pd.Series(["a\u00a0b", " x\t\x0by\u3000", "\u200bz", "plain", None], dtype="str")
    assert values.str.replace(WHITESPACE_RUN, "", regex=True).equals(values.str.replace(r"\s+", "", regex=True))


def test_pnc_ids_valid_matches_pnc_is_valid():
    rng = random.Random(3)
    values = []
    for _ in range(5000):
        year, serial = rng.randint(0, 99), rng.randint(0, 9_999_999)
        pnc = f"{year:02d}/{serial}{pnc_check_letter(year, serial)}"
        values.append(rng.choice([pnc, pnc[:-1] + rng.choice("ZABCDEFGHJKLMNPQRTUVWXY"), pnc + "\n",
                                  pnc.replace("1", "\u0661"), pnc.lower(), f"0{pnc}"]))
    values += ["", "12/12345678A", "1/1A", "12/A", "00/0000000Z", "99/9999999X", None]
    for dtype in ("str", object):
        got = pnc_ids_valid(pd.Series(values, dtype=dtype)).tolist()
        assert got == [v is not None and pnc_is_valid(v) for v in values]


def test_map_values_is_series_map():
    values = pd.Series(["cannabis", None, "cocaine", "other", "cannabis"], index=[5, 6, 7, 8, 9],
                       dtype="str", name="drug_name")
    for mapping in ({"cannabis": "B", "cocaine": "A"}, {"cocaine": pd.Timestamp("2023-11-08")}, {}):
        pd.testing.assert_series_equal(map_values(values, mapping), values.map(mapping))
    empty = pd.Series([], dtype="str")
    pd.testing.assert_series_equal(map_values(empty, {"a": "b"}), empty.map({"a": "b"}))


def _time_texts(rng: random.Random, plain: str) -> list:
    """Times as they may arrive: mostly the connector's plain form, then every kind of other."""
    values = []
    for _ in range(3000):
        day = pd.Timestamp("1995-01-01") + pd.Timedelta(seconds=rng.randint(0, 35 * 365 * 86400))
        text = day.strftime("%Y-%m-%dT%H:%M:%S+00:00" if plain == "time" else "%Y-%m-%d")
        values.append(rng.choice([text] * 6 + [
            text.replace("T", " "), text[:10], text.replace("+00:00", "Z"), text.replace("+00:00", "+01:00"),
            text.replace("-", "/"), text[:8] + "30", text[:5] + "13" + text[7:], text[:11] + "24" + text[13:],
            text + ".5", "???", "", None, "0001-01-01", "２０２６-01-01", text.lower(), text[:10] + "t" + text[11:]]))
    return values + (["2026-02-30T00:00:00+00:00", "2026-03-29T01:30:00+00:00"] if plain == "time"
                     else ["2026-02-29", "2024-02-29"])


def _arrow_reads(value: str, utc: bool) -> bool:
    try:
        pa.compute.cast(pa.array([value]), pa.timestamp("us", tz="UTC" if utc else None))
    except pa.ArrowInvalid:
        return False
    return True


@pytest.mark.parametrize("utc", [True, False])
def test_read_times_is_to_datetime(utc, monkeypatch):
    from transforms import stops
    rng = random.Random(7 if utc else 8)
    expected_dtype = "datetime64[us, UTC]" if utc else "datetime64[us]"
    every = _time_texts(rng, "time" if utc else "date")  # some that Arrow refuses: pandas reads all
    readable = [v for v in every if v is None or len(v) != (25 if utc else 10) or _arrow_reads(v, utc)]
    to_datetime, read_by_pandas = pd.to_datetime, []

    def counted(values, **kwargs):
        read_by_pandas.append(len(values))
        return to_datetime(values, **kwargs)

    for values in (every, readable):
        text = pd.Series(values, index=range(5, 5 + len(values)), dtype="str", name="t")
        try:
            expected = to_datetime(text, utc=utc, errors="coerce", format="ISO8601").astype(expected_dtype)
        except ValueError:  # a mix pandas refuses: refused the same way
            with pytest.raises(ValueError):
                stops.read_times(text, utc=utc)
            continue
        read_by_pandas.clear()
        with monkeypatch.context() as m:
            m.setattr(stops.pd, "to_datetime", counted)
            got = stops.read_times(text, utc=utc)
        pd.testing.assert_series_equal(got, expected)
    # the plain ones were read by Arrow; pandas read only the others (and one plain value beside them)
    plain = [v for v in readable if v is not None and len(v) == (25 if utc else 10)
             and v.endswith("+00:00" if utc else "")]
    assert len(plain) > 500
    assert read_by_pandas == [len(readable) - len(plain) - readable.count(None) + 1]


def _texts(rng: random.Random, n: int = 2000) -> list:
    pieces = ["RG1 1AA", "rg1  1aa", " O'Brien", "Nic Dhòmhnaill\t", "Zoë", "李", "a\u00a0b", "\u3000x\u2028",
              "\x1c", "", "   ", 'say "hi"\\', "line\nbreak", "tab\tin", "\x00nul", "é", "12/ 123 4567x", "del\x7f~"]
    return [rng.choice(pieces) + rng.choice(["", " ", "\u00a0", "x"]) if rng.random() > 0.1 else None
            for _ in range(n)]


def test_clean_text_and_dropping_whitespace_are_the_pandas_forms():
    from transforms.text import clean_text, drop_whitespace
    rng = random.Random(9)
    for values in (_texts(rng), ["already", "clean", None], ["no", "spaces"], ["plain ascii only"], [None], []):
        for dtype in ("str", object):
            series = pd.Series(values, index=range(3, 3 + len(values)), dtype=dtype, name="c")
            s = series.astype("str").str.strip()
            expected = s.where(series.notna() & (s != ""), None).astype("str")
            pd.testing.assert_series_equal(clean_text(series), expected)
            pd.testing.assert_series_equal(drop_whitespace(expected),
                                           expected.str.replace(WHITESPACE_RUN, "", regex=True))


def test_duplicates_are_pandas_duplicated():
    from transforms.validation import duplicated
    rng = random.Random(14)
    for values in (_texts(rng, 3000), ["a", "b", "c"], [None, "a", None], ["a", None], [None], []):
        for dtype in ("str", object):
            series = pd.Series(values, index=range(7, 7 + len(values)), dtype=dtype)
            for keep in (False, "first", "last"):
                got = duplicated(series, keep)
                assert got.dtype == bool and got.tolist() == series.duplicated(keep=keep).tolist(), (values, keep)


def test_normalised_postcodes_are_the_pandas_form():
    from transforms.text import drop_whitespace, normalise_postcodes
    rng = random.Random(13)
    values = _texts(rng) + ["rg14 5ab", "SW1A1AA", "ab1", "abcd", "zoë 1ab", "李李李李", " m1 1ae "]
    for dtype in ("str", object):
        series = pd.Series(values, index=range(5, 5 + len(values)), dtype=dtype, name="postcode")
        compact = drop_whitespace(series.astype("str").str.strip().replace("", None)).str.upper()
        expected = (compact.str[:-3] + " " + compact.str[-3:]).where(compact.str.len() > 3, compact)
        pd.testing.assert_series_equal(normalise_postcodes(series), expected.astype("str"))
    assert normalise_postcodes(pd.Series(["rg145ab", "M11AE", "x"], dtype="str")).tolist() == [
        "RG14 5AB", "M1 1AE", "X"]


def test_quarantine_records_are_the_json_of_each_row():
    import json

    from transforms.quarantine_records import records_json as _records_json, text_or_none as _text_or_none
    rng = random.Random(10)
    texts = _texts(rng, 500)
    held = pd.DataFrame({"plain": [rng.choice(["a", "b c", None]) for _ in texts], "messy": texts,
                         "número": pd.Series([rng.choice([1.5, None]) for _ in texts], dtype="float64")},
                        index=range(100, 100 + len(texts)))
    columns = list(held.columns)
    expected = [json.dumps(dict(zip(columns, values)), ensure_ascii=False)
                for values in zip(*(_text_or_none(held[c]) for c in columns))]
    for frame in (held, held.astype({"plain": "str", "messy": "str"}), held.iloc[:0]):
        got = _records_json(frame, columns)
        assert got == expected[:len(frame)]
        assert [json.loads(r) for r in got] == [dict(zip(columns, v)) for v in
                                                zip(*(_text_or_none(frame[c]) for c in columns))]


def test_quarantine_reasons_are_the_json_of_each_rows_reasons():
    import json

    from transforms.quarantine_records import reasons_json
    from transforms.validation import FAILURE_COLUMNS, split_batch
    rng = random.Random(12)
    texts = _texts(rng, 3000)
    raw = pd.DataFrame({"value": texts}, index=rng.sample(range(10_000), len(texts)))  # labels in no order
    failures = pd.DataFrame({"row": [rng.choice(raw.index.tolist()) for _ in range(2000)],
                             "field": [rng.choice(["value", "other", None]) for _ in range(2000)],
                             "check": [rng.choice(["not a date", 'say "no"', "Zoë's check", "not\nice"])
                                       for _ in range(2000)],
                             "value": [rng.choice(texts) for _ in range(2000)]}, columns=FAILURE_COLUMNS)
    batch = split_batch(raw, raw, failures)
    expected = [json.dumps(reasons, default=str) for reasons in batch.quarantined["reasons"]]
    assert reasons_json(batch) == expected and len(expected) > 1000
    assert [json.loads(r) for r in expected] == batch.quarantined["reasons"].tolist()
    numbers = split_batch(raw, raw, failures.assign(value=range(len(failures))))  # not text: as json writes it
    assert reasons_json(numbers) == [json.dumps(r, default=str) for r in numbers.quarantined["reasons"]]
    assert reasons_json(split_batch(raw, raw, failures.iloc[:0])) == []


def test_age_at_stop_is_the_calendar_difference():
    from schemas.stop import _age_at_stop, _stop_day
    rng = random.Random(11)
    births = [pd.Timestamp("2000-02-29") + pd.Timedelta(days=rng.randint(0, 9000)) for _ in range(3000)]
    births += [pd.Timestamp("1899-12-31") + pd.Timedelta(days=rng.randint(0, 40_000)) for _ in range(1000)]
    stops = [pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(minutes=rng.randint(0, 4_000_000))
             for _ in births]
    frame = pd.DataFrame({"date_of_birth": pd.array(births + [pd.NaT, pd.Timestamp("2008-02-29")],
                                                    dtype="datetime64[us]"),
                          "stop_time": pd.array(stops + [stops[0], pd.Timestamp("2026-02-28T23:30", tz="UTC")],
                                                dtype="datetime64[us, UTC]")}, index=range(7, 7 + len(births) + 2))
    dob, day = frame["date_of_birth"], _stop_day(frame, "Europe/London")
    expected = [None if pd.isna(b) else d.year - b.year - ((d.month, d.day) < (b.month, b.day))
                for b, d in zip(dob, day)]
    got = _age_at_stop(frame, "Europe/London")
    assert [None if pd.isna(a) else int(a) for a in got] == expected
    assert got.iloc[-1] == 17 and got.index.equals(frame.index)  # born on 29 February: 18 on 1 March


def test_keep_rows_is_loc():
    from transforms.validation import keep_rows
    rng = random.Random(12)
    frame = pd.DataFrame({"text": pd.Series([rng.choice(["a", None, "Zoë"]) for _ in range(400)], dtype="str"),
                          "when": pd.Series(pd.Timestamp("2026-01-01", tz="UTC"), index=range(400)),
                          "amount": pd.Series([None, 1.5] * 200, dtype="float64"),
                          "code": pd.Series(["x"] * 400, dtype=object)}, index=range(50, 450))
    from transforms.stops import QUANTITY_DTYPE
    frame["quantity"] = pd.Series(["1.5", None] * 200, index=frame.index).astype(QUANTITY_DTYPE)
    for keep in (np.array([rng.random() < 0.9 for _ in range(400)]), np.ones(400, bool), np.zeros(400, bool)):
        got = keep_rows(frame, keep)
        pd.testing.assert_frame_equal(got, frame.loc[keep])


def _messy_stops(rng: random.Random, n: int) -> pd.DataFrame:
    """Raw stops with every kind of bad value, typed as the pipeline types them."""
    from tests.stop_rows import GOOD_PNC, raw_frame, raw_stop
    choices = {"gender": ["Male", "Female", "Other", "M", None], "postcode": ["RG1 1AA", "RG1", None, "rg11aa"],
               "area": ["Reading", "Atlantis", None], "date_of_birth": ["2010-05-04", "2020-01-01", "1900-01-01",
                                                                      "2026-03-02", None],
               "pnc_id": [GOOD_PNC, GOOD_PNC[:-1] + "A", "bad", None], "drug_name": ["cannabis", "unobtainium",
                                                                                  "nitrous oxide", None],
               "drug_class": ["A", "B", "C", "D", None], "quantity": ["2.5", "0", "-1", None],
               "quantity_unit": ["g", "tonnes", None], "offence": [None, "Possession"],
               "search_type": ["Person search", "Vehicle search", "Moon search"], "age_range": ["10-17", "5-9"]}
    rows = []
    for i in range(n):
        row = raw_stop(stop_ref=f"S{rng.randint(0, n)}")  # some references repeat
        for field, values in choices.items():
            if rng.random() < 0.15:
                row[field] = rng.choice(values)
        rows.append(row)
    return raw_frame(*rows).set_axis(range(10, 10 + n))


def test_contract_failures_are_panderas():
    from schemas.config import load_config
    from schemas.stop import stop_schema
    from transforms.stops import type_stop_records
    from transforms.validation import _checkable_by_columns, _failures_by_columns, pandera_contract_failures
    config = load_config()
    typed, unreadable = type_stop_records(_messy_stops(random.Random(13), 3000), config)
    typed = typed.loc[~typed.index.isin(unreadable["row"])]
    schema = stop_schema(config)

    def ordered(failures):
        return failures.sort_values(["row", "field", "check"], na_position="first").reset_index(drop=True)

    expected = pandera_contract_failures(typed, schema)
    assert expected["check"].nunique() >= 12  # every kind of failure is there to compare
    assert _checkable_by_columns(typed, schema)
    pd.testing.assert_frame_equal(ordered(_failures_by_columns(typed, schema)), ordered(expected))


def test_caseload_contract_failures_are_panderas():
    from schemas.caseload import caseload_schema
    from transforms.validation import _checkable_by_columns, _failures_by_columns, pandera_contract_failures
    rng = random.Random(14)
    n = 2000

    def dates():
        return pd.array([rng.choice([None, pd.Timestamp("2026-01-01") + pd.Timedelta(days=rng.randint(0, 90))])
                         for _ in range(n)], dtype="datetime64[us]")

    def pick(*values):
        return [rng.choice(values) for _ in range(n)]

    typed = pd.DataFrame({
        "case_id": pd.array([rng.choice([None, "", f"C{rng.randint(0, n)}"]) for _ in range(n)], dtype="str"),
        "referral_ref": pd.array(pick("SS1", None), dtype="str"), "pnc_id": pd.array(pick("09/1234567X", "x", None), dtype="str"),
        "forename": pd.array(pick("Zoë", None), dtype="str"), "surname": pd.array(pick("李", None), dtype="str"),
        "date_of_birth": dates(), "gender": pd.array(pick("Male", "F", None), dtype="str"),
        "postcode": pd.array(pick("RG1 1AA", "RG1", None), dtype="str"), "referral_received": dates(),
        "first_contact": dates(), "assessment_date": dates(),
        "sessions_offered": pd.array(pick(None, 0, 3, -1), dtype="Int64"),
        "sessions_attended": pd.array(pick(None, 0, 2, 5), dtype="Int64"),
        "status": pd.array(pick("open", "closed", "lost", None), dtype="str"), "status_date": dates(),
    }, index=range(3, 3 + n))
    schema = caseload_schema(pd.Timestamp("2026-02-15").date())
    expected = pandera_contract_failures(typed, schema)
    assert expected["check"].nunique() >= 9
    assert _checkable_by_columns(typed, schema)
    got = _failures_by_columns(typed, schema)
    key = ["row", "field", "check"]
    pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True),
                                  expected.sort_values(key).reset_index(drop=True))
