"""Generated documentation stays in step with the code it is generated from."""

import re
from pathlib import Path

import yaml

from ml.config.yaml_files import read_yaml
from ml.data.dictionary import DICTIONARY_PATH, render
from ml.data.schema import GENERATED_TABLES
from tests.cli_process import hrob


def test_data_dictionary_is_up_to_date():
    assert DICTIONARY_PATH.read_text() == render(), "run: hrob data dictionary"


def test_every_column_has_a_meaning():
    for table in GENERATED_TABLES.values():
        for column in table.columns:
            assert column.meaning.strip(), f"{table.name}.{column.name}"


def test_feature_dictionary_is_up_to_date():
    result = hrob("features", "dictionary", "--check")
    assert result.returncode == 0, result.stderr


def test_feature_dictionary_check_fails_when_the_selection_changed(config_copy: Path):
    """Dropping a group changes the `selected` column: the check names the file and the fix."""
    path = config_copy / "features" / "feature_selection_config.yml"
    data = read_yaml(path)
    data["keep"] = [group for group in data["keep"] if group != "labs"]
    path.write_text(yaml.safe_dump(data))
    result = hrob("features", "dictionary", "--check", "--config-dir", str(config_copy))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: feature_dictionary.md is out of date: run hrob features dictionary"


def test_the_dictionary_says_whether_each_feature_is_selected_and_how_it_is_imputed():
    from ml.config.loader import load_settings
    from ml.features.dictionary import render

    settings = load_settings("local")
    rows = {line.split("|")[1].strip(" `"): line.split("|") for line in render(settings).splitlines() if "| `" in line}
    selected = set(settings.features.selected())
    assert len(rows) == len(settings.features.mappings.group_of())
    for name, cells in rows.items():
        assert cells[4].strip() == ("yes" if name in selected else "no"), name
    assert rows["demographics__age_years"][5].strip() == "mean"
    assert rows["enrollment__enrolled_at_as_of"][5].strip() == "constant 0"
    assert rows["labs__bmi__last_value"][5].strip() == "leave missing + indicator"


def test_every_feature_has_a_readable_name_without_column_syntax():
    from ml.features.definitions import catalogue

    for feature in catalogue([3, 6, 12, 24]):
        assert feature.description.strip() and "__" not in feature.description, feature.name


def test_readable_names_read_as_sentences():
    """Care managers read them as a member's top factors: capitalised, acronyms spelled."""
    from ml.features.definitions import catalogue, descriptions

    names = {f.name: f.description for f in catalogue([3, 6, 12, 24])}
    for name, text in names.items():
        assert text[0].isupper() or text[0].isdigit(), name
        assert not re.search(r"\b(bmi|Bmi|hba1c|Hba1c|hiv|Hiv|tsh|Tsh|pcos|Pcos|nicu|Nicu|bp)\b", text), text
    assert names["labs__bmi__last_value"] == "Last BMI result"
    assert names["labs__hba1c__max_12m"] == "Highest HbA1c in the last 12 months"
    assert names["demographics__language__spanish"] == "Primary language: Spanish"
    assert names["ob_history__history_preeclampsia__count_12m"] == "History of preeclampsia coded in the last 12 months"
    assert descriptions([12])["labs__bmi__last_value__missing"] == "Last BMI result: not recorded"
