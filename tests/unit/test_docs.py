"""Generated documentation stays in step with the code it is generated from."""

from ml.data.dictionary import DICTIONARY_PATH, render
from ml.data.schema import GENERATED_TABLES


def test_data_dictionary_is_up_to_date():
    assert DICTIONARY_PATH.read_text() == render(), "run: hrob data dictionary"


def test_every_column_has_a_meaning():
    for table in GENERATED_TABLES.values():
        for column in table.columns:
            assert column.meaning.strip(), f"{table.name}.{column.name}"
