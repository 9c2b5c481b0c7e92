"""Champion/challenger rules as plain data: what passes, what blocks, what each mode does."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ml.config.models import ValidationSettings
from ml.errors import DataError
from ml.registry.decision import decide
from ml.training.prepare import check_counts


def _config(mode="enabled", **kw) -> ValidationSettings:
    return ValidationSettings(
        mode=mode,
        min_auroc=0.65,
        min_auprc=0.40,
        min_improvement=0.005,
        max_subgroup_drop=0.05,
        min_subgroup_episodes=100,
        **kw,
    )


def _groups(**aurocs) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"subgroup": "rurality", "value": k, "episodes": 500, "positives": 100, "auroc": v, "auprc": 0.5}
            for k, v in aurocs.items()
        ],
        columns=["subgroup", "value", "episodes", "positives", "auroc", "auprc"],
    )


GOOD = {"auroc": 0.75, "auprc": 0.55}
CHAMP = {"auroc": 0.74, "auprc": 0.54}


def test_first_champion_needs_only_the_minimums_in_every_mode():
    for mode in ("enabled", "dry_run", "disabled"):
        d = decide(_config(mode), "auroc", "1", None, GOOD, None, _groups(rural=0.7), None)
        assert d.promote and d.outcome == "promote (first champion)"
    low = decide(_config(), "auroc", "1", None, {"auroc": 0.6, "auprc": 0.55}, None, _groups(rural=0.7), None)
    assert not low.promote and [c.name for c in low.failed()] == ["min_auroc"]


def test_enabled_promotes_only_a_challenger_that_beats_the_champion_by_the_margin():
    d = decide(
        _config(), "auroc", "2", "1", GOOD, CHAMP, _groups(rural=0.72, urban=0.75), _groups(rural=0.72, urban=0.75)
    )
    assert d.passed and d.promote and d.outcome == "promote"
    barely = decide(_config(), "auroc", "2", "1", {"auroc": 0.743, "auprc": 0.55}, CHAMP, _groups(), _groups())
    assert not barely.promote
    assert [c.name for c in barely.failed()] == ["beats_champion_auroc"]


def test_a_subgroup_drop_beyond_the_limit_blocks_even_a_better_model():
    d = decide(
        _config(), "auroc", "2", "1", GOOD, CHAMP, _groups(rural=0.60, urban=0.80), _groups(rural=0.70, urban=0.74)
    )
    assert not d.promote
    assert [c.name for c in d.failed()] == ["subgroup_rurality_rural"]
    assert d.tags()["check_subgroup_rurality_rural"] == "fail"


def test_small_subgroup_cells_are_not_compared():
    d = decide(_config(), "auroc", "2", "1", GOOD, CHAMP, _groups(rural=math.nan), _groups(rural=0.9))
    assert d.promote and not any(c.name.startswith("subgroup_") for c in d.checks)


def test_dry_run_decides_and_records_but_never_moves_the_champion():
    d = decide(_config("dry_run"), "auroc", "2", "1", GOOD, CHAMP, _groups(), _groups())
    assert d.passed and not d.promote
    assert d.outcome == "dry run: challenger passed; champion unchanged"
    assert d.tags()["validation_passed"] == "true" and d.tags()["validation_promote"] == "false"


def test_disabled_leaves_the_champion_alone_without_comparing():
    d = decide(_config("disabled"), "auroc", "2", "1", GOOD, CHAMP, _groups(), _groups())
    assert not d.promote and all(c.name.startswith("min_") for c in d.checks)


def test_every_metric_and_check_is_in_the_tags_and_description():
    d = decide(_config(), "auroc", "2", "1", GOOD, CHAMP, _groups(rural=0.7), _groups(rural=0.7))
    tags = d.tags()
    assert tags["challenger_auroc"] == "0.7500" and tags["champion_auprc"] == "0.5400"
    assert {k for k in tags if k.startswith("check_")} == {f"check_{c.name}" for c in d.checks}
    assert "PASS beats_champion_auroc" in d.description()


@pytest.mark.parametrize(
    ("counts", "positives", "message"),
    [
        (
            {"train": 0, "validation": 0, "test": 0},
            {"train": 0, "validation": 0, "test": 0},
            "the training set is empty",
        ),
        (
            {"train": 50, "validation": 10, "test": 10},
            {"train": 0, "validation": 0, "test": 0},
            r"label high_risk has a single class \(all 0\) in 70 landmark rows",
        ),
        (
            {"train": 2, "validation": 0, "test": 0},
            {"train": 1, "validation": 0, "test": 0},
            "2 landmark rows are fewer than the 3 splits",
        ),
        (
            {"train": 50, "validation": 0, "test": 10},
            {"train": 5, "validation": 0, "test": 2},
            "split 'validation' is empty",
        ),
        (
            {"train": 50, "validation": 10, "test": 10},
            {"train": 5, "validation": 0, "test": 2},
            "split 'validation' has a single class",
        ),
    ],
)
def test_training_sets_that_cannot_train_a_model_stop_with_one_line(counts, positives, message):
    with pytest.raises(DataError, match=message) as error:
        check_counts("high_risk", counts, positives)
    assert "\n" not in str(error.value)
