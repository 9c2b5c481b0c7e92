"""The laptop runs what the job cluster runs: one Databricks runtime, one lock.

configs/project.yml `runtime` names the Databricks Runtime ML LTS every job cluster runs
and the minor versions of the libraries it ships. uv.lock pins every dependency once;
for the libraries the runtime ships it must pin the same minor versions. Three places
compare the two:
- synthesis (infra/props.py) refuses a lock that disagrees with the configured runtime;
- a job cluster installs only the dependencies the runtime lacks, at their locked
  versions (`cluster_libraries`), never its own Spark, pandas, numpy, pyarrow or xgboost;
- every task on a cluster checks what is installed before it starts (`check_cluster`).

Importing this module imports nothing heavy: infra and the job entry points read it.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from ml.errors import ConfigError, HrobError
from ml.runtime.paths import REPO_ROOT

LOCK_FILE = REPO_ROOT / "uv.lock"
PYPROJECT = REPO_ROOT / "pyproject.toml"
# The runtime ships xgboost; locally the lock installs the same package as its CPU-only
# wheel (no CUDA libraries), which imports as `xgboost` too.
LOCAL_DISTRIBUTION = {"xgboost": "xgboost-cpu"}
# A mismatch of these stops a task on a cluster: the code is written against their API.
STRICT = ("pyspark", "mlflow")


class RuntimeMismatch(HrobError):
    """The cluster does not run the runtime the project was locked for."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """Every package uv.lock pins, by canonical name."""
    try:
        document = tomllib.loads(lock.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{lock.name}: cannot read the lock ({error}): run make lock") from None
    return {canonical(p["name"]): p["version"] for p in document.get("package", []) if "version" in p}


def dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """The project's runtime requirements as written in pyproject.toml."""
    return tomllib.loads(pyproject.read_text())["project"]["dependencies"]


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0])


def lock_mismatches(provides: dict[str, str], locked: dict[str, str]) -> list[str]:
    """Where the lock pins a library the runtime ships at another minor version."""
    problems = []
    for package, shipped in provides.items():
        name = canonical(LOCAL_DISTRIBUTION.get(package, package))
        version = locked.get(name)
        if version is None:
            problems.append(f"uv.lock has no {name}, which the runtime ships ({shipped})")
        elif minor(version) != shipped:
            problems.append(f"uv.lock pins {name} {version}, the runtime ships {shipped}")
    return problems


def provided(provides: dict[str, str]) -> set[str]:
    """Canonical names of the distributions the runtime ships, as the lock names them."""
    return {canonical(LOCAL_DISTRIBUTION.get(p, p)) for p in provides}


def cluster_libraries(provides: dict[str, str], locked: dict[str, str], requirements: list[str]) -> list[str]:
    """What a job cluster installs: the project's dependencies the runtime lacks, pinned exactly."""
    shipped = provided(provides)
    libraries = []
    for requirement in requirements:
        name = requirement_name(requirement)
        if name in shipped:
            continue
        if name not in locked:
            raise ConfigError(f"uv.lock has no {name} (a dependency in pyproject.toml): run make lock")
        libraries.append(f"{name}=={locked[name]}")
    return libraries


def installed_version(package: str) -> str | None:
    """The version installed here: the module's own __version__ first (the runtime's
    pyspark is not a pip distribution), then the distribution's metadata."""
    module_name = {"scikit-learn": "sklearn"}.get(package, package.replace("-", "_"))
    module = sys.modules.get(module_name)
    version = getattr(module, "__version__", None) if module else None
    if version:
        return str(version)
    for name in (package, LOCAL_DISTRIBUTION.get(package, package)):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def installed_mismatches(
    provides: dict[str, str], python: str, version_of: Callable[[str], str | None] | None = None
) -> tuple[list[str], list[str]]:
    """(fatal, other) differences between this interpreter and the configured runtime."""
    version_of = version_of or installed_version
    fatal, other = [], []
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != python:
        other.append(f"Python {here}, the runtime is configured with {python}")
    for package, expected in provides.items():
        found = version_of(package)
        if found is None:
            (fatal if package in STRICT else other).append(f"{package} is not installed (expected {expected})")
        elif minor(found) != expected:
            (fatal if package in STRICT else other).append(f"{package} {found}, expected {expected}")
    return fatal, other


def check_cluster(runtime_name: str, provides: dict[str, str], python: str, echo=print) -> None:
    """On a job cluster, before a task starts: stop when Spark or MLflow is not the configured
    runtime's (the code would run against another API), report any other difference."""
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return
    fatal, other = installed_mismatches(provides, python)
    for problem in other:
        echo(f"warning: runtime differs from configs/project.yml ({runtime_name}): {problem}")
    if fatal:
        raise RuntimeMismatch(
            f"this cluster (Databricks Runtime {os.environ['DATABRICKS_RUNTIME_VERSION']}) is not "
            f"{runtime_name}: {'; '.join(fatal)}"
        )
