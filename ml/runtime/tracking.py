"""MLflow set-up: SQLite tracking and registry under HROB_HOME locally, Unity Catalog on Databricks."""

from __future__ import annotations

import logging
import os
import sys
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
        """The command as a user can paste it: the hrob beside this interpreter (.venv/bin),
        which is on no PATH by default (ml/runtime/servers.py says how it runs MLflow's UI)."""
        hrob = Path(sys.executable).with_name("hrob")
        return f"{hrob if hrob.exists() else 'hrob'} ui"


def local_store() -> TrackingStore:
    folder = local_dir("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    _default_artifacts_beside_the_database()
    return TrackingStore(uri, uri, local_dir("mlflow", "artifacts"))


def _default_artifacts_beside_the_database() -> None:
    """MLflow opens a SQLite store with `./mlruns` of the working folder as its default
    artifact root: it creates that folder, and a new database's Default experiment points
    there. Open SQLite stores with `artifacts/` beside the database instead (through
    MLflow's store registry, the hook tracking-store plugins use)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    def sqlite_store(store_uri: str, artifact_uri: str | None = None) -> SqlAlchemyStore:
        database = Path(store_uri.removeprefix("sqlite:///"))
        return SqlAlchemyStore(store_uri, artifact_uri or (database.parent / "artifacts").as_uri())

    _tracking_store_registry.register("sqlite", sqlite_store)


def configure_mlflow(experiment_path: str | None = None) -> TrackingStore:
    """Point MLflow at the right store and, when given, make the experiment current."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per download otherwise
    for chatty in ("alembic", "mlflow.store.db.utils"):  # ~50 INFO lines of schema migration per new store
        logging.getLogger(chatty).setLevel(logging.WARNING)
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
