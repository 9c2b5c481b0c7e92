"""End to end: the demo's flow through the local runner, on the synthesized dev stack and a
tiny cohort: cohort, features (with backfill), training (train, validate, promote),
inference (score, outreach). The champion, the predictions and the outreach list must
exist and agree with each other and with demo_summary.json."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import CONFIGS

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.spark]


@pytest.fixture(scope="module")
def small_dev_configs(tmp_path_factory):
    """configs/ with dev sized for a test: a tiny cohort, two trials, floors a tiny holdout can meet."""
    target = tmp_path_factory.mktemp("e2e") / "configs"
    shutil.copytree(CONFIGS, target)
    path = target / "environments" / "dev.yml"
    data = yaml.safe_load(path.read_text())
    data["overrides"] = {
        "cohort": {"members": 300, "start": "2025-09"},
        "training": {"max_evals": 1, "early_stopping_trials": 1},
        # 300 members give a holdout of a few dozen episodes: the floors only keep the flow going
        "validation": {
            "min_auroc": 0.0,
            "min_auprc": 0.0,
            "min_subgroup_episodes": 20,
            "bootstrap": {"replicates": 200, "confidence": 0.95, "seed": 1},
        },
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    previous = os.environ.get("HROB_CONFIG_DIR")
    os.environ["HROB_CONFIG_DIR"] = str(target)
    yield target
    if previous is None:
        os.environ.pop("HROB_CONFIG_DIR", None)
    else:
        os.environ["HROB_CONFIG_DIR"] = previous


def test_the_demo_flow_through_the_runner(spark, small_dev_configs, hrob_home):
    from pyspark.sql import functions as F

    from ml.config.loader import load_settings
    from ml.data import outputs
    from ml.data.store import table_store
    from ml.registry import client as registry
    from ml.runner.demo import run_demo
    from ml.runtime.tracking import configure_mlflow

    summary = run_demo(members=300)
    settings = load_settings("dev")
    saved = json.loads((hrob_home / "demo_summary.json").read_text())
    assert saved["champion_version"] == summary["champion_version"] == "1"
    assert saved["promotion_decision"] == "promote (first champion)"
    assert 0 <= saved["test_auroc"] <= 1
    landmarks = [lm.name for lm in settings.project.landmarks]
    assert list(saved["landmarks"]) == landmarks, "per-landmark test metrics of the champion's run"
    for metrics in saved["landmarks"].values():
        assert {"auroc", "auprc", "calibration_slope", "flagged_share", "sensitivity", "rows"} <= set(metrics)
        assert ("ppv" in metrics) == (metrics["flagged_share"] > 0), "PPV exactly where someone is flagged"
    assert sum(saved["scored_by_landmark"].values()) == saved["rows_scored"]
    assert 0 <= saved["outreach_share_already_coded"] <= 1
    assert set(saved["seconds"]) == {"cohort", "features", "training", "inference", "monitoring", "total"}
    # the monitoring job as synthesized: its condition read the monitor's value; unless a
    # threshold was crossed, the run-job task that starts training was excluded
    assert saved["monitoring"]["monitor"] == saved["monitoring"]["threshold_crossed"] == "succeeded"
    assert saved["monitoring"]["retrain"] in ("excluded", "succeeded")

    configure_mlflow()
    champion = registry.by_alias(settings.model_name, registry.CHAMPION)
    assert str(champion.version) == "1"

    store = table_store(spark, settings.namespace)  # the session reads what the task processes wrote
    day = F.lit(summary["scoring_date"]).cast("date")
    predictions = store.read(outputs.PREDICTIONS).where(F.col("scoring_date") == day).toPandas()
    assert len(predictions) == saved["rows_scored"] > 0
    assert set(predictions["model_version"]) == {"1"}
    assert {t: int((predictions["risk_tier"] == t).sum()) for t in saved["tier_counts"]} == saved["tier_counts"]
    outreach = store.read(outputs.OUTREACH).where(F.col("scoring_date") == day).toPandas()
    ranked = outreach[outreach["section"] == "ranked"]
    assert len(ranked) == saved["outreach_members"]
    assert len(outreach) - len(ranked) == saved["outreach_already_diagnosed"]
    assert set(outreach["listing"]) <= {"new"}, "a first scoring run lists everyone for the first time"
    joined = outreach.merge(predictions, on=["episode_id", "member_id"], suffixes=("", "_p"))
    assert len(joined) == len(outreach), "every outreach row is a prediction"
    assert (joined["risk_score"] == joined["risk_score_p"]).all() and (joined["landmark"] == joined["landmark_p"]).all()
    assert [r["episode_id"] for r in saved["outreach_head"]] == ranked.sort_values("outreach_rank")["episode_id"].head(
        5
    ).tolist()
    assert (predictions.groupby("episode_id").size() == 1).all(), "one prediction per pregnancy and day"


def test_unknown_names_list_the_valid_ones():
    from ml.runner.deployed import RunnerError
    from ml.runner.session import run

    with pytest.raises(RunnerError, match=r"unknown environment 'qa' \(environments: dev, prod, staging\)"):
        run("qa", "training")


def test_what_people_open_after_the_demo(spark, small_dev_configs, hrob_home, monkeypatch, capsys, tmp_path):
    """After the flow above: the model card and the outreach CSV the summary links, the
    report, export and run commands with --json (stdout carries the JSON alone)."""
    import sys

    import pandas as pd

    from ml.cli.main import main
    from ml.inference.export import LEADING
    from ml.registry.model_card import SECTIONS
    from tests.cli_process import hrob

    saved = json.loads((hrob_home / "demo_summary.json").read_text())
    assert Path(saved["files"]["monitoring_report"]).read_text().count("data:image/png;base64,") == 1
    card = (hrob_home / "reports").glob("*_model_card.html")
    assert [str(p) for p in card] == [saved["files"]["model_card"]]
    page = Path(saved["files"]["model_card"]).read_text()
    assert all(f"<h2>{section}</h2>" in page for section in SECTIONS)
    assert page.count("data:image/png;base64,") == 3, "calibration, ROC and precision-recall curves embedded"
    top = page.split("<h2>Top features</h2>")[1].split("<h2>")[0]
    assert "<td>" in top and "__" not in top, "features by readable name"
    assert 20_000 < len(page) < 2_000_000

    listed = pd.read_csv(saved["files"]["outreach_csv"])
    assert list(listed.columns[: len(LEADING)]) == LEADING
    assert len(listed) == saved["outreach_members"] + saved["outreach_already_diagnosed"]
    assert (listed["section"] == "ranked").sum() == saved["outreach_members"]

    report = hrob("model", "report", "--env", "dev", "--json", "--html", "--output", str(tmp_path / "card.html"))
    assert report.returncode == 0, report.stderr
    reported = json.loads(report.stdout)
    assert reported["champion_version"] == "1" and reported["decision"] == "promote (first champion)"
    assert (tmp_path / "card.html").stat().st_size > 20_000

    again = hrob("run", "training", "--env", "dev", "--task", "promote", "--json")
    assert again.returncode == 0, again.stderr
    ran = json.loads(again.stdout)
    assert ran["status"] == "succeeded" and [t["task"] for t in ran["tasks"]] == ["promote"]
    assert "already the champion" in again.stderr, "the task's own output goes to stderr"

    out = tmp_path / "list.csv"
    argv = ["hrob", "outreach", "export", "--env", "dev", "--date", saved["scoring_date"], "--output", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--json"])
    try:
        main()
    except SystemExit as done:
        assert not done.code
    exported = json.loads(capsys.readouterr().out)
    assert exported == {
        "path": str(out),
        "rows": len(listed),
        "ranked": saved["outreach_members"],
        "already_diagnosed": saved["outreach_already_diagnosed"],
    }
    assert out.read_text() == Path(saved["files"]["outreach_csv"]).read_text()
    monkeypatch.setattr(sys, "argv", ["hrob", "outreach", "export", "--env", "dev", "--date", "2020-01-01"])
    with pytest.raises(SystemExit) as refused:
        main()
    assert refused.value.code == 2
    assert "outreach_list has no list for 2020-01-01: nobody was scored that day (" in capsys.readouterr().err
