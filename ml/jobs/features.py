"""Job task `features`: validate the source tables, then write member feature snapshots."""

import sys
from pathlib import Path

# Databricks runs this file from a Git checkout: make its root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml.jobs.entry import parse_date, run_task


def configure(parser):
    parser.add_argument("--as-of", default="", help="Snapshot date, YYYY-MM-DD (default: today).")
    parser.add_argument(
        "--backfill-from",
        default="",
        help="Also write weekly snapshots for the episodes indexed since this date.",
    )


def run(args, settings):
    from ml.features.job import run as build_features

    as_of = parse_date(args.as_of, "--as-of")
    backfill_from = parse_date(args.backfill_from, "--backfill-from") if args.backfill_from else None
    return build_features(settings, as_of=as_of, backfill_from=backfill_from)


if __name__ == "__main__":
    run_task("features", configure, run)
