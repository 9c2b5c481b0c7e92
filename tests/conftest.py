"""Shared fixtures. One local Spark session serves the whole test run; all local state
goes to a temporary HROB_HOME so tests never touch .hrob/."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.isolated_python import isolated_python

REPO_ROOT = Path(__file__).resolve().parents[1]
COHORT_AS_OF = date(2026, 6, 15)  # the test cohort's "today": its last months have pregnancies open
COHORT = dict(members=2000, seed=11, start="2024-01", end="2026-06", partitions=2)
# The drifted copy: half as many members again join from May 2026, after the newest snapshot
# the champion trained on (so its reference is the world before them)
INFLUX_FROM = date(2026, 5, 1)
INFLUX = f"{INFLUX_FROM:%Y-%m}:0.5"
# Two and a half years of cohort: labelled 60 days after the outcome window closes, nine months held out,
# a larger test part than the default so the gate sees a few hundred holdout rows
SMALL_COHORT = {
    "training": {
        "censoring_margin_days": 60,
        "split_config": {"seed": 1729, "train": 0.5, "validation": 0.2, "test": 0.3},
    },
    "validation": {"holdout_months": 9},
}
CONFIGS = REPO_ROOT / "configs"

# Set before any test imports ml: every path is resolved from these.
_HOME = Path(tempfile.mkdtemp(prefix="hrob-test-home-"))
os.environ["HROB_HOME"] = str(_HOME)
os.environ.pop("HROB_CONFIG_DIR", None)
# Staging and prod stacks pin the commit their jobs run: a fixed one makes synthesis depend
# on the code only, also in a copy of the repository without .git.
os.environ["HROB_GIT_COMMIT"] = "0123456789abcdef0123456789abcdef01234567"
os.environ.setdefault("HROB_SPARK_MASTER", "local[2]")
os.environ.setdefault("HROB_SPARK_SHUFFLE_PARTITIONS", "4")
os.environ.setdefault("HROB_SPARK_DRIVER_MEMORY", "4g")
# Spark's Python workers run an interpreter that cannot import the project, as on a job
# cluster's executors: whatever a Spark task needs from `ml` must be shipped by the driver.
os.environ["HROB_WORKER_PYTHON"] = str(isolated_python(_HOME / "worker-python"))


def fingerprint(frame, by: str | None = None):
    """Rows and the sum of every row's hash (per value of `by` when given): equal for equal
    tables whatever the row order, in one pass; two exceptAll over a 600-column table cost
    several shuffles of wide rows."""
    from pyspark.sql import functions as F

    row_hash = F.xxhash64(*frame.columns).cast("decimal(38,0)")  # summed without overflow
    parts = [F.count("*").alias("rows"), F.sum(row_hash).alias("hashes")]
    if by is None:
        counted = frame.agg(*parts).first()
        return counted.rows, int(counted.hashes or 0)
    return {r[by]: (r.rows, int(r.hashes or 0)) for r in frame.groupBy(by).agg(*parts).collect()}


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def hrob_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def spark():
    from ml.runtime.spark import get_spark

    session = get_spark("hrob-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def synth_out(tmp_path_factory) -> Path:
    """Every stack synthesized once per test run, the way `hrob infra synth` does: the output folder."""
    from ml.cli.infra_cmd import synthesize

    outdir = tmp_path_factory.mktemp("cdktf.out")
    assert synthesize(outdir, quiet=True) == 0
    return outdir


@pytest.fixture(autouse=True)
def _config_dir_restored():
    """CLI commands given --config-dir export HROB_CONFIG_DIR for their subprocesses:
    undo it after each test so no test reads another's configuration."""
    before = os.environ.get("HROB_CONFIG_DIR")
    yield
    if before is None:
        os.environ.pop("HROB_CONFIG_DIR", None)
    else:
        os.environ["HROB_CONFIG_DIR"] = before


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of configs/ for tests that break it on purpose."""
    target = tmp_path / "configs"
    shutil.copytree(CONFIGS, target)
    return target


def settings_for(configs: Path, env: str = "local"):
    from ml.config.loader import load_settings

    return load_settings(env, configs)


@pytest.fixture(scope="session")
def cohort_settings(spark, tmp_path_factory):
    """A small synthetic cohort shared by the feature, training and inference tests:
    sources in test.sources, outputs in test.hrob (configs copied and pointed there)."""
    from ml.data.store import table_store
    from ml.synth.generate import cohort_spec, generate

    configs = _env_configs(
        tmp_path_factory.mktemp("cohort") / "configs",
        CONFIGS,
        "local",
        catalog="test",
        schema="hrob",
        source_schema="test.sources",
        experiment_path="/Shared/hrob/test/hrob_risk",
        overrides=SMALL_COHORT,
    )
    settings = settings_for(configs)
    generate(spark, table_store(spark, "test.sources"), cohort_spec(**COHORT), overwrite=True)
    return settings


def _env_configs(target: Path, source: Path, env: str, **environment) -> Path:
    """A copy of the configuration folder `source` whose `env` environment reads and writes
    where `environment` says, with its `overrides`, if given, merged into the file's own."""
    import yaml

    from ml.config.yaml_files import read_yaml

    shutil.copytree(source, target)
    path = target / "environments" / f"{env}.yml"
    data = read_yaml(path)
    overrides = environment.pop("overrides", None)
    data.update(environment)
    if overrides:
        merged = data.get("overrides") or {}
        for section, values in overrides.items():
            merged[section] = {**merged.get(section, {}), **values}
        data["overrides"] = merged
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


class _ConfigDir:
    """HROB_CONFIG_DIR set for the duration of a `with` block (the runner's tasks read it)."""

    def __init__(self, configs: Path):
        self.configs, self.previous = configs, None

    def __enter__(self):
        self.previous = os.environ.get("HROB_CONFIG_DIR")
        os.environ["HROB_CONFIG_DIR"] = str(self.configs)

    def __exit__(self, *_):
        if self.previous is None:
            os.environ.pop("HROB_CONFIG_DIR", None)
        else:
            os.environ["HROB_CONFIG_DIR"] = self.previous


@pytest.fixture(scope="session")
def demo_flow(spark, cohort_settings, tmp_path_factory):
    """`make demo`'s flow through the local runner on the test cohort, once per session: the
    dev stack's jobs as synthesized (features with backfill, training, inference,
    monitoring), their dev settings pointed at test.sources and test.dev, as of
    COHORT_AS_OF, with a one-trial search and floors a small holdout can meet.
    (the configuration folder, the demo's summary)."""
    from ml.runner.demo import run_demo

    configs = _env_configs(
        tmp_path_factory.mktemp("e2e") / "configs",
        CONFIGS,
        "dev",
        catalog="test",
        schema="dev",
        source_schema=cohort_settings.environment.source_schema,
        overrides={
            "cohort": {"start": COHORT["start"]},  # the backfill starts where the fixture cohort does
            "training": {"max_evals": 1, "early_stopping_trials": 1, **SMALL_COHORT["training"]},
            "validation": {
                "min_auroc": 0.0,
                "min_auprc": 0.0,
                # a one-trial model of 2,000 members is nearly flat at a small landmark: its
                # calibration slope there is shown to be far from 1, which the floors allow here
                "calibration": {"slope": [0.05, 50.0], "max_abs_intercept": 5.0},
                "min_subgroup_episodes": 20,
                "bootstrap": {"replicates": 200, "confidence": 0.95, "seed": 1},
                **SMALL_COHORT["validation"],
            },
        },
    )
    with _ConfigDir(configs):
        summary = run_demo(today=COHORT_AS_OF)
    return configs, summary


@pytest.fixture(scope="session")
def features_written(spark, cohort_settings, demo_flow):
    """The feature job run once on the test cohort (daily snapshot plus backfill from
    2024-01-01), shared by the feature, training and inference tests: the demo flow's run
    through the runner (the same code and feature settings), its tables copied from test.dev
    to test.hrob. (the output store, the job's result)."""
    from ml.data import outputs
    from ml.data.store import table_store

    _, summary = demo_flow
    ran, store = table_store(spark, "test.dev"), table_store(spark, cohort_settings.namespace)
    for table in (outputs.FEATURES, outputs.REJECTIONS):
        shutil.copytree(ran.location(table), store.location(table))
    return store, {"feature_rows": int(summary["feature_job"]["feature_rows"])}


@pytest.fixture(scope="session")
def training_set(spark, cohort_settings, features_written):
    """The cohort's landmark training set as known on COHORT_AS_OF, built once and held
    (checkpointed: `prepare` unpersists what it is given) for the tests that read it."""
    import dataclasses

    from ml.data.store import table_store
    from ml.features.training_set import build

    store, _ = features_written
    sources = table_store(spark, cohort_settings.environment.source_schema)
    training = build(cohort_settings, sources, store, COHORT_AS_OF)
    return dataclasses.replace(training, frame=training.frame.localCheckpoint())


def with_training(settings, **changes):
    """`settings` with training.* replaced (a fast search in tests)."""
    import dataclasses

    training = settings.project.training.model_copy(update=changes)
    return dataclasses.replace(settings, project=settings.project.model_copy(update={"training": training}))


@pytest.fixture(scope="session")
def drift_flow(spark, demo_flow, features_written, tmp_path_factory):
    """The demo's day again after an influx of new members (INFLUX): the cohort regenerated
    with the newcomers into test.sources_influx (every other row as before), the demo's
    feature table and champion copied to test.drift, then the dev stack's feature (every
    day since the influx), inference (the monitoring window's dates) and monitoring jobs
    through the runner. The monitor sees the drift but, with no new label since the
    champion's as-of date, does not retrain (`statuses["monitoring"]`); monitored again with
    the retrain rule relaxed (no labels needed, no cool-down), its run-job task starts the
    training job (three trials; `statuses["retraining"]`).
    {configs, statuses: {job: {task: status}}, champion: the copied version, features_before:
    the cohort's own members' snapshots by as-of date before the day's feature run,
    decisions: the monitor's retrain row (detail) of each run}."""
    from pyspark.sql import functions as F

    from ml.data import outputs
    from ml.data.store import table_store
    from ml.registry import client as registry
    from ml.runner.session import run
    from ml.runtime.tracking import configure_mlflow
    from ml.synth.generate import cohort_spec, generate

    demo_configs, _ = demo_flow
    # one partition where the test cohort has two: the cohort's own rows must not change either way
    spec = cohort_spec(**{**COHORT, "partitions": 1}, influx=INFLUX)
    generate(spark, table_store(spark, "test.sources_influx"), spec, overwrite=True)
    configs = _env_configs(
        tmp_path_factory.mktemp("drift") / "configs",
        demo_configs,
        "dev",
        schema="drift",
        source_schema="test.sources_influx",
        overrides={"training": {"max_evals": 3, "early_stopping_trials": 3}},
    )
    with _ConfigDir(configs):
        settings = settings_for(configs, "dev")
        demo = table_store(spark, "test.dev")
        shutil.copytree(
            demo.location(outputs.FEATURES), table_store(spark, settings.namespace).location(outputs.FEATURES)
        )
        configure_mlflow()
        copied = registry.client().copy_model_version(
            f"models:/test.dev.{settings.project.model.name}/1", settings.model_name
        )
        registry.client().set_registered_model_alias(settings.model_name, registry.CHAMPION, copied.version)
        cohort_members = F.col("member_id") <= COHORT["members"]
        features = table_store(spark, settings.namespace).read(outputs.FEATURES)
        before = fingerprint(features.where(cohort_members), by="as_of")
        day = COHORT_AS_OF.isoformat()
        window = settings.project.monitoring.window_days
        statuses, decisions = {}, []
        for job, params in (
            ("features", {"as_of": day, "backfill_from": INFLUX_FROM.isoformat()}),  # as daily runs would have
            (
                "inference",
                {"scoring_date": day, "backfill_from": (COHORT_AS_OF - timedelta(days=window - 1)).isoformat()},
            ),
            ("monitoring", {"scoring_date": day}),
        ):
            statuses[job] = {r.key: r.status for r in run("dev", job, params=params, in_process=True)}
        decisions.append(_retrain_row(spark, settings))
    relaxed = _env_configs(
        tmp_path_factory.mktemp("drift-relaxed") / "configs",
        configs,
        "dev",
        overrides={"monitoring": {"retrain": {"min_new_labels": 0, "cooldown_days": 0}}},
    )
    with _ConfigDir(relaxed):
        statuses["retraining"] = {
            r.key: r.status for r in run("dev", "monitoring", params={"scoring_date": day}, in_process=True)
        }
        decisions.append(_retrain_row(spark, settings))
    return {
        "configs": configs,
        "statuses": statuses,
        "champion": str(copied.version),
        "features_before": before,
        "decisions": decisions,
    }


def _retrain_row(spark, settings) -> str:
    from pyspark.sql import functions as F

    from ml.data import outputs
    from ml.data.store import table_store

    rows = table_store(spark, settings.namespace).read(outputs.MONITORING).where(F.col("check") == "retrain")
    return rows.first().detail


@pytest.fixture(scope="session")
def trained(drift_flow):
    """The training run the drift flow's monitor started (three trials, through the runner):
    (its settings, {model_version, training_run_id, job_run_id})."""
    from ml.registry import client as registry
    from ml.runtime.tracking import configure_mlflow

    settings = settings_for(drift_flow["configs"], "dev")
    configure_mlflow()
    version = registry.version(settings.model_name, int(drift_flow["champion"]) + 1)
    assert version is not None, "the monitoring job did not start the training job"
    result = {
        "model_version": str(version.version),
        "training_run_id": version.run_id,
        "job_run_id": version.tags["job_run_id"],
    }
    return settings, result
