"""Tests for transforms.matching: one per rule, plus a seeded synthetic linkage run."""

from __future__ import annotations

import csv
import datetime as dt
import logging
import random
import string

import pandas as pd
import pytest

from transforms.matching import MatchSettings, match_people

COLUMNS = ["record_id", "forename", "surname", "date_of_birth", "gender", "postcode", "pnc_id", "referral_ref"]
OUTPUT = ["left_id", "right_id", "score", "status", "method", "reasons"]


def person(
    record_id: str,
    forename: str | None = "Olivia",
    surname: str | None = "Hartley",
    date_of_birth: dt.date | None = dt.date(2009, 3, 14),
    gender: str | None = "F",
    postcode: str | None = "RG14 5AB",
    pnc_id: str | None = None,
    referral_ref: str | None = None,
) -> dict[str, object]:
    """One canonical person row; defaults describe the same child, so a test changes only what it is about."""
    values = (record_id, forename, surname, date_of_birth, gender, postcode, pnc_id, referral_ref)
    return dict(zip(COLUMNS, values))


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


def pair(result: pd.DataFrame, left_id: str, right_id: str) -> pd.Series:
    rows = result[(result["left_id"] == left_id) & (result["right_id"] == right_id)]
    assert len(rows) == 1, f"expected exactly one {left_id}/{right_id} row, got\n{result}"
    return rows.iloc[0]


def matched_pairs(result: pd.DataFrame) -> set[tuple[str, str]]:
    rows = result[result["status"] == "matched"]
    return set(zip(rows["left_id"], rows["right_id"]))


# ---------------------------------------------------------------- deterministic rules


def test_referral_reference_matches_and_takes_both_records_out() -> None:
    left = frame(person("L1", surname="Hartley", referral_ref=" div-000123 "))
    right = frame(
        person("Y1", surname="Hartly", date_of_birth=None, referral_ref="DIV-000123"),
        person("Y2"),  # identical details but no reference: must not also take L1
    )
    result = match_people(left, right)
    row = pair(result, "L1", "Y1")
    assert (row["status"], row["method"], row["reasons"]) == ("matched", "referral_ref", "referral reference")
    assert list(result["right_id"]) == ["Y1"]


def test_pnc_id_matches_across_spacing_case_and_zero_padding() -> None:
    left = frame(
        person("L1", forename="Jon", surname="Walker", postcode=None, pnc_id="09/1234567x "),
        person("L2", forename="Ann", surname="Lee", pnc_id="2010/0054321K"),
    )
    right = frame(
        person("Y1", forename="Jonathan", surname="Walkr", date_of_birth=None, pnc_id=" 09 / 1234567X"),
        person("Y2", forename="Anne", surname="Lee", pnc_id="10/54321k"),
    )
    result = match_people(left, right)
    for left_id, right_id in (("L1", "Y1"), ("L2", "Y2")):
        row = pair(result, left_id, right_id)
        assert (row["status"], row["method"], row["reasons"]) == ("matched", "pnc_id", "PNC id")


def test_identifier_match_with_conflicting_details_goes_to_review() -> None:
    left = frame(person("L1", forename="Olivia", surname="Hartley", referral_ref="DIV-1"))
    right = frame(
        person("Y1", forename="Marcus", surname="Obi", date_of_birth=dt.date(2011, 8, 30), referral_ref="DIV-1")
    )
    row = pair(match_people(left, right), "L1", "Y1")
    assert (row["status"], row["method"]) == ("possible", "referral_ref")
    assert row["reasons"].startswith("referral reference but personal details conflict")
    trusting = MatchSettings(identifier_conflict_threshold=None)
    assert pair(match_people(left, right, trusting), "L1", "Y1")["status"] == "matched"


def test_reference_repeated_on_one_side_is_not_trusted() -> None:
    left = frame(person("L1", referral_ref="DIV-9"))
    right = frame(person("Y1", referral_ref="DIV-9"), person("Y2", referral_ref="DIV-9"))
    result = match_people(left, right)
    assert set(result["method"]) == {"probabilistic"}
    assert sorted(zip(result["right_id"], result["status"])) == [("Y1", "possible"), ("Y2", "possible")]


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("short", "full"),
    [("Alex", "Alexander"), ("Bill", "William"), ("Kate", "Katherine"), ("Jake", "Jacob"), ("Will", "Billy")],
)
def test_nickname_counts_as_forename_agreement(short: str, full: str) -> None:
    gender = None if short == "Alex" else "M"
    left = frame(person("L1", forename=short, gender=gender))
    right = frame(person("Y1", forename=full, gender=gender))
    row = pair(match_people(left, right), "L1", "Y1")
    assert (row["status"], row["method"]) == ("matched", "probabilistic")
    assert f"forename nickname ({short.lower()}~{full.lower()})" in row["reasons"]


def test_reason_text_lists_each_field() -> None:
    left = frame(person("L1", forename="Alex", date_of_birth=dt.date(2009, 3, 7), gender="M"))
    right = frame(
        person("Y1", forename="Alexander", date_of_birth=dt.date(2009, 7, 3), gender="M", postcode="RG14 9ZZ")
    )
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "matched"
    assert row["reasons"] == (
        "forename nickname (alex~alexander); surname exact; date of birth day/month transposed; postcode district"
    )


def test_first_part_of_a_double_forename_matches() -> None:
    left = frame(person("L1", forename="Mary-Jane"))
    right = frame(person("Y1", forename="Mary", postcode=None))
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "matched"
    assert "forename first part" in row["reasons"]


def test_surname_typo_matches() -> None:
    left = frame(person("L1", surname="Thompson", postcode=None))
    right = frame(person("Y1", surname="Thomspon"))
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "matched"
    assert "surname close spelling" in row["reasons"]


def test_forename_and_surname_swapped_matches() -> None:
    left = frame(person("L1", forename="Hartley", surname="Olivia"))
    right = frame(person("Y1", forename="Olivia", surname="Hartley"))
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "matched"
    assert row["reasons"].startswith("forename/surname swapped; forename exact; surname exact")


def test_swapped_names_are_found_by_their_own_block() -> None:
    """No shared date of birth or full postcode, so only the swapped-names block pairs these."""
    left = frame(
        person("L1", forename="Hartley", surname="Olivia", date_of_birth=dt.date(2009, 3, 15), postcode="RG14 5ZZ")
    )
    right = frame(person("Y1", forename="Olivia", surname="Hartley", date_of_birth=dt.date(2009, 3, 14)))
    assert pair(match_people(left, right), "L1", "Y1")["status"] == "matched"


@pytest.mark.parametrize(
    ("left_surname", "right_surname"),
    [("Smith-Jones", "Jones"), ("Jones", "Smith-Jones"), ("Smith Jones", "Smith")],
)
def test_double_barrelled_surname_matches_one_part(left_surname: str, right_surname: str) -> None:
    left = frame(person("L1", surname=left_surname))
    right = frame(person("Y1", surname=right_surname, postcode=None))
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "matched"
    assert "surname one part of double-barrelled" in row["reasons"]


def test_hyphen_and_space_variants_are_the_same_surname() -> None:
    left = frame(person("L1", surname="Smith-Jones"))
    right = frame(person("Y1", surname="smith  jones"))
    assert "surname exact" in pair(match_people(left, right), "L1", "Y1")["reasons"]


# ---------------------------------------------------------------- dates, postcodes, identifiers missing


def test_day_month_transposed_date_of_birth_matches() -> None:
    left = frame(person("L1", date_of_birth=dt.date(2009, 3, 7), postcode=None))
    right = frame(person("Y1", date_of_birth=dt.date(2009, 7, 3)))
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "matched"
    assert "date of birth day/month transposed" in row["reasons"]


@pytest.mark.parametrize("typed", [dt.date(2009, 3, 17), dt.date(2008, 3, 14), dt.date(2009, 3, 28)])
def test_one_digit_off_date_of_birth_matches(typed: dt.date) -> None:
    left = frame(person("L1", date_of_birth=dt.date(2009, 3, 14)))
    right = frame(person("Y1", date_of_birth=typed))
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "matched"
    assert "date of birth one digit off" in row["reasons"]


def test_wrong_date_of_birth_is_only_possible() -> None:
    left = frame(person("L1", date_of_birth=dt.date(2009, 3, 14)))
    right = frame(person("Y1", date_of_birth=dt.date(2011, 10, 2)))
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "possible"
    assert "date of birth different" in row["reasons"]


def test_missing_postcode_pnc_and_reference_still_match() -> None:
    left = frame(person("L1", postcode=None, pnc_id=None, referral_ref=None))
    right = frame(person("Y1", postcode="NFA", gender=None))
    row = pair(match_people(left, right), "L1", "Y1")
    assert row["status"] == "matched"
    assert row["reasons"] == "forename exact; surname exact; date of birth exact; postcode missing"
    assert row["score"] == pytest.approx(23.0)  # forename 7 + surname 7 + date 9; missing fields score 0


def test_postcode_spacing_and_levels() -> None:
    left = frame(person("L1", postcode="rg145ab"), person("L2", forename="Mia", postcode="RG14 5AB"))
    right = frame(person("Y1", postcode="RG14 5AB"), person("Y2", forename="Mia", postcode="RG14 7QQ"))
    result = match_people(left, right)
    assert "postcode full" in pair(result, "L1", "Y1")["reasons"]
    assert "postcode district" in pair(result, "L2", "Y2")["reasons"]


# ---------------------------------------------------------------- twins and one-to-one


def test_twin_in_caseload_is_not_matched_to_referred_twin() -> None:
    left = frame(person("L1", forename="Olivia"))
    right = frame(person("Y1", forename="Emily"))
    result = match_people(left, right)
    assert matched_pairs(result) == set()
    assert pair(result, "L1", "Y1")["score"] < MatchSettings().match_threshold


@pytest.mark.parametrize(
    ("first", "second", "gender_first", "gender_second"),
    [("Jack", "Jake", "M", "M"), ("Alexander", "Alexandra", "M", "F"), ("Alex", "Alexander", "F", "M")],
)
def test_similar_or_gendered_twin_names_are_not_matched(
    first: str, second: str, gender_first: str, gender_second: str
) -> None:
    left = frame(person("L1", forename=first, gender=gender_first))
    right = frame(person("Y1", forename=second, gender=gender_second))
    assert matched_pairs(match_people(left, right)) == set()


def test_both_twins_on_both_sides_each_match_their_own_record() -> None:
    left = frame(person("L1", forename="Olivia"), person("L2", forename="Emily"))
    right = frame(person("Y1", forename="Emily", postcode=None), person("Y2", forename="Olivia", postcode=None))
    result = match_people(left, right)
    assert matched_pairs(result) == {("L1", "Y2"), ("L2", "Y1")}
    assert set(result["status"]) == {"matched"}


def test_one_to_one_best_candidate_wins() -> None:
    left = frame(
        person("L1", surname="Hartley"),
        person("L2", surname="Hartly", date_of_birth=dt.date(2009, 3, 15), postcode=None),
    )
    right = frame(person("Y1", surname="Hartley"))
    result = match_people(left, right)
    assert matched_pairs(result) == {("L1", "Y1")}
    assert list(result["left_id"]) == ["L1"]


def test_one_to_one_near_tie_makes_both_possible() -> None:
    left = frame(person("L1", forename=None), person("L2", forename=None))
    right = frame(person("Y1", forename="Olivia"))
    result = match_people(left, right)
    assert matched_pairs(result) == set()
    assert sorted(zip(result["left_id"], result["status"])) == [("L1", "possible"), ("L2", "possible")]


def test_near_tie_competitor_can_still_match_its_own_record() -> None:
    """L1 (no forename) cannot tell twin Y1 from twin Y2; Y2's own referral L3 still matches it."""
    left = frame(
        person("L1", forename=None),  # 21.5 against either twin
        person("L3", forename="Emily", surname="Hartly", gender=None, postcode=None),  # 21.0 against Y2
    )
    right = frame(person("Y1", forename="Olivia"), person("Y2", forename="Emily"))
    result = match_people(left, right)
    assert sorted(zip(result["left_id"], result["right_id"], result["status"])) == [
        ("L1", "Y1", "possible"),
        ("L1", "Y2", "possible"),
        ("L3", "Y2", "matched"),
    ]


def test_ambiguity_margin_is_a_setting() -> None:
    left = frame(person("L1"), person("L2", surname="Hartly"))
    right = frame(person("Y1"))
    exact_minus_typo = 7.0 - 5.0  # default surname weights
    loose = match_people(left, right, MatchSettings(ambiguity_margin=exact_minus_typo + 0.5))
    strict = match_people(left, right, MatchSettings(ambiguity_margin=exact_minus_typo - 0.5))
    assert matched_pairs(loose) == set()
    assert matched_pairs(strict) == {("L1", "Y1")}


def test_thresholds_are_settings() -> None:
    left = frame(person("L1", forename="Alex", gender=None))
    right = frame(person("Y1", forename="Alexander", gender=None))
    score = pair(match_people(left, right), "L1", "Y1")["score"]
    stricter = MatchSettings(match_threshold=score + 1)
    assert pair(match_people(left, right, stricter), "L1", "Y1")["status"] == "possible"
    assert match_people(left, right, MatchSettings(match_threshold=score + 2, possible_threshold=score + 1)).empty
    with pytest.raises(ValueError):
        MatchSettings(match_threshold=5, possible_threshold=6)


# ---------------------------------------------------------------- robustness


def test_null_heavy_rows_do_not_crash_or_match() -> None:
    blank = dict.fromkeys(COLUMNS[1:])
    left = pd.DataFrame(
        [
            {**blank, "record_id": "L1"},
            {**blank, "record_id": "L2", "forename": float("nan"), "surname": pd.NA, "gender": "Unknown"},
            {**blank, "record_id": "L3", "surname": "Hartley"},
            {**blank, "record_id": "L4", "date_of_birth": dt.date(2009, 3, 14), "postcode": "!!"},
        ],
        columns=COLUMNS,
    )
    right = pd.DataFrame(
        [
            {**blank, "record_id": "Y1"},
            {**blank, "record_id": "Y2", "surname": "Hartley", "pnc_id": "  ", "referral_ref": ""},
            {**blank, "record_id": "Y3", "date_of_birth": pd.Timestamp("2009-03-14")},
        ],
        columns=COLUMNS,
    )
    result = match_people(left, right)
    assert list(result.columns) == OUTPUT
    assert matched_pairs(result) == set()


def test_datetime64_and_date_object_columns_agree() -> None:
    left = frame(person("L1"))
    right = frame(person("Y1")).assign(date_of_birth=lambda f: pd.to_datetime(f["date_of_birth"]))
    assert "date of birth exact" in pair(match_people(left, right), "L1", "Y1")["reasons"]


def test_empty_input_gives_empty_result_with_columns() -> None:
    result = match_people(frame(), frame(person("Y1")))
    assert result.empty
    assert list(result.columns) == OUTPUT


def test_duplicate_ids_and_missing_columns_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate record_id"):
        match_people(frame(person("L1"), person("L1")), frame(person("Y1")))
    with pytest.raises(ValueError, match="lacks columns"):
        match_people(frame(person("L1")).drop(columns="postcode"), frame(person("Y1")))


def test_oversized_block_is_skipped_and_logs_carry_no_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    placeholder = dt.date(2000, 1, 1)  # e.g. a "date unknown" default typed by staff
    rng = random.Random(7)

    def word() -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=8))

    def crowd(prefix: str) -> list[dict[str, object]]:
        return [person(f"{prefix}{i}", forename=word(), surname=word(), date_of_birth=placeholder) for i in range(600)]

    left = frame(
        *crowd("L"),
        person("Lx", forename="Zebedee", surname="Quartermaine", date_of_birth=dt.date(2008, 2, 29)),
    )
    right = frame(
        *crowd("Y"),
        person("Yx", forename="Zebedee", surname="Quartermain", date_of_birth=dt.date(2008, 2, 29)),
    )
    with caplog.at_level(logging.DEBUG, logger="transforms.matching"):
        result = match_people(left, right, MatchSettings(max_block_size=500))
    assert matched_pairs(result) == {("Lx", "Yx")}
    assert "blocking rule date_of_birth: skipped 1 oversized key(s)" in caplog.text
    text = caplog.text.lower()
    for secret in ("zebedee", "quartermain", "olivia", "hartley", "2008-02-29", "20080229", "2000-01-01", "rg14"):
        assert secret not in text


# ---------------------------------------------------------------- synthetic linkage

BOYS = (
    "oliver george harry noah jack leo arthur muhammad oscar charlie jacob thomas henry william freddie alfie "
    "theodore archie joshua alexander james isaac edward samuel lucas max ethan mason daniel benjamin dylan "
    "reuben logan harrison adam sebastian jude elijah toby louis riley tyler finley rory ryan nathan callum "
    "kai aaron owen matthew connor liam michael jayden caleb zachary"
).split()
GIRLS = (
    "olivia amelia isla ava ivy freya lily florence mia willow rosie sophia isabella grace daisy sienna poppy "
    "elsie emily ella evelyn phoebe sofia evie charlotte harper millie matilda maya sophie alice emilia "
    "isabelle ruby jessica chloe megan lucy holly hannah eleanor katherine elizabeth rebecca samantha "
    "abigail victoria amber leah paige zara niamh erin"
).split()
SURNAMES = (
    "smith jones williams taylor brown davies evans wilson thomas johnson roberts robinson thompson wright "
    "walker white edwards hughes green hall lewis harris clarke patel jackson wood turner martin cooper hill "
    "ward morris moore clark lee king baker harrison morgan allen james scott phillips watson davis parker "
    "price bennett young griffiths mitchell kelly cook carter richardson bailey collins bell shaw murphy "
    "miller cox richards khan marshall anderson simpson ellis adams singh begum wilkinson foster chapman "
    "powell webb rogers gray mason ali hunt hussain campbell matthews owen palmer holmes mills barnes knight "
    "lloyd butler russell barker fisher stevens jenkins murray dixon harvey graham pearson ahmed fletcher "
    "walsh kaur gibson howard andrews stewart elliott reynolds saunders payne fox ford pearce day brooks west "
    "lawrence cole atkinson"
).split()
# Kept apart from transforms/data/nicknames.csv on purpose: the generator must not borrow the engine's table.
NICKNAMES = {
    "alexander": ["alex", "xander"],
    "william": ["will", "bill", "billy"],
    "katherine": ["kate", "katie"],
    "jacob": ["jake"],
    "thomas": ["tom", "tommy"],
    "samuel": ["sam"],
    "daniel": ["dan", "danny"],
    "elizabeth": ["beth", "liz", "lizzie"],
    "rebecca": ["becky", "becca"],
    "oliver": ["ollie"],
    "joshua": ["josh"],
    "matthew": ["matt"],
    "benjamin": ["ben"],
    "jessica": ["jess"],
    "charlotte": ["lottie"],
    "james": ["jim", "jamie"],
    "edward": ["ed", "eddie", "ted"],
    "michael": ["mike", "mickey"],
    "samantha": ["sam"],
    "victoria": ["vicky", "tori"],
    "isabella": ["bella", "izzy"],
    "abigail": ["abby"],
    "zachary": ["zac"],
    "nathan": ["nate"],
    "eleanor": ["ellie"],
    "matilda": ["tilly"],
    "sophia": ["sophie"],
    "theodore": ["theo", "teddy"],
    "muhammad": ["mohammed", "mo"],
}
DISTRICTS = ["RG14", "RG1", "RG2", "RG30", "RG31", "RG40", "SL1", "SL6", "OX4", "OX1", "HP13", "HP20"]
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _zipf_choice(rng: random.Random, pool: list[str]) -> str:
    """Skewed like real name frequencies, but far more concentrated: a stress test for collisions."""
    return rng.choices(pool, weights=[1 / (rank + 3) for rank in range(len(pool))])[0]


def _typo(rng: random.Random, word: str) -> str:
    """One keyboard slip, never on the first letter (retyping keeps it right far more often)."""
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "substitute"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiounrstl".replace(word[i], "")) + word[i + 1 :]


def _digit_slip(rng: random.Random, dob: dt.date) -> dt.date:
    """A different valid date one typed digit away (last digit of year, month or day)."""
    text = dob.strftime("%Y%m%d")
    for _ in range(100):
        i = rng.choice([3, 5, 6, 7])
        candidate = text[:i] + rng.choice("0123456789".replace(text[i], "")) + text[i + 1 :]
        try:
            return dt.datetime.strptime(candidate, "%Y%m%d").date()
        except ValueError:
            continue
    return dob


def _postcode(rng: random.Random) -> str:
    unit = "".join(rng.choices(UNIT_LETTERS, k=2))
    return f"{rng.choice(DISTRICTS)} {rng.randint(1, 9)}{unit}"


def _name_forms() -> dict[str, set[str]]:
    """name -> itself, its canonical forms and its short forms, from the packaged nickname table."""
    forms: dict[str, set[str]] = {}
    with open(MatchSettings().nickname_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            forms.setdefault(row["name"], {row["name"]}).add(row["canonical"])
            forms.setdefault(row["canonical"], {row["canonical"]}).add(row["name"])
    return forms


def _people(rng: random.Random, n_people: int) -> list[dict[str, object]]:
    """Children aged 10-17 with a home postcode; 4% come with a twin (same surname, date, home)."""
    table = _name_forms()
    name_forms = {n: table.get(n, {n}) for n in BOYS + GIRLS}
    people: list[dict[str, object]] = []
    while len(people) < n_people:
        gender = rng.choice("MF")
        child: dict[str, object] = {
            "forename": _zipf_choice(rng, BOYS if gender == "M" else GIRLS),
            "surname": _zipf_choice(rng, SURNAMES),
            "date_of_birth": dt.date(2007, 1, 1) + dt.timedelta(days=rng.randrange(8 * 365)),
            "gender": gender,
            "postcode": _postcode(rng),
        }
        if rng.random() < 0.03:
            child["surname"] = f"{child['surname']}-{_zipf_choice(rng, SURNAMES)}"
        people.append(child)
        if rng.random() < 0.04 and len(people) < n_people:
            twin_gender = rng.choice("MF")
            # Twins get clearly different names: not Sophia/Sophie, and not names the nickname table
            # ties together (Amelia/Millie, or Edward/Theodore via Teddy), which no data could tell apart.
            # Similar-name twins are covered by a unit test.
            first = str(child["forename"])
            names = [
                n
                for n in (BOYS if twin_gender == "M" else GIRLS)
                if n[:2] != first[:2] and not (name_forms[n] & name_forms[first])
            ]
            twin = {"forename": rng.choice(names), "gender": twin_gender, "twin_of": len(people) - 1}
            people.append({**child, **twin})
    for i, child in enumerate(people):
        child["id"] = i
        year = child["date_of_birth"].year % 100 + 12  # type: ignore[union-attr]  # arrested at ~12+
        child["pnc_id"] = f"{year:02d}/{rng.randrange(10**7):07d}{rng.choice(string.ascii_uppercase)}"
        child["referral_ref"] = f"DIV-{i:06d}"
    return people


def _police_row(rng: random.Random, child: dict[str, object]) -> dict[str, object]:
    """The referral as the police typed it: clean, PNC id for half, some postcodes missing."""
    return {
        "record_id": f"P{child['id']:05d}",
        "forename": str(child["forename"]).title(),
        "surname": str(child["surname"]).title(),
        "date_of_birth": child["date_of_birth"],
        "gender": child["gender"],
        "postcode": None if rng.random() < 0.08 else child["postcode"],
        "pnc_id": child["pnc_id"] if rng.random() < 0.5 else None,
        "referral_ref": child["referral_ref"],
    }


def _yot_row(rng: random.Random, child: dict[str, object]) -> dict[str, object]:
    """The same child retyped by YOT staff, with the corruptions the scheme sees."""
    forename, surname = str(child["forename"]), str(child["surname"])
    dob: dt.date = child["date_of_birth"]  # type: ignore[assignment]
    if forename in NICKNAMES and rng.random() < 0.25:
        forename = rng.choice(NICKNAMES[forename])
    elif rng.random() < 0.07:
        forename = _typo(rng, forename)
    if rng.random() < 0.07:
        surname = _typo(rng, surname)
    if "-" in surname and rng.random() < 0.5:
        surname = rng.choice(surname.split("-"))  # double-barrelled on one side only
    elif rng.random() < 0.03:
        surname = f"{surname}-{_zipf_choice(rng, SURNAMES)}"
    roll = rng.random()
    if roll < 0.04 and dob.day <= 12 and dob.day != dob.month:
        dob = dob.replace(day=dob.month, month=dob.day)
    elif roll < 0.08:
        dob = _digit_slip(rng, dob)
    postcode: object = child["postcode"]
    roll = rng.random()
    if roll < 0.20:
        postcode = None
    elif roll < 0.25:
        postcode = _postcode(rng)  # moved
    elif roll < 0.60:
        postcode = str(postcode).replace(" ", "").lower()
    forename, surname = forename.title(), surname.title()
    if rng.random() < 0.03:
        forename, surname = surname, forename
    pnc = child["pnc_id"] if rng.random() < 0.3 else None
    if pnc and rng.random() < 0.5:
        pnc = str(pnc).lower().replace("/", " / ")
    return {
        "record_id": f"Y{child['id']:05d}",
        "forename": forename,
        "surname": surname,
        "date_of_birth": dob,
        "gender": {"M": "Male", "F": "Female"}[str(child["gender"])] if rng.random() < 0.9 else None,
        "postcode": postcode,
        "pnc_id": pnc,
        "referral_ref": child["referral_ref"] if rng.random() < 0.25 else None,
    }


def _synthetic(
    seed: int, n_left: int, n_right: int, overlap: float
) -> tuple[pd.DataFrame, pd.DataFrame, set[tuple[str, str]], set[tuple[str, str]]]:
    """Seeded referrals/caseload with known truth.

    Returns (left, right, true pairs, twin pairs with one twin only on each side).
    """
    rng = random.Random(seed)
    n_both = round(min(n_left, n_right) * overlap)
    people = _people(rng, n_left + n_right - n_both)
    # Force the dangerous case: only one twin referred, only the other known to the YOT.
    twins = [(child["twin_of"], child["id"]) for child in people if "twin_of" in child]
    split = twins[: len(twins) // 2]
    placed = {i for twin in split for i in twin}
    rest = [i for i in range(len(people)) if i not in placed]
    rng.shuffle(rest)
    both = rest[:n_both]
    left_only = [a for a, _ in split] + rest[n_both : n_left - len(split)]
    right_only = [b for _, b in split] + rest[n_left - len(split) :]

    left_ids, right_ids = both + left_only, both + right_only
    rng.shuffle(left_ids)
    rng.shuffle(right_ids)
    left = pd.DataFrame([_police_row(rng, people[i]) for i in left_ids], columns=COLUMNS)
    right = pd.DataFrame([_yot_row(rng, people[i]) for i in right_ids], columns=COLUMNS)
    truth = {(f"P{i:05d}", f"Y{i:05d}") for i in both}
    split_twins = {(f"P{a:05d}", f"Y{b:05d}") for a, b in split}
    return left, right, truth, split_twins


def test_synthetic_linkage_precision_and_recall() -> None:
    left, right, truth, split_twins = _synthetic(seed=20240611, n_left=2000, n_right=2000, overlap=0.6)
    assert (len(left), len(right), len(truth)) == (2000, 2000, 1200)
    assert len(split_twins) >= 10  # the dangerous case is really exercised

    result = match_people(left, right)
    found = matched_pairs(result)
    true_positives = len(found & truth)
    precision = true_positives / len(found)
    recall = true_positives / len(truth)
    print(f"synthetic 2000x2000: matched={len(found)} precision={precision:.4f} recall={recall:.4f}")

    assert precision >= 0.99, f"precision {precision:.4f}; false matches e.g. {sorted(found - truth)[:5]}"
    assert recall >= 0.97, f"recall {recall:.4f}; missed e.g. {sorted(truth - found)[:5]}"
    assert not (found & split_twins), "a twin was matched to the other twin"
    matched = result[result["status"] == "matched"]
    assert not matched["left_id"].duplicated().any()
    assert not matched["right_id"].duplicated().any()
    assert {"referral_ref", "pnc_id", "probabilistic"} <= set(matched["method"])
