"""Job task `promote`: move the champion alias when validation passed; clear the challenger."""

import sys
from pathlib import Path

# Databricks runs this file from a Git checkout: make its root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml.jobs.entry import run_task


def configure(parser):
    parser.add_argument(
        "--model-version",
        required=True,
        help="The challenger's version ({{tasks.train.values.model_version}}).",
    )


def run(args, settings):
    from ml.registry.promotion import run as promote

    return promote(settings, model_version=args.model_version)


if __name__ == "__main__":
    run_task("promote", configure, run)
