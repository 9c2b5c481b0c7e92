"""Job task `train`: point-in-time training set, Hyperopt search, best model registered as challenger."""

import sys
from pathlib import Path

# Databricks runs this file from a Git checkout: make its root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml.jobs.entry import parse_date, run_task


def configure(parser):
    parser.add_argument("--as-of", default="", help="Labels and features as known on this date (default: today).")


def run(args, settings):
    from ml.training.job import run as train

    return train(settings, job_run_id=args.job_run_id, as_of=parse_date(args.as_of, "--as-of"))


if __name__ == "__main__":
    run_task("train", configure, run)
