"""Job task `rollback`: champion back to the previous champion, recording who asked and why.

Deployed as the environment's rollback job, run as its run-as principal (the model's
owner, the only identity allowed to move its aliases in staging and prod); the
operations group may start it (`make rollback ENV=prod REASON=...`)."""

import sys
from pathlib import Path

# Databricks runs this file from a Git checkout: make its root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml.jobs.entry import run_task


def configure(parser):
    parser.add_argument("--reason", default="", help="Why: recorded on both versions.")
    parser.add_argument("--requested-by", default="", help="Who asked for it (the job run's requester).")


def run(args, settings):
    from ml.registry.rollback import rollback
    from ml.runtime.tracking import configure_mlflow

    configure_mlflow()
    return rollback(settings.model_name, args.reason, by=args.requested_by or None)


if __name__ == "__main__":
    run_task("rollback", configure, run)
