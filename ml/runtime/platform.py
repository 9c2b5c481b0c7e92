"""Where the code is running. Databricks sets DATABRICKS_RUNTIME_VERSION on its clusters."""

import os


def on_databricks() -> bool:
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))
