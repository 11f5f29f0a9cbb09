"""A labelled population of police-like and YOT-like person records, with realistic corruption.

Known truth for measuring the matcher (tests and `make bench`): nicknames, typos, swapped names,
transposed and slipped dates of birth, missing fields, moves, twins and siblings. Every rate is a
field of :class:`Corruption`, so a test or benchmark can turn one kind of damage up or off.
"""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import random
import string
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from transforms.matching import MatchSettings

COLUMNS = ["record_id", "forename", "surname", "date_of_birth", "gender", "postcode", "pnc_id",
           "referral_ref"]


@dataclass(frozen=True)
class Corruption:
    """How often each kind of damage happens (a share of records, 0..1).

    Defaults follow the linkage study in performance-notes.md (15% links per record side there,
    60% here), the demo's caseload exports and what YOT staff report: police rows are typed from
    the child in front of the officer, YOT rows are retyped from a referral form.
    """

    twins: float = 0.01                # a family has twins: same surname, date of birth and home
    siblings: float = 0.03             # a family has another child 1-5 years apart: same surname and home
    double_barrelled: float = 0.03     # surname "Smith-Jones"
    # YOT side
    nickname: float = 0.25             # of children whose name has a short form
    forename_typo: float = 0.07
    surname_typo: float = 0.07
    one_part_of_double: float = 0.5    # of double-barrelled surnames: YOT keeps one part
    extra_surname_part: float = 0.03   # YOT adds a second surname
    swapped_names: float = 0.03
    transposed_dob: float = 0.04       # day and month exchanged (where that is a date)
    dob_digit_slip: float = 0.04       # one digit of year, month or day mistyped
    yot_dob_missing: float = 0.01
    yot_forename_missing: float = 0.005
    yot_postcode_missing: float = 0.20
    moved: float = 0.05                # a different postcode (moved, in care)
    postcode_reformatted: float = 0.35  # "rg145ab"
    yot_gender_missing: float = 0.10
    yot_pnc: float = 0.30              # YOT rows that carry the PNC id
    yot_referral_ref: float = 0.25     # YOT rows that carry the police referral reference
    # police side
    police_postcode_missing: float = 0.08
    police_gender_missing: float = 0.01
    police_pnc: float = 0.50


NONE = Corruption(**{name: 0.0 for name in Corruption.__dataclass_fields__})  # clean copies, no families

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


@lru_cache(maxsize=8)
def _zipf_weights(size: int) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1 / (rank + 3) for rank in range(size)))


def _zipf_choice(rng: random.Random, pool: list[str]) -> str:
    """Skewed like real name frequencies, but far more concentrated: a stress test for collisions."""
    return rng.choices(pool, cum_weights=_zipf_weights(len(pool)))[0]


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



def _other_name(rng: random.Random, gender: str, first: str, name_forms: dict[str, set[str]]) -> str:
    """A brother's or sister's forename: clearly different from the first child's, never Sophia/Sophie
    and never one the nickname table ties to it (Amelia/Millie), which no data could tell apart.
    Similar-name twins are covered by a unit test."""
    pool = [n for n in (BOYS if gender == "M" else GIRLS)
            if n[:2] != first[:2] and not (name_forms[n] & name_forms[first])]
    return rng.choice(pool)


def _people(rng: random.Random, n_people: int, corruption: Corruption) -> list[dict[str, object]]:
    """Children aged 10-17 with a home postcode; some families have twins or a sibling in range."""
    table = _name_forms()
    name_forms = {n: table.get(n, {n}) for n in BOYS + GIRLS}
    first_day, days = dt.date(2007, 1, 1), 8 * 365
    people: list[dict[str, object]] = []
    while len(people) < n_people:
        gender = rng.choice("MF")
        child: dict[str, object] = {
            "forename": _zipf_choice(rng, BOYS if gender == "M" else GIRLS),
            "surname": _zipf_choice(rng, SURNAMES),
            "date_of_birth": first_day + dt.timedelta(days=rng.randrange(days)),
            "gender": gender,
            "postcode": _postcode(rng),
        }
        if rng.random() < corruption.double_barrelled:
            child["surname"] = f"{child['surname']}-{_zipf_choice(rng, SURNAMES)}"
        people.append(child)
        roll = rng.random()
        if roll < corruption.twins + corruption.siblings and len(people) < n_people:
            other_gender = rng.choice("MF")
            other = {"forename": _other_name(rng, other_gender, str(child["forename"]), name_forms),
                     "gender": other_gender}
            if roll < corruption.twins:
                other["twin_of"] = len(people) - 1
            else:  # a brother or sister 1-5 years apart, still aged 10-17
                gap = dt.timedelta(days=rng.randint(330, 5 * 365)) * rng.choice((-1, 1))
                born = child["date_of_birth"] + gap  # type: ignore[operator]
                if not first_day <= born < first_day + dt.timedelta(days=days):
                    born = child["date_of_birth"] - gap  # type: ignore[operator]
                other["date_of_birth"] = born
                other["sibling_of"] = len(people) - 1
            people.append({**child, **other})
    for i, child in enumerate(people):
        child["id"] = i
        year = child["date_of_birth"].year % 100 + 12  # type: ignore[union-attr]  # arrested at ~12+
        child["pnc_id"] = f"{year:02d}/{rng.randrange(10**7):07d}{rng.choice(string.ascii_uppercase)}"
        child["referral_ref"] = f"DIV-{i:06d}"
    return people


def _police_row(rng: random.Random, child: dict[str, object], c: Corruption) -> dict[str, object]:
    """The referral as the police typed it: clean names, PNC id for some, some postcodes missing."""
    return {
        "record_id": f"P{child['id']:06d}",
        "forename": str(child["forename"]).title(),
        "surname": str(child["surname"]).title(),
        "date_of_birth": child["date_of_birth"],
        "gender": None if rng.random() < c.police_gender_missing else child["gender"],
        "postcode": None if rng.random() < c.police_postcode_missing else child["postcode"],
        "pnc_id": child["pnc_id"] if rng.random() < c.police_pnc else None,
        "referral_ref": child["referral_ref"],
    }


def _yot_row(rng: random.Random, child: dict[str, object], c: Corruption) -> dict[str, object]:
    """The same child retyped by YOT staff, with the corruptions the scheme sees."""
    forename, surname = str(child["forename"]), str(child["surname"])
    dob: dt.date | None = child["date_of_birth"]  # type: ignore[assignment]
    if forename in NICKNAMES and rng.random() < c.nickname:
        forename = rng.choice(NICKNAMES[forename])
    elif rng.random() < c.forename_typo:
        forename = _typo(rng, forename)
    if rng.random() < c.surname_typo:
        surname = _typo(rng, surname)
    if "-" in surname and rng.random() < c.one_part_of_double:
        surname = rng.choice(surname.split("-"))  # double-barrelled on one side only
    elif rng.random() < c.extra_surname_part:
        surname = f"{surname}-{_zipf_choice(rng, SURNAMES)}"
    roll = rng.random()
    assert dob is not None
    if roll < c.transposed_dob and dob.day <= 12 and dob.day != dob.month:
        dob = dob.replace(day=dob.month, month=dob.day)
    elif c.transposed_dob <= roll < c.transposed_dob + c.dob_digit_slip:
        dob = _digit_slip(rng, dob)
    elif rng.random() < c.yot_dob_missing:
        dob = None
    postcode: object = child["postcode"]
    roll = rng.random()
    if roll < c.yot_postcode_missing:
        postcode = None
    elif roll < c.yot_postcode_missing + c.moved:
        postcode = _postcode(rng)  # moved
    elif roll < c.yot_postcode_missing + c.moved + c.postcode_reformatted:
        postcode = str(postcode).replace(" ", "").lower()
    forename_text: str | None = forename.title()
    surname = surname.title()
    if rng.random() < c.swapped_names:
        forename_text, surname = surname, forename_text
    elif rng.random() < c.yot_forename_missing:
        forename_text = None
    pnc = child["pnc_id"] if rng.random() < c.yot_pnc else None
    if pnc and rng.random() < 0.5:
        pnc = str(pnc).lower().replace("/", " / ")
    return {
        "record_id": f"Y{child['id']:06d}",
        "forename": forename_text,
        "surname": surname,
        "date_of_birth": dob,
        "gender": None if rng.random() < c.yot_gender_missing else {"M": "Male", "F": "Female"}[str(child["gender"])],
        "postcode": postcode,
        "pnc_id": pnc,
        "referral_ref": child["referral_ref"] if rng.random() < c.yot_referral_ref else None,
    }


def synthetic_population(
    seed: int, n_left: int, n_right: int, overlap: float, corruption: Corruption | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, set[tuple[str, str]], set[tuple[str, str]]]:
    """Seeded referrals (left, police) and caseload (right, YOT) with known truth.

    ``overlap`` is the share of the smaller side that is on both. Half of the twins are split on
    purpose, one twin referred and only the other known to the YOT, the case that must never
    match. Returns (left, right, true pairs, split twin pairs).
    """
    c = corruption or Corruption()
    rng = random.Random(seed)
    n_both = round(min(n_left, n_right) * overlap)
    people = _people(rng, n_left + n_right - n_both, c)
    twins = [(child["twin_of"], child["id"]) for child in people if "twin_of" in child]
    split = twins[: min(len(twins) // 2, n_left - n_both, n_right - n_both)]
    placed = {i for twin in split for i in twin}
    rest = [i for i in range(len(people)) if i not in placed]
    rng.shuffle(rest)
    both = rest[:n_both]
    left_only = [a for a, _ in split] + rest[n_both : n_left - len(split)]
    right_only = [b for _, b in split] + rest[n_left - len(split) :]

    left_ids, right_ids = both + left_only, both + right_only
    rng.shuffle(left_ids)
    rng.shuffle(right_ids)
    left = pd.DataFrame([_police_row(rng, people[i], c) for i in left_ids], columns=COLUMNS)
    right = pd.DataFrame([_yot_row(rng, people[i], c) for i in right_ids], columns=COLUMNS)
    truth = {(f"P{i:06d}", f"Y{i:06d}") for i in both}
    split_twins = {(f"P{a:06d}", f"Y{b:06d}") for a, b in split}
    return left, right, truth, split_twins
