"""Job task `validate`: score challenger and champion on the same holdout; record the decision."""

import sys
from pathlib import Path

# Databricks runs this file from a Git checkout: make its root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml.jobs.entry import parse_date, run_task


def configure(parser):
    parser.add_argument(
        "--model-version",
        required=True,
        help="The challenger's version ({{tasks.train.values.model_version}}).",
    )
    parser.add_argument("--as-of", default="", help="The holdout as known on this date (default: today).")


def run(args, settings):
    from ml.registry.validation import run as validate

    return validate(
        settings,
        model_version=args.model_version,
        job_run_id=args.job_run_id,
        as_of=parse_date(args.as_of, "--as-of"),
    )


if __name__ == "__main__":
    run_task("validate", configure, run)
