"""A complete, deterministic demo world: the records system, YOT caseload exports and the truth.

Generated from a seed, so every run of the demo and every test sees the same young people.
Each eligible referral is given a YOT story (completed, engaged, declined, never contacted,
missing from the caseload, ...) and the ground truth says who must be escalated, worked out from
those stories and the scheme's deadlines with wide margins, independently of the pipeline's code.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from schemas.config import SchemeConfig
from schemas.identifiers import pnc_check_letter

DEMO_NIGHT = date(2026, 11, 24)
DEMO_SEED = 20261124
STALE_YOT = "slough"  # sends no export tonight: its referrals must wait, never be escalated

FORENAMES_M = ["Alexander", "William", "Jacob", "Thomas", "Daniel", "Samuel", "Joshua", "Matthew",
               "Oliver", "Harry", "Mohammed", "Liam", "Noah", "Ethan", "Kacper", "Tyler", "Callum",
               "Reece", "Kieran", "Jamal", "Aaron", "Connor", "Dylan", "Owen", "Robert", "Michael"]
FORENAMES_F = ["Katherine", "Elizabeth", "Rebecca", "Jessica", "Olivia", "Amelia", "Zoë", "Chloe",
               "Aisha", "Megan", "Abigail", "Victoria", "Samantha", "Jennifer", "Nicole", "Hannah"]
NICKNAMES = {"Alexander": "Alex", "William": "Will", "Jacob": "Jake", "Thomas": "Tom",
             "Daniel": "Dan", "Samuel": "Sam", "Joshua": "Josh", "Matthew": "Matt",
             "Robert": "Rob", "Michael": "Mike", "Katherine": "Kate", "Elizabeth": "Beth",
             "Rebecca": "Becky", "Jessica": "Jess", "Abigail": "Abby", "Victoria": "Vicky",
             "Samantha": "Sam", "Jennifer": "Jenny"}
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
            "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
            "Hall", "Wood", "Jackson", "Clarke", "O'Brien", "Patel", "Khan", "Nowak", "Okafor",
            "Nic Dhòmhnaill", "Hughes", "Edwards", "Turner", "Hill", "Moore", "Cooper", "Ward",
            "Morris", "King", "Watson", "Harrison", "Morgan", "Baker", "Mahmood", "Kowalski"]
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# YOT stories for eligible referrals, and whether the child is a non-engager on the demo night.
ESCALATING = {"declined", "did_not_engage", "never_contacted", "missing", "contacted_no_session"}
STORIES = {  # story: (weight, minimum days before the night, maximum days before the night)
    "completed": (14, 35, 88),
    "engaged": (16, 15, 88),
    "declined": (10, 8, 88),
    "did_not_engage": (12, 30, 88),
    "never_contacted": (10, 30, 88),
    "missing": (8, 20, 88),
    "contacted_no_session": (8, 45, 88),
    "contacted_recent": (6, 4, 10),
    "pending_recent": (6, 0, 2),
}


@dataclass
class DemoWorld:
    root: Path
    night: date
    records_db: Path
    sftp_root: Path
    truth_path: Path
    truth: dict = field(default_factory=dict)


@dataclass
class _Person:
    person_id: str
    forename: str
    surname: str
    dob: date
    gender: str
    postcode: str | None
    pnc_id: str | None
    home_yot: str


class _Generator:
    def __init__(self, config: SchemeConfig, night: date, seed: int) -> None:
        self.cfg = config
        self.night = night
        self.rng = random.Random(seed)
        self.stops: list[dict] = []
        self.cases: dict[str, list[dict]] = {y: [] for y in config.yots}
        self.truth: dict = {"night": night.isoformat(), "seed": seed, "stale_yots": [STALE_YOT],
                            "eligible_stop_refs": [], "escalated_referral_refs": [],
                            "escalated_person_ids": [], "quarantined_stop_refs": [],
                            "ineligible": {}, "stories": {}}
        self._serial = 0
        self._person_serial = 0
        self._case_serial = 0

    # --- people ----------------------------------------------------------------------------
    def _postcode(self, yot_id: str) -> str:
        district = self.rng.choice(self.cfg.yots[yot_id].postcode_districts)
        return f"{district} {self.rng.randint(1, 9)}{self.rng.choice(POSTCODE_LETTERS)}{self.rng.choice(POSTCODE_LETTERS)}"

    def person(self, age_at: date, age: int, *, area: str | None = None, pnc_share: float = 0.6,
               postcode_share: float = 0.9) -> _Person:
        self._person_serial += 1
        gender = self.rng.choice(["Male"] * 4 + ["Female"])
        forename = self.rng.choice(FORENAMES_M if gender == "Male" else FORENAMES_F)
        birthday = age_at - timedelta(days=int(age * 365.25) + self.rng.randint(1, 360))
        area = area or self.rng.choice(list(self.cfg.areas))
        yot = self.cfg.areas[area].default_yot
        if self.rng.random() < 0.15:
            yot = self.rng.choice(list(self.cfg.yots))
        pnc = None
        if self.rng.random() < pnc_share:
            year, serial = self.rng.randint(10, 25), self.rng.randint(1, 9_999_999)
            pnc = f"{year:02d}/{serial:07d}{pnc_check_letter(year, serial)}"
        postcode = self._postcode(yot) if self.rng.random() < postcode_share else None
        if postcode is None:
            yot = self.cfg.areas[area].default_yot
        return _Person(f"P{4_000_000 + self._person_serial:07d}", forename,
                       self.rng.choice(SURNAMES), birthday, gender, postcode, pnc, yot)

    # --- stops -----------------------------------------------------------------------------
    def stop_time(self, days_before: int) -> datetime:
        day = self.night - timedelta(days=days_before)
        hour = self.rng.choice([9, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23])
        return datetime.combine(day, time(hour, self.rng.randint(0, 59), self.rng.choice([0, 0, 30])))

    def stop(self, p: _Person | None, when: datetime, area: str, **overrides) -> dict:
        self._serial += 1
        modified = min(when + timedelta(minutes=self.rng.randint(20, 240)),
                       datetime.combine(self.night, time(23, 59)))
        row = {
            "STOP_REF": f"SS{when.year}{self._serial:06d}",
            "STOP_DATETIME": when.strftime("%Y-%m-%d %H:%M:%S"),
            "LPA_NAME": area,
            "PERSON_ID": p.person_id if p else None,
            "PNC_ID": p.pnc_id if p else None,
            "FORENAME": p.forename if p else None,
            "SURNAME": p.surname if p else None,
            "DOB": p.dob.isoformat() if p else None,
            "GENDER": (p.gender if p else None) if self.rng.random() > 0.06 else "",
            "HOME_POSTCODE": p.postcode if p else None,
            "SEARCH_TYPE": self.rng.choice(["Person search"] * 8 + ["Person and Vehicle search"]),
            "AGE_RANGE": None,
            "LEGISLATION": "Misuse of Drugs Act 1971 (section 23)",
            "OBJECT_OF_SEARCH": "Controlled drugs",
            "OUTCOME": self.rng.choice(["Community resolution", "Arrest", "A no further action disposal",
                                        "Khat or Cannabis warning", ""]),
            "DRUG_NAME": None, "DRUG_CLASS": None, "QUANTITY": None, "QUANTITY_UNIT": None,
            "OFFENCE": None,
            "OFFICER_ACTION": "Referred to diversion scheme",
            "LAST_MODIFIED": modified.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if p:
            age = when.year - p.dob.year - ((when.month, when.day) < (p.dob.month, p.dob.day))
            row["AGE_RANGE"] = "10-17" if age < 18 else "18-24" if age < 25 else "25-34" if age < 35 else "over 34"
        row.update(overrides)
        self.stops.append(row)
        return row

    def drug(self, *, small: bool) -> dict:
        name = self.rng.choice(["cannabis"] * 6 + ["cannabis resin", "cocaine", "ketamine", "mdma",
                                                   "nitrous oxide"])
        ref = self.cfg.eligibility.drugs[name]
        limit = float(ref.max_quantity)
        qty = round(self.rng.uniform(0.2, 0.9) * limit, 1) if small else round(limit * self.rng.uniform(2, 8), 1)
        if ref.unit in ("tablets", "canisters"):
            qty = max(1, int(qty)) if small else int(qty) + 1
        if qty <= 0:
            qty = 0.1
        return {"DRUG_NAME": name.title() if self.rng.random() < 0.5 else name,
                "DRUG_CLASS": ref.drug_class, "QUANTITY": qty, "QUANTITY_UNIT": ref.unit,
                "OFFENCE": "Possession"}

    # --- caseload rows ---------------------------------------------------------------------
    def case_row(self, p: _Person, referral_ref: str | None, referred: date, story: str) -> dict:
        self._case_serial += 1
        rng = self.rng
        forename, surname, dob, postcode, pnc = p.forename, p.surname, p.dob, p.postcode, p.pnc_id
        typo = rng.random()
        if typo < 0.15 and forename in NICKNAMES:
            forename = NICKNAMES[forename]
        elif typo < 0.25 and len(surname) > 4 and surname.isalpha():
            i = rng.randint(1, len(surname) - 2)
            surname = surname[:i] + surname[i + 1] + surname[i] + surname[i + 2:]
        elif typo < 0.32 and dob.day <= 12 and dob.day != dob.month:
            dob = date(dob.year, dob.day, dob.month)
        elif typo < 0.38:
            surname = f"{surname}-{rng.choice(['Green', 'Ali', 'Stone'])}"
        if rng.random() < 0.3:
            postcode = None
        if rng.random() < 0.5:
            pnc = None
        if rng.random() < 0.5:
            referral_ref = None
        received = min(referred + timedelta(days=rng.randint(0, 2)), self.night)
        contact = min(received + timedelta(days=rng.randint(1, 6)), self.night)
        assessed = min(contact + timedelta(days=rng.randint(1, 4)), self.night)
        last = min(assessed + timedelta(days=rng.randint(7, 20)), self.night)
        status, first_contact, assessment, offered, attended, status_date = {
            "completed": ("Completed", contact, assessed, 3, 3, last),
            "engaged": ("Engaged", contact, assessed, 3, rng.randint(1, 2), assessed),
            "declined": ("Declined", contact, None, 0, 0, contact),
            "did_not_engage": ("Did not engage", contact, None, 2, 0, last),
            "never_contacted": ("Referred", None, None, 0, 0, received),
            "contacted_no_session": ("Contacted", contact, None, 1, 0, contact),
            "contacted_recent": ("Contacted", contact, None, 1, 0, contact),
            "pending_recent": ("Referred", None, None, 0, 0, received),
            "other": (rng.choice(["Engaged", "Completed", "Closed - other"]), contact, assessed, 2, 1, last),
        }[story]
        fmt = lambda d: d.strftime("%d/%m/%Y") if d else ""  # noqa: E731
        return {"YOT Case ID": f"YC{self._case_serial:06d}", "Police Referral Ref": referral_ref or "",
                "PNC ID": pnc or "", "Forename": forename, "Surname": surname,
                "Date of Birth": fmt(dob), "Gender": rng.choice([p.gender, p.gender[0]]),
                "Postcode": (postcode or "").lower() if rng.random() < 0.2 else (postcode or ""),
                "Referral Received": fmt(received), "First Contact": fmt(first_contact),
                "Assessment Date": fmt(assessment), "Sessions Offered": str(offered),
                "Sessions Attended": str(attended), "Status": status, "Status Date": fmt(status_date)}

    # --- the world -------------------------------------------------------------------------
    def eligible_referral(self, story: str) -> _Person:
        _, lo, hi = STORIES[story]
        days_before = self.rng.randint(lo, hi)
        when = self.stop_time(days_before)
        area = self.rng.choice(list(self.cfg.areas))
        p = self.person(when.date(), self.rng.randint(12, 17), area=area)
        row = self.stop(p, when, area, **self.drug(small=True))
        self._refer(p, row, story)
        return p

    def _refer(self, p: _Person, row: dict, story: str) -> None:
        ref = f"DR-{row['STOP_REF']}"
        self.truth["eligible_stop_refs"].append(row["STOP_REF"])
        self.truth["stories"][ref] = {"story": story, "yot": p.home_yot, "person_id": p.person_id}
        stopped = datetime.strptime(row["STOP_DATETIME"], "%Y-%m-%d %H:%M:%S").date()
        if story == "pending_recent" and self.rng.random() < 0.5:
            story = "missing_recent"
        if story not in ("missing", "missing_recent"):
            self.cases[p.home_yot].append(self.case_row(p, ref, stopped, story))
        if story in ESCALATING and p.home_yot != STALE_YOT:
            self.truth["escalated_referral_refs"].append(ref)
            self.truth["escalated_person_ids"].append(p.person_id)

    def ineligible(self, reason: str, **kw) -> None:
        when = self.stop_time(self.rng.randint(0, 88))
        area = self.rng.choice(list(self.cfg.areas))
        youth = reason != "adult"
        p = self.person(when.date(), self.rng.randint(12, 17) if youth else self.rng.randint(18, 45),
                        area=area, pnc_share=0.8)
        overrides = self.drug(small=reason not in ("larger_quantity",))
        if reason == "intent_to_supply":
            overrides["OFFENCE"] = "Possession with intent to supply"
        elif reason == "supply":
            overrides["OFFENCE"] = "Supply"
        elif reason == "no_drug_found":
            overrides = {"OBJECT_OF_SEARCH": self.rng.choice(
                ["Controlled drugs", "Offensive weapons", "Stolen goods"]),
                "OUTCOME": "A no further action disposal",
                "LEGISLATION": self.rng.choice(["Misuse of Drugs Act 1971 (section 23)",
                                                "Police and Criminal Evidence Act 1984 (section 1)", ""])}
        row = self.stop(p, when, area, **overrides | kw)
        self.truth["ineligible"][row["STOP_REF"]] = reason

    def quarantined(self, problem: str) -> None:
        when = self.stop_time(self.rng.randint(0, 88))
        area = self.rng.choice(list(self.cfg.areas))
        p = self.person(when.date(), self.rng.randint(12, 17), area=area)
        overrides = self.drug(small=True)
        if problem == "blank_dob":
            overrides["DOB"] = None
        elif problem == "unknown_area":
            area = "Gotham"
        elif problem == "bad_pnc":
            overrides["PNC_ID"] = "09/1234567Q" if pnc_check_letter(9, 1234567) != "Q" else "09/1234567R"
        elif problem == "under_ten":
            overrides["DOB"] = (when.date() - timedelta(days=8 * 365)).isoformat()
        elif problem == "bad_quantity":
            overrides["QUANTITY"] = "a few"
        elif problem == "unknown_drug":
            overrides["DRUG_NAME"] = "mystery powder"
        elif problem == "bad_legislation":
            overrides["LEGISLATION"] = "Misuse of Drugs Act 1971 (s.23)"
        row = self.stop(p, when, area, **overrides)
        self.truth["quarantined_stop_refs"].append(row["STOP_REF"])

    def repeat_after_completion(self) -> None:
        """A child who completed a diversion and is stopped again: eligible again, linked."""
        p = self.eligible_referral_with_story("completed", days=(60, 80))
        when = self.stop_time(self.rng.randint(0, 2))
        area = self.rng.choice(list(self.cfg.areas))
        row = self.stop(p, when, area, **self.drug(small=True))
        self._refer(p, row, "pending_recent")

    def eligible_referral_with_story(self, story: str, days: tuple[int, int]) -> _Person:
        when = self.stop_time(self.rng.randint(*days))
        area = self.rng.choice(list(self.cfg.areas))
        p = self.person(when.date(), self.rng.randint(12, 16), area=area)
        self._refer(p, self.stop(p, when, area, **self.drug(small=True)), story)
        return p

    def birthday_edges(self) -> None:
        """Stopped on the 18th birthday (an adult) and on the day before it (still a child)."""
        for turns_18_in_days, reason in ((0, "adult"), (1, None)):
            when = self.stop_time(self.rng.randint(50, 70))
            area = self.rng.choice(list(self.cfg.areas))
            p = self.person(when.date(), 17, area=area)
            eighteenth = when.date() + timedelta(days=turns_18_in_days)
            p.dob = date(eighteenth.year - 18, eighteenth.month, eighteenth.day)
            row = self.stop(p, when, area, **self.drug(small=True))
            if reason:
                self.truth["ineligible"][row["STOP_REF"]] = reason
            else:
                self._refer(p, row, "completed")

    def distractor_cases(self) -> None:
        """Caseload rows that are not police referrals: other children, twins, bad rows."""
        referred = list(self.truth["stories"].items())
        for yot_id in self.cfg.yots:
            for _ in range(self.rng.randint(3, 6)):
                p = self.person(self.night, self.rng.randint(11, 17))
                p.home_yot = yot_id
                self.cases[yot_id].append(self.case_row(p, None, self.night - timedelta(days=self.rng.randint(5, 60)), "other"))
        # twins of referred children: same surname, date of birth and postcode, another forename
        for ref, info in self.rng.sample(referred, 3):
            original = next(c for c in self.cases.get(info["yot"], []) if c["Police Referral Ref"] == ref) \
                if any(c["Police Referral Ref"] == ref for c in self.cases.get(info["yot"], [])) else None
            if original is None:
                continue
            twin = dict(original)
            self._case_serial += 1
            twin.update({"YOT Case ID": f"YC{self._case_serial:06d}", "Police Referral Ref": "",
                         "PNC ID": "", "Forename": "Imogen" if original["Forename"] != "Imogen" else "Harriet",
                         "Gender": "Female"})
            self.cases[info["yot"]].append(twin)
        # rows a person must fix: quarantined, never matched
        bad_yot = next(y for y in self.cfg.yots if y != STALE_YOT)
        for status, dob in (("On hold", "01/02/2010"), ("Engaged", "31/02/2010")):
            p = self.person(self.night, 15)
            row = self.case_row(p, None, self.night - timedelta(days=30), "other")
            row.update({"Status": status, "Date of Birth": dob})
            self.cases[bad_yot].append(row)
        self.truth["caseload_rows_quarantined"] = 2

    def build(self) -> None:
        for story, (weight, _, _) in STORIES.items():
            for _ in range(weight):
                self.eligible_referral(story)
        for reason, n in (("adult", 60), ("larger_quantity", 14), ("intent_to_supply", 10),
                          ("supply", 6), ("no_drug_found", 70)):
            for _ in range(n):
                self.ineligible(reason)
        for problem in ("blank_dob", "unknown_area", "bad_pnc", "under_ten", "bad_quantity",
                        "unknown_drug", "bad_legislation"):
            self.quarantined(problem)
        for _ in range(3):
            self.repeat_after_completion()
        self.birthday_edges()
        self.distractor_cases()
        # stops without a person: vehicle searches, and blanks like the published data
        for _ in range(12):
            when = self.stop_time(self.rng.randint(0, 88))
            row = self.stop(None, when, self.rng.choice(list(self.cfg.areas)),
                            SEARCH_TYPE="Vehicle search", OBJECT_OF_SEARCH=self.rng.choice(["Stolen goods", ""]),
                            LEGISLATION="Police and Criminal Evidence Act 1984 (section 1)", OUTCOME="",
                            OFFICER_ACTION=None)
            self.truth["ineligible"][row["STOP_REF"]] = "no_drug_found"
        self.rng.shuffle(self.stops)
        for key in ("eligible_stop_refs", "escalated_referral_refs", "escalated_person_ids",
                    "quarantined_stop_refs"):
            self.truth[key] = sorted(set(self.truth[key]))


def _write_records_db(path: Path, config: SchemeConfig, stops: list[dict]) -> None:
    columns = list(config.records_system.columns.values())
    types = {c: "REAL" if c == config.records_system.columns["quantity"] else "TEXT" for c in columns}
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as con:
        table = config.records_system.table
        con.execute(f'CREATE TABLE "{table}" ({", ".join(f"{c} {types[c]}" for c in columns)}, '
                    f'PRIMARY KEY ({config.records_system.columns["stop_ref"]}))')
        con.executemany(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(columns))})',
                        [[row.get(c) for c in columns] for row in stops])
        con.execute(f'CREATE INDEX ix_stop_time ON "{table}" ({config.records_system.columns["stop_time"]})')
        con.execute(f'CREATE INDEX ix_modified ON "{table}" ({config.records_system.columns["last_modified"]})')


def _write_caseloads(sftp_root: Path, config: SchemeConfig, night: date,
                     cases: dict[str, list[dict]], rng: random.Random) -> None:
    header = list(config.caseload.columns.values())
    for yot_id, rows in cases.items():
        yot = config.yots[yot_id]
        folder = sftp_root / yot.export_dir
        folder.mkdir(parents=True, exist_ok=True)
        if yot.inbox_dir:  # the YOT's side makes its inbox; the archive the pipeline makes itself
            (sftp_root / yot.inbox_dir).mkdir(parents=True, exist_ok=True)
        if yot_id == STALE_YOT:
            continue
        rows = sorted(rows, key=lambda r: r["YOT Case ID"])
        rng.shuffle(rows)
        name = config.caseload.file_name(yot_id, night)
        encoding = "cp1252" if yot_id == "oxfordshire" else "utf-8-sig"
        with open(folder / name, "w", encoding=encoding, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)
        if yot.companion != "none":  # written last, as a YOT's export job would: the file is complete
            digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            (folder / f"{name}.{yot.companion}").write_text(f"{digest}  {name}\n")
        # yesterday's export is still in the folder: the pipeline must pick tonight's by name
        older = config.caseload.file_name(yot_id, night - timedelta(days=1))
        with open(folder / older, "w", encoding="utf-8", newline="") as fh:
            csv.DictWriter(fh, fieldnames=header).writeheader()


def generate_world(root: Path, config: SchemeConfig, *, night: date = DEMO_NIGHT,
                   seed: int = DEMO_SEED, sftp_root: Path | None = None) -> DemoWorld:
    """Write the records database, the YOT exports and ground_truth.json under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    gen = _Generator(config, night, seed)
    gen.build()
    sftp_root = sftp_root or root / "sftp"
    records_db = root / "records.db"
    _write_records_db(records_db, config, gen.stops)
    _write_caseloads(sftp_root, config, night, gen.cases, gen.rng)
    gen.truth["stops"] = len(gen.stops)
    gen.truth["caseload_rows"] = {y: len(r) for y, r in gen.cases.items() if y != STALE_YOT}
    truth_path = root / "ground_truth.json"
    truth_path.write_text(json.dumps(gen.truth, indent=1, ensure_ascii=False), encoding="utf-8")
    return DemoWorld(root=root, night=night, records_db=records_db, sftp_root=sftp_root,
                     truth_path=truth_path, truth=gen.truth)
