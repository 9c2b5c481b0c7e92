"""Which code a run ran: the Git commit, recorded with every model and prediction."""

from __future__ import annotations

import subprocess

from ml.runtime.paths import REPO_ROOT
from ml.runtime.platform import on_databricks


def git_commit(job_run_id: str = "") -> str:
    """The commit of the code running now.

    On Databricks a job with a Git source records the commit it checked out in the
    run's git_snapshot; locally it is the working tree's HEAD, marked when dirty.
    """
    if on_databricks() and job_run_id:
        from databricks.sdk import WorkspaceClient  # provided by the Databricks runtime

        run = WorkspaceClient().jobs.get_run(int(job_run_id))
        snapshot = run.git_source.git_snapshot if run.git_source else None
        return snapshot.used_commit if snapshot and snapshot.used_commit else "unknown"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head
