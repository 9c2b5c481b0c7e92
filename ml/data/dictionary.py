"""docs/data_dictionary.md, generated from the table definitions in ml/data/schema.py."""

from __future__ import annotations

from ml.data.schema import GENERATED_TABLES, SOURCE_TABLES
from ml.runtime.paths import REPO_ROOT

DICTIONARY_PATH = REPO_ROOT / "docs" / "data_dictionary.md"


def render() -> str:
    lines = [
        "# Data dictionary",
        "",
        "Generated from `ml/data/schema.py` by `hrob data dictionary`; do not edit by hand.",
        "",
        "Source tables are what the plan's data platform provides (on Databricks) or what",
        "`hrob data generate` writes (locally). Tables marked generator only exist only for",
        "synthetic cohorts and no feature may read them.",
        "",
    ]
    for table in GENERATED_TABLES.values():
        role = "source table" if table.name in SOURCE_TABLES else "generator only"
        lines += [
            f"## {table.name} ({role})",
            "",
            table.description,
            "",
            f"Key: {', '.join(table.key)}",
            "",
            "| column | type | meaning | missing when |",
            "|---|---|---|---|",
        ]
        for column in table.columns:
            lines.append(f"| {column.name} | {column.type} | {column.meaning} | {column.missing or 'never'} |")
        lines.append("")
    return "\n".join(lines)


def write() -> bool:
    """Write the dictionary; True if it changed."""
    text = render()
    old = DICTIONARY_PATH.read_text() if DICTIONARY_PATH.exists() else None
    if old == text:
        return False
    DICTIONARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    DICTIONARY_PATH.write_text(text)
    return True
