"""One runtime, one lock: the configured Databricks runtime, uv.lock, pyproject.toml and what
a job cluster installs agree, and a cluster that runs something else is stopped by name."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from ml.config.loader import load_project
from ml.runtime import parity

RUNTIME = load_project("prod").runtime


def test_the_lock_pins_what_the_runtime_ships():
    assert parity.lock_mismatches(RUNTIME.provides, parity.locked_versions()) == []


def test_every_dependency_is_locked_within_its_range():
    locked = parity.locked_versions()
    for text in parity.dependencies():
        requirement = Requirement(text)
        name = parity.canonical(requirement.name)
        assert name in locked, f"{name} is not in uv.lock: run make lock"
        assert requirement.specifier.contains(locked[name]), f"uv.lock pins {name} {locked[name]}, not {text}"


def test_pyproject_pins_the_runtime_libraries_to_the_runtime_minor_version():
    ranges = {parity.requirement_name(r): Requirement(r).specifier for r in parity.dependencies()}
    for package, shipped in RUNTIME.provides.items():
        name = parity.canonical(parity.LOCAL_DISTRIBUTION.get(package, package))
        assert ranges[name].contains(f"{shipped}.0") or ranges[name].contains(f"{shipped}.1"), name
        assert not ranges[name].contains(f"{shipped.split('.')[0]}.{int(shipped.split('.')[1]) + 1}.0"), (
            f"pyproject.toml lets {name} move past the runtime's {shipped}"
        )


def test_a_lock_that_disagrees_is_named():
    locked = {"pyspark": "4.3.0", "mlflow": "3.8.1"}
    problems = parity.lock_mismatches({"pyspark": "4.1", "mlflow": "3.8", "pandas": "2.2"}, locked)
    assert problems == [
        "uv.lock pins pyspark 4.3.0, the runtime ships 4.1",
        "uv.lock has no pandas, which the runtime ships (2.2)",
    ]


def test_cluster_libraries_are_exact_pins_of_what_the_runtime_lacks():
    locked = {"hyperopt": "0.3.0", "pandas": "2.2.3", "xgboost-cpu": "3.0.5", "pyspark": "4.1.4"}
    requirements = ["pyspark>=4.1,<4.2", "pandas>=2.2", "xgboost-cpu>=3.0", "Hyperopt>=0.3"]
    libraries = parity.cluster_libraries({"pyspark": "4.1", "pandas": "2.2", "xgboost": "3.0"}, locked, requirements)
    assert libraries == ["hyperopt==0.3.0"]


def test_the_shipped_configuration_installs_hyperopt_and_never_the_runtime_own_libraries():
    libraries = parity.cluster_libraries(RUNTIME.provides, parity.locked_versions(), parity.dependencies())
    names = {lib.split("==")[0] for lib in libraries}
    assert "hyperopt" in names  # not preinstalled on Databricks Runtime ML 17 and later
    assert not names & {"pyspark", "pandas", "numpy", "pyarrow", "xgboost", "xgboost-cpu", "mlflow"}
    assert all("==" in lib for lib in libraries)


def _versions(**found):
    return lambda package: found.get(package)


def test_a_cluster_on_another_spark_is_stopped_and_other_differences_reported(monkeypatch):
    provides = {"pyspark": "4.1", "mlflow": "3.8", "pandas": "2.2"}
    fatal, other = parity.installed_mismatches(
        provides, "3.12", _versions(pyspark="4.0.0", mlflow="3.8.1", pandas="2.3.1")
    )
    assert fatal == ["pyspark 4.0.0, expected 4.1"]
    assert "pandas 2.3.1, expected 2.2" in other

    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    monkeypatch.setattr(parity, "installed_version", _versions(pyspark="4.0.0", mlflow="3.0.1", pandas="2.2.3"))
    printed = []
    with pytest.raises(parity.RuntimeMismatch, match=r"Databricks Runtime 17\.3\) is not 18 LTS ML: pyspark 4\.0\.0"):
        parity.check_cluster("18 LTS ML", provides, "3.12", echo=printed.append)


def test_off_a_cluster_nothing_is_checked(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    parity.check_cluster("18 LTS ML", {"pyspark": "9.9", "mlflow": "9.9"}, "3.99")  # no error off Databricks


def test_this_machine_runs_the_locked_spark_and_mlflow():
    import mlflow
    import pyspark

    assert parity.minor(pyspark.__version__) == RUNTIME.spark
    assert parity.minor(mlflow.__version__) == RUNTIME.provides["mlflow"]
