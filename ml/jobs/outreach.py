"""Job task `outreach`: the care managers' outreach list for the scoring date, and a summary."""

import sys
from pathlib import Path

# Databricks runs this file from a Git checkout: make its root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml.jobs.entry import parse_date, run_task


def configure(parser):
    parser.add_argument("--scoring-date", default="", help="YYYY-MM-DD (default: today).")
    parser.add_argument("--backfill-from", default="", help="Also every date from this one, as daily runs would have.")


def run(args, settings):
    from ml.inference.outreach import run as outreach

    backfill_from = parse_date(args.backfill_from, "--backfill-from") if args.backfill_from else None
    return outreach(settings, scoring_date=parse_date(args.scoring_date, "--scoring-date"), backfill_from=backfill_from)


if __name__ == "__main__":
    run_task("outreach", configure, run)
