"""A labelled population of police-like and YOT-like person records, with realistic corruption.

Known truth for measuring the matcher (tests and `make bench`): nicknames, typos, swapped names,
transposed and slipped dates of birth, missing fields, moves, twins and siblings.
"""
from __future__ import annotations

import csv
import datetime as dt
import random
import string
import pandas as pd

from transforms.matching import MatchSettings

COLUMNS = ["record_id", "forename", "surname", "date_of_birth", "gender", "postcode", "pnc_id",
           "referral_ref"]

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


def synthetic_population(
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


