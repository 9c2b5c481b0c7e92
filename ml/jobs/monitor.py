"""Job task `monitor`: drift, volume and realised performance for the scoring date; publishes
`retrain` (true when a threshold in configs/project.yml `monitoring` is crossed)."""

import sys
from pathlib import Path

# Databricks runs this file from a Git checkout: make its root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml.jobs.entry import parse_date, run_task


def configure(parser):
    parser.add_argument("--scoring-date", default="", help="YYYY-MM-DD (default: today).")


def run(args, settings):
    from ml.monitoring.job import run as monitor

    return monitor(settings, scoring_date=parse_date(args.scoring_date, "--scoring-date"))


if __name__ == "__main__":
    run_task("monitor", configure, run)
