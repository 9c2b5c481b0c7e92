"""Local MLflow: SQLite tracking and registry under HROB_HOME, models resolved by alias."""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow import MlflowClient

from ml.runtime.tracking import configure_mlflow


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.Series:
        return model_input["x"] * 2


def test_register_and_resolve_by_alias(hrob_home):
    store = configure_mlflow("/Shared/hrob/test/tracking")
    assert store.tracking_uri.startswith("sqlite:///") and str(hrob_home) in store.tracking_uri
    assert mlflow.get_registry_uri() == store.tracking_uri

    name = "test.tracking.doubler"
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name=name)
    client = MlflowClient()
    version = client.search_model_versions(f"name='{name}'")[0]
    assert version.run_id == run.info.run_id
    client.set_registered_model_alias(name, "champion", version.version)

    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert model.predict(pd.DataFrame({"x": [1.5]})).tolist() == [3.0]
    artifact_uri = mlflow.get_run(run.info.run_id).info.artifact_uri
    assert str(hrob_home / "mlflow" / "artifacts") in artifact_uri


def test_doctor_reports_each_part_as_json(spark, monkeypatch, capsys):
    """`hrob doctor --json`: configuration, Spark, tables and MLflow, each with its time."""
    import json

    from tests.cli_process import run_cli

    code, out, _ = run_cli(["doctor", "--json"], monkeypatch, capsys)
    assert code == 0
    parts = json.loads(out)
    assert [p["part"] for p in parts] == ["configuration", "spark", "tables", "mlflow"]
    assert all(set(p) == {"part", "detail", "seconds"} for p in parts)
