"""End to end: the demo's flow through the local runner, on the synthesized dev stack and the
session's test cohort (conftest.demo_flow): features (with backfill), training (train,
validate, promote), inference (score, outreach) and monitoring. The champion, the
predictions and the outreach list must exist and agree with each other and with
demo_summary.json; the files it writes for people must open."""

from __future__ import annotations

import json
import re
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
    monitoring = Path(saved["files"]["monitoring_report"]).read_text()
    assert monitoring.count("data:image/png;base64,") == 1
    check_monitoring_report_reads_as_written(monitoring)
    card = (hrob_home / "reports").glob("*_model_card.html")
    assert [str(p) for p in card] == [saved["files"]["model_card"]]
    page = Path(saved["files"]["model_card"]).read_text()
    assert all(f"<h2>{section}</h2>" in page for section in SECTIONS)
    assert page.count("data:image/png;base64,") == 3, "calibration, ROC and precision-recall curves embedded"
    top = page.split("<h2>Top features</h2>")[1].split("<h2>")[0]
    assert "<td>" in top and "__" not in top, "features by readable name"
    assert 20_000 < len(page) < 2_000_000
    check_card_reads_as_written(page)

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
    exported = json.loads(out)
    finds = exported.pop("what_the_list_finds")
    assert exported == {
        "path": str(listed_csv),
        "rows": len(listed),
        "ranked": saved["outreach_members"],
        "already_known": saved["outreach_already_known"],
    }
    assert re.match(r"A list of the top \d+% of pregnancies at each landmark reached \d+% of the pregnancies", finds)
    assert "most high-risk pregnancies are not on it" in finds, "the list's reach said plainly"
    factors = listed["top_factor_1"].dropna()
    assert factors.str.fullmatch(r"[^_]+: .+ \((raises|lowers) risk\)").all(), factors.head(3).tolist()
    assert listed_csv.read_text() == Path(saved["files"]["outreach_csv"]).read_text()
    code, _, err = hrob("outreach", "export", "--env", "dev", "--date", "2020-01-01")
    assert code == 2
    assert "outreach_list has no list for 2020-01-01: nobody was scored that day (" in err


def card_cells(page: str) -> dict[str, list[str]]:
    """Every table cell's text, by the section (h2) it sits in."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.section, self.cells, self.text, self.inside = "", {}, "", None

        def handle_starttag(self, tag, attrs):
            if tag in ("h2", "td"):
                self.inside, self.text = tag, ""

        def handle_endtag(self, tag):
            if tag == "h2":
                self.section = self.text.strip()
            elif tag == "td":
                self.cells.setdefault(self.section, []).append(self.text.strip())
            self.inside = None

        def handle_data(self, data):
            if self.inside:
                self.text += data

    parser = Cells()
    parser.feed(page)
    return parser.cells


def check_card_reads_as_written(page: str) -> None:
    """Counts as whole numbers, codes as words, every listed rate with its interval and
    counts, each check with a verdict."""
    import re

    cells = card_cells(page)
    everything = [c for section in cells.values() for c in section]
    # a rate may be 0.000; a whole number with decimals is a count printed as a float
    floats = [(name, section[max(0, i - 3) : i + 1]) for name, section in cells.items()
              for i, c in enumerate(section) if re.fullmatch(r"-?[1-9][\d,]*\.000", c)]  # fmt: skip
    assert not floats, f"a count printed as a float: {floats[:3]}"
    assert not [c for c in everything if "_" in c and " " not in c and not c.startswith(("test_", "/"))], (
        "a raw key or code"
    )
    rate = re.compile(r"\d\.\d{3} \[\d\.\d\d, \d\.\d\d\] \([\d,]+ of [\d,]+\)")
    by_landmark = cells["By landmark"]
    assert sum(bool(rate.fullmatch(c)) for c in by_landmark) >= 4, by_landmark
    assert any(rate.fullmatch(c) for c in cells["Subgroups"]), "subgroup rates with their counts"
    assert "20 to 34" in cells["Subgroups"] and "english" not in cells["Subgroups"], "cells by name"
    assert "PASS" in cells["Promotion decision"], cells["Promotion decision"][:20]
    assert any(c in ("PASS", "FAIL") for c in cells["Performance against the reference"])
    for section in ("Intended use", "Label and window", "Limitations"):
        assert f"<h2>{section}</h2>" in page
    assert cells["Owner"][1] and cells["Fairness"], "an owner and the fairness table"


def check_monitoring_report_reads_as_written(page: str) -> None:
    """Every check with a verdict, readable names, no `nan`, counts whole."""
    import re

    cells = card_cells(page)
    (table,) = [c for section, c in cells.items() if section.startswith("Checks on ")]
    rows = [table[i : i + 7] for i in range(0, len(table), 7)]
    assert rows and all(len(r) == 7 for r in rows)
    verdicts = {r[5] for r in rows}
    assert verdicts <= {"CROSSED", "PASS", "-"} | {v for v in verdicts if v.startswith("not judged (")}
    assert "PASS" in verdicts or "CROSSED" in verdicts
    assert not re.search(r"\bnan\b", " ".join(table).lower()), "no nan where a threshold is missing"
    assert not [r for r in rows if "__" in r[1] or r[1].startswith("feature=")], "features by readable name"
    assert not [r for r in rows if re.fullmatch(r"[\d,]+\.0+", r[4])], "row counts whole"
