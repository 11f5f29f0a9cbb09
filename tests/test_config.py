"""The scheme configuration loads, and a bad key is named in the error."""
from pathlib import Path

import pytest
import yaml

from schemas.config import DEFAULT_CONFIG_PATH, ConfigError, load_config


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    mutate(raw)
    path = tmp_path / "scheme.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


def test_embedded_defaults_load():
    config = load_config()
    assert config.district_to_yot()["RG14"] == "west_berkshire"
    assert config.eligibility.drug(" Cannabis ").drug_class == "B"
    assert set(config.areas) >= {"Reading", "West Berkshire", "Windsor & Maidenhead"}
    assert config.caseload.file_name("reading", __import__("datetime").date(2026, 3, 2)) == \
        "caseload_reading_20260302.csv"


@pytest.mark.parametrize("mutate, expected", [
    (lambda r: r["engagement"]["deadlines"].update(first_contact=0), "engagement.deadlines.first_contact"),
    (lambda r: r["areas"]["Reading"].update(default_yot="nowhere"), "areas.Reading.default_yot"),
    (lambda r: r["yots"]["reading"].update(postcode_districts=["RG14"]), "RG14 is already served"),
    (lambda r: r["records_system"]["columns"].pop("surname"), "no source column mapped for: surname"),
    (lambda r: r["records_system"].update(table="x; DROP TABLE y"), "not a plain table name"),
    (lambda r: r["supervisor_groups"]["north"].update(recipients=["not-an-address"]), "not an email address"),
    (lambda r: r.update(unexpected_section=1), "unexpected_section"),
    (lambda r: r["eligibility"]["drugs"]["cannabis"].update(unit="kg"), "drugs.cannabis.unit"),
])
def test_bad_configuration_names_the_key(tmp_path, mutate, expected):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, mutate))
    assert expected in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_ethnicity_is_optional_in_the_stop_mapping(tmp_path):
    """Sensitive and optional: the shipped configuration leaves it out; a force may map it."""
    assert not {"self_defined_ethnicity", "officer_defined_ethnicity"} & set(
        load_config().records_system.columns)
    config = load_config(_write(tmp_path, lambda r: r["records_system"]["columns"].update(
        self_defined_ethnicity="SELF_ETHNICITY", officer_defined_ethnicity="OFFICER_ETHNICITY")))
    assert config.records_system.columns["officer_defined_ethnicity"] == "OFFICER_ETHNICITY"
    with pytest.raises(ConfigError, match="unknown pipeline field"):
        load_config(_write(tmp_path, lambda r: r["records_system"]["columns"].update(religion="RELIGION")))
