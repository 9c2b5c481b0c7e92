"""What runs on a cluster's executors, and where the registered model loads.

Spark's Python workers in this test session run an interpreter that cannot import the
project (tests/isolated_python.py, set in tests/conftest.py), as executors on a job
cluster cannot: every Spark test that trains (ml.training.distributed) or scores
(ml.inference.batches) therefore proves the package reaches the workers the way it does
on a cluster. This module checks that premise, and that the registered model loads and
predicts in a fresh process where pyspark cannot be imported.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from packaging.requirements import Requirement

from ml.runtime.shipping import PACKAGE, package_zip

pytestmark = [pytest.mark.spark]


def test_workers_run_an_interpreter_without_the_project_and_import_the_shipped_package(spark):
    def worker_view(_):  # nested: pickled by value, so the worker needs no `tests` package
        import importlib.util
        import os
        import sys

        import ml

        yield {
            "ml_file": ml.__file__,
            "cwd": os.getcwd(),
            "tests_importable": importlib.util.find_spec("tests") is not None,
            "site_imported": "site" in sys.modules,
        }

    assert os.environ["HROB_WORKER_PYTHON"].endswith("worker-python/python")
    (view,) = spark.sparkContext.parallelize([0], 1).mapPartitions(worker_view).collect()
    assert ".zip" in view["ml_file"] and "/work/main/ml/" not in view["ml_file"], view
    assert not view["tests_importable"], "the repository root is not on an executor's path"
    assert not view["site_imported"], "the editable install is invisible to the workers"


def test_the_shipped_package_is_named_by_its_content(tmp_path):
    import shutil

    first = package_zip(tmp_path)
    copy = tmp_path / "copy" / "ml"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    same, changed = tmp_path / "same", tmp_path / "changed"
    same.mkdir()
    changed.mkdir()
    assert package_zip(same, copy).name == first.name, "the same code gives the same archive"
    (copy / "errors.py").write_text((copy / "errors.py").read_text() + "\n# changed\n")
    assert package_zip(changed, copy).name != first.name


PREDICT = """
import json, sys
sys.modules["pyspark"] = None  # `import pyspark` raises ImportError, as where Spark is absent
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
frame = pd.read_json(sys.argv[2], orient="split")
print(json.dumps(model.predict(frame)["risk_score"].tolist()))
"""


def only_the_requirements(requirements: list[str], folder: Path) -> Path:
    """A site folder holding only the listed distributions and what they require (as
    installed here): an environment built from the model's requirements.txt alone."""
    from ml.runtime.parity import canonical

    folder.mkdir()
    seen: set[str] = set()
    pending = [Requirement(r).name for r in requirements]
    while pending:
        name = pending.pop()
        if canonical(name) in seen:
            continue
        seen.add(canonical(name))
        distribution = importlib.metadata.distribution(name)
        for entry in {Path(str(f)).parts[0] for f in distribution.files or []}:
            source = Path(distribution.locate_file(entry))
            if source.exists() and not (folder / entry).exists() and entry not in ("..", "__pycache__"):
                (folder / entry).symlink_to(source)
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return folder


@pytest.mark.slow
def test_the_registered_model_predicts_with_its_requirements_alone_and_no_pyspark(trained, tmp_path):
    from ml.training.scorer import RiskScorer

    _, result = trained
    folder = Path(mlflow.artifacts.download_artifacts(f"runs:/{result['training_run_id']}/model", dst_path=tmp_path))
    requirements = [line.strip() for line in (folder / "requirements.txt").read_text().splitlines() if line.strip()]
    assert requirements and all("==" in r for r in requirements), requirements
    site = only_the_requirements(requirements, tmp_path / "site")
    assert not (site / "pyspark").exists() and not (site / "ml").exists()

    scorer = RiskScorer.from_folder(folder)
    rng = np.random.default_rng(5)  # synthetic inputs: no member row leaves the data layer
    values = rng.normal(size=(40, len(scorer.features)))
    values[rng.random(values.shape) < 0.3] = np.nan
    frame = pd.DataFrame(values, columns=scorer.features)
    rows = tmp_path / "rows.json"
    rows.write_text(frame.to_json(orient="split"))

    # No site, no project on the path: only the requirements' packages and the model's own code.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-S", "-c", PREDICT, str(folder), str(rows)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(json.loads(done.stdout.splitlines()[-1]), scorer.predict(frame), rtol=0, atol=1e-6)
