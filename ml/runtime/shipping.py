"""The project's code on Spark's Python workers, from the checkout the driver runs.

Training (ml.training.distributed) and batch scoring (ml.inference.batches) run project
functions inside Spark tasks, so the Python workers import `ml`. On a job cluster the
Git checkout exists on the driver only; locally a worker would otherwise find the
package on the driver's path by accident. So the driver zips the `ml` package from its
own checkout and adds it with `addPyFile`: every worker, on a cluster as on a laptop,
imports exactly the code the driver runs, and nothing else from the repository.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ml.runtime.paths import REPO_ROOT, local_dir
from ml.runtime.platform import on_databricks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PACKAGE = REPO_ROOT / "ml"
_SHIPPED: set[str] = set()  # Spark application ids that already have the package


def package_files(package: Path = PACKAGE) -> list[Path]:
    """Every file of the package a worker may need, in a stable order (no caches)."""
    return sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def package_zip(folder: Path, package: Path = PACKAGE) -> Path:
    """The package as a zip named by its content: the same code gives the same file."""
    files = package_files(package)
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(package.parent)).encode())
        digest.update(path.read_bytes())
    target = folder / f"{package.name}-{digest.hexdigest()[:16]}.zip"
    if not target.exists():
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                # A fixed timestamp: the archive depends on the code only.
                info = zipfile.ZipInfo(str(path.relative_to(package.parent)), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        partial.replace(target)
    return target


def ship_package(spark: SparkSession) -> None:
    """Add the package to the session's Python workers, once per Spark application."""
    context = spark.sparkContext
    if context.applicationId in _SHIPPED:
        return
    # On a cluster the checkout may be read-only: the driver's temporary directory holds the zip.
    folder = Path(tempfile.gettempdir()) / "hrob-packages" if on_databricks() else local_dir("tmp", "packages")
    folder.mkdir(parents=True, exist_ok=True)
    context.addPyFile(str(package_zip(folder)))
    _SHIPPED.add(context.applicationId)
