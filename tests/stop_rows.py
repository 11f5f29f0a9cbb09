"""Raw stop rows as the records-system connector hands them over (text, times in UTC ISO)."""
import pandas as pd

from schemas.identifiers import pnc_check_letter

GOOD_PNC = f"09/1234567{pnc_check_letter(9, 1234567)}"


def raw_stop(**overrides) -> dict:
    row = {
        "stop_ref": "SS1", "stop_time": "2026-03-01T18:30:00+00:00", "area": "Reading",
        "person_id": "P1", "pnc_id": GOOD_PNC, "forename": "Zoë", "surname": "O'Brien",
        "date_of_birth": "2010-05-04", "gender": "Female", "postcode": "rg1 1aa",
        "search_type": "Person search", "age_range": "10-17",
        "legislation": "Misuse of Drugs Act 1971 (section 23)", "object_of_search": "Controlled drugs",
        "outcome": "Community resolution", "drug_name": "Cannabis", "drug_class": "B",
        "quantity": "2.5", "quantity_unit": "g", "offence": "Possession",
        "officer_action": "Referred", "last_modified": "2026-03-01T19:00:00+00:00",
    }
    row.update(overrides)
    return row


def raw_frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), dtype="str")
