"""The synthetic cohort written through Spark: schemas, refusal to overwrite, missingness
not at random, calibration to published rates on 50,000+ episodes, and identical tables
on one and two cores."""

from __future__ import annotations

import calendar
import json
from datetime import date

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml.data import schema as S
from ml.data.store import table_store
from ml.errors import DataError
from ml.synth.generate import build_tables, cohort_spec, episode_frame, generate
from ml.synth.profile import profile, rates_and_effects, within_targets
from ml.synth.targets import EFFECTS, ORACLE_AUROC
from tests.cli_process import run_cli
from tests.conftest import fingerprint

pytestmark = pytest.mark.spark

SMALL = dict(members=2500, seed=5, start="2022-01", end="2026-06")


@pytest.fixture(scope="module")
def small(spark):
    store = table_store(spark, "test.cohort_small")
    spec = cohort_spec(**SMALL, partitions=3)
    counts = generate(spark, store, spec, overwrite=True)
    return store, counts


def test_every_table_has_its_declared_schema(small):
    store, counts = small
    for name, table in S.GENERATED_TABLES.items():
        df = store.read(name)
        assert df.columns == table.names, name
        for column in table.columns:
            assert df.schema[column.name].dataType.simpleString() == column.type, (name, column.name)
            if not column.nullable:
                assert df.where(F.col(column.name).isNull()).count() == 0, (name, column.name)
        assert counts[name] > 0


def test_keys_are_unique_and_episodes_consistent(small):
    store, _ = small
    for name, table in S.GENERATED_TABLES.items():
        df = store.read(name)
        assert df.count() == df.select(*table.key).distinct().count(), name
    episodes = store.read("episodes")
    assert episodes.where("identified_date < lmp_date OR delivery_date < lmp_date").count() == 0
    assert episodes.where("delivery_recorded_date < delivery_date").count() == 0, "a claim after its service"
    assert episodes.where("gestational_age_weeks < 20 OR gestational_age_weeks > 42").count() == 0
    open_episodes = episodes.where("delivery_date IS NULL").count()
    assert open_episodes > 0, "episodes still open at the cut-off are what inference scores"
    outcomes = store.read("outcomes").join(episodes.select("episode_id"), "episode_id", "left_anti")
    assert outcomes.count() == 0


def test_refuses_to_overwrite_without_the_flag(spark, small):
    store, counts = small
    with pytest.raises(DataError, match=r"already exist.*--overwrite"):
        generate(spark, store, cohort_spec(members=10, seed=1, start="2024-01", end="2024-06"))
    assert store.read("members").count() == counts["members"]


def _ordered_before_identification(store, test: str) -> DataFrame:
    labs = store.read("lab_results").where(F.col("test_code") == test)
    episodes = store.read("episodes").select("episode_id", "member_id", F.col("identified_date").alias("known"))
    hits = (
        episodes.join(labs, "member_id")
        .where((F.col("order_date") < F.col("known")) & (F.col("order_date") >= F.date_sub("known", 365)))
        .select("episode_id")
        .distinct()
        .withColumn("ordered", F.lit(1))
    )
    return episodes.join(hits, "episode_id", "left").fillna(0, ["ordered"])


def test_missingness_is_not_at_random(small):
    """Whether an HbA1c was ordered depends on risk: that is the signal MNAR carries."""
    store, _ = small
    truth = store.read("oracle_episode_risk").select("episode_id", "bmi", "true_risk")
    ordered = _ordered_before_identification(store, "hba1c").join(truth, "episode_id")
    rates = {
        r["obese"]: r["rate"]
        for r in ordered.groupBy((F.col("bmi") >= 30).alias("obese")).agg(F.avg("ordered").alias("rate")).collect()
    }
    assert rates[True] > 1.5 * rates[False]
    risk = {r["ordered"]: r["risk"] for r in ordered.groupBy("ordered").agg(F.avg("true_risk").alias("risk")).collect()}
    assert risk[1] > risk[0] + 0.03


def test_profile_json_from_the_cli(small, monkeypatch, capsys, tmp_path):
    store, _ = small
    configs = tmp_path / "configs"
    import shutil

    from tests.conftest import CONFIGS

    shutil.copytree(CONFIGS, configs)
    env_file = configs / "environments" / "local.yml"
    env_file.write_text(
        env_file.read_text().replace("source_schema: local.sources", f"source_schema: {store.namespace}")
    )

    code, out, _ = run_cli(["data", "profile", "--json", "--config-dir", str(configs)], monkeypatch, capsys)
    result = json.loads(out)
    # the verdicts and exit status of the table output, sized to this 2,500-member cohort
    assert result["status"] == "ok" and code == 0, [k for k, v in result["base_rates"].items() if v["verdict"] != "ok"]
    assert all(r["verdict"] in ("ok", "uncertain") for r in result["base_rates"].values())
    assert {e["verdict"] for n, e in result["odds_ratios"].items() if EFFECTS[n].key} <= {"ok", "uncertain"}
    assert {"members", "episodes", "base_rates", "odds_ratios", "missingness", "oracle"} <= set(result)
    assert set(result["oracle"]) >= {"auroc", "auprc"}
    for entry in [*result["base_rates"].values(), *result["odds_ratios"].values()]:
        assert {"observed", "target"} <= set(entry)
    assert result["missingness"]["enrollment (no enrollment before the pregnancy)"] > 0.25


@pytest.mark.slow
def test_calibrated_to_published_rates_on_50k_episodes(spark):
    """Base rates within tolerance, key effects within 25%, oracle AUROC realistic."""
    store = table_store(spark, "test.cohort_calibration")
    spec = cohort_spec(members=37_000, seed=2026, start="2021-01", end="2026-11", partitions=4)
    ep = episode_frame(spark, spec).cache()
    cached = [ep]
    try:
        tables = build_tables(ep, spec, cached)
        core = ("members", "episodes", "outcomes", "oracle_episode_risk")
        store.overwrite_many({name: tables[name] for name in core})
    finally:
        for frame in cached:
            frame.unpersist()
    result = rates_and_effects(store)
    assert result["episodes"] >= 50_000
    failures = {name: ok for name, ok in within_targets(result).items() if not ok}
    assert not failures, json.dumps(
        {"failures": list(failures), "base_rates": result["base_rates"], "effects": result["odds_ratios"]},
        indent=1,
    )
    assert all(EFFECTS[n].key for n in EFFECTS if f"effect:{n}" in within_targets(result))
    low, high = ORACLE_AUROC
    assert low <= result["oracle"]["auroc"] <= high, result["oracle"]


def test_generate_from_the_cli_with_an_influx(spark, monkeypatch, tmp_path, capsys):
    """`hrob data generate ... --influx 2026-04:0.5 --json`: the newcomers join the cohort's
    members, the row counts on stdout, progress on stderr. (That the tables do not depend on
    the partitions is tests/e2e/test_monitoring_flow.py's: it compares the influx cohort,
    generated in one partition, with the test cohort, generated in two.)"""
    import shutil

    from tests.conftest import CONFIGS

    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    env_file = configs / "environments" / "local.yml"
    env_file.write_text(env_file.read_text().replace("source_schema: local.sources", "source_schema: test.cli_cohort"))
    options = ["--members=40", "--seed=3", "--start=2025-07", "--end=2026-06", "--influx=2026-04:0.5"]
    args = ["data", "generate", *options, "--partitions=1", "--overwrite", "--json", "--config-dir", str(configs)]
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    written = json.loads(out)
    assert written["schema"] == "test.cli_cohort" and set(written["rows"]) == set(S.GENERATED_TABLES)
    assert written["rows"]["members"] == 60 and "20 newcomers join" in err


def test_profile_reports_missingness_by_group(small):
    store, _ = small
    result = profile(store)
    shares = result["missingness"]
    assert 0.25 < shares["enrollment (no enrollment before the pregnancy)"] < 0.42
    assert 0.25 < shares["claims history (no diagnosis in the 12 months before the pregnancy)"] < 0.6
    assert 0.05 < shares["labs (ordered, no result returned)"] < 0.2


def test_rows_arrive_after_their_service_and_by_the_cut_off_with_published_lags(small):
    store, _ = small
    month = date.fromisoformat(f"{SMALL['end']}-01")
    cut_off = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    for table, service in (
        ("encounters", "encounter_date"),
        ("diagnoses", "service_date"),
        ("pharmacy_fills", "fill_date"),
        ("lab_results", "order_date"),
        ("sdoh_screenings", "screening_date"),
    ):
        df = store.read(table)
        assert df.where(F.col("received_date") < F.col(service)).count() == 0, table
        assert df.agg(F.max("received_date")).first()[0] == cut_off, f"{table}: rows up to the cut-off, none after"
    in_transit = store.read("oracle_diagnoses_in_transit")
    assert in_transit.where((F.col("received_date") <= cut_off) | (F.col("service_date") > cut_off)).count() == 0
    assert in_transit.count() > 0, "claims served in the last weeks are still in transit at the cut-off"
    assert in_transit.join(store.read("diagnoses"), "claim_line_id").count() == 0
    timing = profile(store)["timing"]
    for name in ("medical claims received within 90 days", "pharmacy claims received the same day"):
        assert timing[name]["low"] <= timing[name]["observed"] <= timing[name]["high"], (name, timing[name])
    births = store.read("episodes").where(F.col("loss_type").isNull())  # a loss before care: its own claim
    first_visit_claims = (
        births.join(store.read("encounters").where("encounter_type = 'prenatal'"), "member_id")
        .where(F.col("received_date") == F.col("identified_date"))
        .select("episode_id")
        .distinct()
        .count()
    )
    assert first_visit_claims > 0.8 * births.count(), "the first visit's claim identifies the episode"


def test_a_coding_drift_halves_a_conditions_codes_from_its_month_and_changes_nothing_else(spark, small):
    """`hrob data generate --coding-drift obesity:2025-01`: the same claims as without it,
    except that from January 2025 half of the obesity codes are missing (the tables as
    generate builds them, compared without writing them)."""
    from ml.data import value_sets as V

    store, _ = small
    spec = cohort_spec(**SMALL, partitions=3, drift="obesity:2025-01")
    episodes = episode_frame(spark, spec).cache()
    cached = [episodes]
    try:
        drifted = build_tables(episodes, spec, cached)["diagnoses"]
        obesity = F.lit(False)
        for prefix in V.CONDITIONS["obesity"]:
            obesity = obesity | F.col("icd10_code").startswith(prefix)
        changed = obesity & (F.col("service_date") >= F.lit(date(2025, 1, 1)))
        before, after = store.read("diagnoses"), drifted
        assert fingerprint(after.where(~changed)) == fingerprint(before.where(~changed)), "nothing else changes"
        kept = after.where(changed).count() / before.where(changed).count()
        assert 0.4 < kept < 0.6
        assert after.where(changed).join(before, "claim_line_id", "left_anti").count() == 0, "a subset: no new line"
    finally:
        for frame in cached:
            frame.unpersist()
