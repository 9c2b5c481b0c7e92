"""Generated documentation stays in step with the code it is generated from."""

from ml.data.dictionary import DICTIONARY_PATH, render
from ml.data.schema import GENERATED_TABLES


def test_data_dictionary_is_up_to_date():
    assert DICTIONARY_PATH.read_text() == render(), "run: hrob data dictionary"


def test_every_column_has_a_meaning():
    for table in GENERATED_TABLES.values():
        for column in table.columns:
            assert column.meaning.strip(), f"{table.name}.{column.name}"


def test_feature_dictionary_is_up_to_date():
    from ml.config.loader import load_settings
    from ml.features.dictionary import FEATURE_DICTIONARY_PATH
    from ml.features.dictionary import render as render_features

    assert FEATURE_DICTIONARY_PATH.read_text() == render_features(load_settings("local")), (
        "run: hrob features dictionary"
    )


def test_every_feature_has_a_readable_name_without_column_syntax():
    from ml.features.definitions import catalogue

    for feature in catalogue([3, 6, 12, 24]):
        assert feature.description.strip() and "__" not in feature.description, feature.name
