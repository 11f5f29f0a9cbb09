"""Rows failing each check, counted one way for the state database and the night's log."""
import pandas as pd

from transforms.check_counts import rows_per_check, summarise_failures


def _failures():
    return pd.DataFrame([
        {"row": 0, "field": "pnc_id", "check": "check letter"},
        {"row": 0, "field": "pnc_id", "check": "check letter"},        # the same finding twice
        {"row": 3, "field": "pnc_id", "check": "check letter"},
        {"row": 3, "field": "date_of_birth", "check": "aged 10 to 17"},
        {"row": 4, "field": None, "check": "offence recorded when a drug was found"},
        {"row": 5, "field": None, "check": "offence recorded when a drug was found"},
        {"row": 6, "field": None, "check": "offence recorded when a drug was found"},
    ])


def test_each_row_counts_once_per_check_and_row_checks_have_no_field():
    assert rows_per_check(_failures()).to_dict() == {
        ("", "offence recorded when a drug was found"): 3,
        ("date_of_birth", "aged 10 to 17"): 1,
        ("pnc_id", "check letter"): 2}


def test_the_log_line_puts_the_commonest_check_first():
    assert summarise_failures(_failures()) == (
        "offence recorded when a drug was found (3); pnc_id: check letter (2); "
        "date_of_birth: aged 10 to 17 (1)")
