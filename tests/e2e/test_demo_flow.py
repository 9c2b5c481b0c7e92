"""End to end: the demo's flow through the local runner, on the synthesized dev stack and the
session's test cohort (conftest.demo_flow): features (with backfill), training (train,
validate, promote), inference (score, outreach) and monitoring. The champion, the
predictions and the outreach list must exist and agree with each other and with
demo_summary.json; the files it writes for people must open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.spark]


@pytest.fixture
def dev_configs(demo_flow, monkeypatch):
    """The demo flow's configuration for this test (and the processes it starts)."""
    configs, _ = demo_flow
    monkeypatch.setenv("HROB_CONFIG_DIR", str(configs))
    return configs


def test_the_demo_flow_through_the_runner(spark, demo_flow, dev_configs, hrob_home):
    from pyspark.sql import functions as F

    from ml.config.loader import load_settings
    from ml.data import outputs
    from ml.data.store import table_store
    from ml.registry import client as registry
    from ml.runtime.tracking import configure_mlflow

    _, summary = demo_flow
    settings = load_settings("dev")
    saved = json.loads((hrob_home / "demo_summary.json").read_text())
    assert saved["champion_version"] == summary["champion_version"] == "1"
    assert saved["promotion_decision"] == "promote (first champion)"
    assert 0 <= saved["test_auroc"] <= 1
    landmarks = [lm.name for lm in settings.project.landmarks]
    assert list(saved["landmarks"]) == landmarks, "per-landmark test metrics of the champion's run"
    for metrics in saved["landmarks"].values():
        assert {"auroc", "auprc", "calibration_slope", "calibration_intercept", "ici", "ppv", "sensitivity"} <= set(
            metrics
        )
        assert metrics["flagged"] >= 1 and metrics["rows"] > 0, "PPV and sensitivity at capacity"
    assert sum(saved["scored_by_landmark"].values()) == saved["rows_scored"]
    # the lists hold pregnancies still under way, at a landmark reached this week, checked
    # against the generator's truth; the next morning (steady state) too
    lists = (saved["outreach_list"], saved["next_day"]["outreach_list"], saved["outreach_window"])
    assert saved["outreach_window"]["rows"] >= saved["outreach_list"]["rows"] and saved["outreach_window"]["dates"] > 5
    for truth in lists:
        if truth["rows"]:
            assert truth["past_expected_delivery"] == 0
            assert truth["max_days_since_landmark"] <= settings.project.inference.max_landmark_age_days
    assert 0 <= saved["outreach_window"]["share_already_carrying"] <= 0.2, "a few dozen rows on this small cohort"
    assert saved["next_day"]["rows_scored"] > 0
    assert set(saved["seconds"]) == {"cohort", "features", "training", "inference", "monitoring", "next_day", "total"}
    # the monitoring job as synthesized: its condition read the monitor's value; unless a
    # retrain was decided, the run-job task that starts training was excluded
    assert saved["monitoring"]["monitor"] == saved["monitoring"]["threshold_crossed"] == "succeeded"
    assert saved["monitoring"]["retrain"] == "excluded"

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
    assert len(outreach) - len(ranked) == saved["outreach_already_known"]
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


def test_what_people_open_after_the_demo(spark, dev_configs, hrob_home, monkeypatch, capsys, tmp_path):
    """After the flow above: the model card and the outreach CSV the summary links, the
    report, export and run commands with --json (stdout carries the JSON alone)."""

    import pandas as pd

    from ml.inference.export import LEADING
    from ml.registry.model_card import SECTIONS
    from tests.cli_process import run_cli

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
    assert len(listed) == saved["outreach_members"] + saved["outreach_already_known"]
    assert list(listed["outreach_rank"]) == list(range(1, len(listed) + 1)), "one rank sequence"
    assert (listed["section"] == "ranked").sum() == saved["outreach_members"]

    def hrob(*args: str) -> tuple[int, str, str]:
        return run_cli(list(args), monkeypatch, capsys)

    code, out, err = hrob("model", "report", "--env", "dev", "--json", "--html", "--output", str(tmp_path / "c.html"))
    assert code == 0, err
    reported = json.loads(out)
    assert reported["champion_version"] == "1" and reported["decision"] == "promote (first champion)"
    assert (tmp_path / "c.html").stat().st_size > 20_000

    code, out, err = hrob("run", "training", "--env", "dev", "--task", "promote", "--json")
    assert code == 0, err
    ran = json.loads(out)
    assert ran["status"] == "succeeded" and [t["task"] for t in ran["tasks"]] == ["promote"]
    assert "already the champion" in err, "the task's own output goes to stderr"

    listed_csv = tmp_path / "list.csv"
    date_ = saved["scoring_date"]
    code, out, err = hrob("outreach", "export", "--env", "dev", "--date", date_, "--output", str(listed_csv), "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "path": str(listed_csv),
        "rows": len(listed),
        "ranked": saved["outreach_members"],
        "already_known": saved["outreach_already_known"],
    }
    assert listed_csv.read_text() == Path(saved["files"]["outreach_csv"]).read_text()
    code, _, err = hrob("outreach", "export", "--env", "dev", "--date", "2020-01-01")
    assert code == 2
    assert "outreach_list has no list for 2020-01-01: nobody was scored that day (" in err
