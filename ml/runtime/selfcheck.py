"""Start each local part once and report it: configuration, Spark, the table adapter, MLflow."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    part: str
    detail: str
    seconds: float


def _timed(part: str, action: Callable[[], str]) -> Check:
    start = time.perf_counter()
    detail = action()
    return Check(part, detail, time.perf_counter() - start)


def run_checks(env: str, config_dir=None) -> list[Check]:
    from ml.config.loader import load_settings

    checks: list[Check] = []
    holder: dict = {}

    def config() -> str:
        holder["settings"] = settings = load_settings(env, config_dir)
        return f"{settings.env}: model {settings.model_name}, tables {settings.namespace}"

    def spark() -> str:
        from ml.runtime.spark import get_spark

        holder["spark"] = session = get_spark()
        return f"Spark {session.version} on {session.sparkContext.master}"

    def tables() -> str:
        from ml.data.store import table_store

        store = table_store(holder["spark"], f"{holder['settings'].namespace}_selfcheck")
        store.overwrite(holder["spark"].range(3).toDF("n"), "roundtrip")
        rows = store.read("roundtrip").count()
        return f"wrote and read {rows} rows at {store.location('roundtrip')}"

    def mlflow() -> str:
        import mlflow as mf

        from ml.runtime.tracking import configure_mlflow

        store = configure_mlflow(holder["settings"].environment.experiment_path)
        experiment = mf.get_experiment_by_name(holder["settings"].environment.experiment_path)
        return f"MLflow {mf.__version__}: {store.tracking_uri} (experiment id {experiment.experiment_id})"

    for part, action in (("configuration", config), ("spark", spark), ("tables", tables), ("mlflow", mlflow)):
        checks.append(_timed(part, action))
    return checks
