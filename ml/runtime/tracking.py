"""MLflow set-up: SQLite tracking and registry under HROB_HOME locally, Unity Catalog on Databricks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ml.runtime.paths import local_dir
from ml.runtime.platform import on_databricks


@dataclass(frozen=True)
class TrackingStore:
    tracking_uri: str
    registry_uri: str
    artifact_root: Path | None  # local only: where runs' artifacts are written

    def ui_command(self) -> str:
        return f"mlflow ui --backend-store-uri {self.tracking_uri}"


def local_store() -> TrackingStore:
    folder = local_dir("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return TrackingStore(uri, uri, local_dir("mlflow", "artifacts"))


def configure_mlflow(experiment_path: str | None = None) -> TrackingStore:
    """Point MLflow at the right store and, when given, make the experiment current."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per download otherwise
    store = TrackingStore("databricks", "databricks-uc", None) if on_databricks() else local_store()
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.registry_uri)
    if experiment_path:
        _use_experiment(experiment_path, store)
    return store


def _use_experiment(path: str, store: TrackingStore) -> None:
    import mlflow

    if store.artifact_root is None:  # Databricks: Terraform created it
        mlflow.set_experiment(path)
        return
    experiment = mlflow.get_experiment_by_name(path)
    if experiment is None:
        # Each experiment gets its own artifact folder beside the SQLite database.
        name = path.strip("/").replace("/", "__")
        location = (store.artifact_root / name).as_uri()
        mlflow.create_experiment(path, artifact_location=location)
    mlflow.set_experiment(path)
