"""Typed properties of one environment's stack, read from configuration and the job
catalogue. Everything that differs between environments arrives through here."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from ml.config.loader import Settings, load_settings
from ml.config.models import (
    Deployment,
    JobSettings,
    PlatformSettings,
    RuntimeSettings,
    Schedule,
    TableUpdateTrigger,
)
from ml.errors import ConfigError
from ml.jobs.catalogue import JOBS, Job, RunJob, Task
from ml.runtime import parity
from ml.runtime.paths import REPO_ROOT


def cluster_libraries(runtime: RuntimeSettings) -> list[str]:
    """What the job clusters install: the dependencies the runtime lacks, pinned from uv.lock.

    Refuses a lock whose Spark, MLflow, pandas, ... are not the runtime's: the laptop would
    run other libraries than the cluster.
    """
    locked = parity.locked_versions()
    problems = parity.lock_mismatches(runtime.provides, locked)
    if problems:
        raise ConfigError(
            f"configs/project.yml: runtime ({runtime.name}) and uv.lock disagree: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            + ": change pyproject.toml to the runtime's versions and run make lock"
        )
    return parity.cluster_libraries(runtime.provides, locked, parity.dependencies())


@dataclass(frozen=True)
class JobProps:
    job: Job
    schedule: Schedule | None
    on_table_update: TableUpdateTrigger | None
    timeout_seconds: int
    max_retries: int
    # run-job task -> the started job's timeout: a task that waits for another job waits as
    # long as that job may run, and the job holding it longer still (`with_started_jobs`)
    run_job_timeouts: tuple[tuple[str, int], ...] = ()
    task_timeout_seconds: int | None = None  # its own tasks' (None: the job's)


def with_started_jobs(jobs: tuple[JobProps, ...]) -> tuple[JobProps, ...]:
    """Each run-job task's timeout is the started job's, and a job that starts others may
    run its own time plus theirs: a monitoring run that starts a four-hour training job
    must not time out after one."""
    import dataclasses

    by_name = {jp.job.name: jp for jp in jobs}
    out = []
    for jp in jobs:
        started = [(t.key, by_name[t.job].timeout_seconds) for t in jp.job.tasks if isinstance(t, RunJob)]
        if started:
            jp = dataclasses.replace(
                jp,
                timeout_seconds=jp.timeout_seconds + sum(seconds for _, seconds in started),
                run_job_timeouts=tuple(started),
                task_timeout_seconds=jp.timeout_seconds,
            )
        out.append(jp)
    return tuple(out)


@dataclass(frozen=True)
class EnvironmentProps:
    env: str
    platform: PlatformSettings
    runtime: RuntimeSettings
    deployment: Deployment
    catalog: str
    schema: str
    source_schema: str
    experiment_path: str
    experiment_folder: str
    model_name: str  # catalog.schema.model
    jobs: tuple[JobProps, ...]
    libraries: tuple[str, ...]
    git_commit: str | None  # the commit the jobs run (pin_commit), or None: they follow the branch
    top_factors: int  # the predictions table's factor columns

    @property
    def state_key(self) -> str:
        """The application stack's state (deployed by CI's deployer)."""
        return f"hrob/{self.env}.tfstate"

    @property
    def bootstrap_state_key(self) -> str:
        """The bootstrap stack's state (applied once by the platform team)."""
        return f"hrob/{self.bootstrap_stack}.tfstate"

    @property
    def bootstrap_stack(self) -> str:
        return f"{self.env}-bootstrap"

    @property
    def trigger_tables(self) -> tuple[str, ...]:
        """The tables a job's table-update trigger names: they must exist before the job."""
        return tuple(sorted({jp.job.after_table for jp in self.jobs if jp.on_table_update and jp.job.after_table}))

    @property
    def prefix(self) -> str:
        """Names in the shared workspace carry the environment, so they never collide."""
        return f"hrob-{self.env}"

    @property
    def tags(self) -> dict[str, str]:
        return {"project": "hrob", "environment": self.env, "managed-by": "cdktn"}


def _job_props(env: str, job: Job, settings: JobSettings | None) -> JobProps:
    for task in job.tasks:
        where = f"{env}: job '{job.name}', task '{task.key}'"
        if isinstance(task, Task) and not (REPO_ROOT / task.entry_point).is_file():
            raise ConfigError(f"{where}: entry point {task.entry_point} does not exist")
        if isinstance(task, RunJob):
            if task.job not in JOBS:
                raise ConfigError(f"{where}: starts unknown job '{task.job}' (jobs: {', '.join(JOBS)})")
            unknown = [name for name, _ in task.parameters if name not in JOBS[task.job].parameters]
            if unknown:
                raise ConfigError(
                    f"{where}: job '{task.job}' has no parameter '{unknown[0]}' "
                    f"(parameters: {', '.join(JOBS[task.job].parameters) or 'none'})"
                )
        unknown = [d for d in task.depends_on if d not in {t.key for t in job.tasks}]
        if unknown:
            raise ConfigError(f"{where}: depends on unknown task '{unknown[0]}'")
    settings = settings or JobSettings()
    return JobProps(
        job=job,
        schedule=settings.schedule,
        on_table_update=settings.on_table_update,
        timeout_seconds=settings.timeout_seconds or job.timeout_seconds,
        max_retries=job.max_retries if settings.max_retries is None else settings.max_retries,
    )


COMMIT_VARIABLE = "HROB_GIT_COMMIT"


def release_commit(env: str) -> str:
    """The commit a pinned environment's jobs run: HROB_GIT_COMMIT (CI passes the commit it
    tested; `make deploy` the clean HEAD it checked), else the working tree's HEAD."""
    commit = os.environ.get(COMMIT_VARIABLE)
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            raise ConfigError(
                f"{env}: cannot tell which commit its jobs run: not a Git checkout; set {COMMIT_VARIABLE}"
            ) from None
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise ConfigError(f"{env}: {COMMIT_VARIABLE} '{commit}' is not a full Git commit hash")
    return commit


def from_settings(settings: Settings) -> EnvironmentProps:
    deployment = settings.environment.deployment
    if deployment is None:
        raise ConfigError(f"{settings.env}: not deployable: its environment file has no 'deployment' section")
    jobs = with_started_jobs(
        tuple(_job_props(settings.env, job, deployment.jobs.get(name)) for name, job in JOBS.items())
    )
    return EnvironmentProps(
        env=settings.env,
        platform=settings.project.platform,
        runtime=settings.project.runtime,
        deployment=deployment,
        catalog=settings.environment.catalog,
        schema=settings.environment.db_schema,
        source_schema=settings.environment.source_schema,
        experiment_path=settings.environment.experiment_path,
        experiment_folder=settings.environment.experiment_folder,
        model_name=settings.model_name,
        jobs=jobs,
        libraries=tuple(cluster_libraries(settings.project.runtime)),
        git_commit=release_commit(settings.env) if deployment.pin_commit else None,
        top_factors=settings.project.inference.top_factors,
    )


def deployed_environments(config_dir=None) -> list[str]:
    from ml.config.loader import environments

    return [env for env in environments(config_dir) if load_settings(env, config_dir).environment.deployment]


def environment_props(env: str, config_dir=None) -> EnvironmentProps:
    return from_settings(load_settings(env, config_dir))


def check_isolation(environments: list[EnvironmentProps]) -> None:
    """No two environments share a principal, a state container or an experiment folder:
    in the one shared workspace, sharing any of them would let one environment touch another."""
    owners: dict[tuple[str, str], str] = {}
    for props in environments:
        named = {
            ("principal", identity.application_id): f"{props.env} {role} ({identity.display_name})"
            for role, identity in props.deployment.identities().items()
        }
        named[("state container", props.deployment.state_container)] = props.env
        named[("experiment folder", props.experiment_folder)] = props.env
        for key, who in named.items():
            if key in owners:
                raise ConfigError(
                    f"{who} and {owners[key]} share the {key[0]} {key[1]}: each environment needs its own"
                )
            owners[key] = who
