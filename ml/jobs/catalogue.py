"""The jobs this project runs, each named once.

The infrastructure stacks build their Databricks jobs from this catalogue and the
local runner executes the synthesized jobs, so the entry points, parameters and task
order deployed to Databricks are the very ones run on a laptop.

Parameters use Databricks dynamic value references ({{job.parameters.x}},
{{tasks.t.values.k}}, {{job.run_id}}); Databricks and the local runner resolve them.
Keep this module free of heavy imports: `infra` and `ml.config` read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml.data import outputs

RUN_ID = "--job-run-id={{job.run_id}}"


@dataclass(frozen=True)
class Task:
    key: str
    entry_point: str  # file path from the repository root
    description: str
    parameters: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()

    def arguments(self, env: str) -> list[str]:
        """Command-line arguments as deployed: the environment is fixed per stack."""
        return [f"--env={env}", RUN_ID, *self.parameters]


@dataclass(frozen=True)
class Condition:
    """A condition task: compares two values (references resolved) without a cluster; the
    tasks that depend on it with an `outcome` run only when it came out that way."""

    key: str
    description: str
    left: str
    op: str  # EQUAL_TO, NOT_EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL, LESS_THAN, LESS_THAN_OR_EQUAL
    right: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunJob:
    """A run-job task: starts another job of the same environment and waits for it."""

    key: str
    description: str
    job: str  # its name in this catalogue
    depends_on: tuple[str, ...] = ()
    outcome: str | None = None  # "true" / "false": required of the condition tasks it depends on
    parameters: tuple[tuple[str, str], ...] = ()  # (the started job's parameter, its value) pairs


AnyTask = Task | Condition | RunJob


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    tasks: tuple[AnyTask, ...]
    parameters: dict[str, str] = field(default_factory=dict)  # name -> default
    timeout_seconds: int = 3600
    max_retries: int = 1
    min_retry_interval_millis: int = 5 * 60 * 1000
    # The output table whose update may start this job (a table-update trigger on Databricks)
    after_table: str | None = None

    def task(self, key: str) -> AnyTask:
        return next(t for t in self.tasks if t.key == key)

    @property
    def python_tasks(self) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if isinstance(t, Task))


def deployed_name(env: str, job: str) -> str:
    """The job's name in the shared workspace (environments told apart by the prefix)."""
    return f"[{env}] hrob {job}"


TODAY = "{{job.start_time.iso_date}}"

FEATURES = Job(
    name="features",
    description="Validate source tables and write the member feature table for an as-of date.",
    parameters={"as_of": TODAY, "backfill_from": ""},
    tasks=(
        Task(
            key="features",
            entry_point="ml/jobs/features.py",
            description="Check source tables, engineer features, write feature snapshots.",
            parameters=(
                "--as-of={{job.parameters.as_of}}",
                "--backfill-from={{job.parameters.backfill_from}}",
            ),
        ),
    ),
    timeout_seconds=2 * 3600,
)

TRAINING = Job(
    name="training",
    description="Train a challenger, validate it against the champion, promote it if it passes.",
    parameters={"as_of": TODAY},
    tasks=(
        Task(
            key="train",
            entry_point="ml/jobs/train.py",
            description="Landmark training set as known on the as-of date, Hyperopt search, register the best.",
            parameters=("--as-of={{job.parameters.as_of}}",),
        ),
        Task(
            key="validate",
            entry_point="ml/jobs/validate.py",
            description="Score challenger and champion on the same recent holdout; record the decision.",
            parameters=("--model-version={{tasks.train.values.model_version}}", "--as-of={{job.parameters.as_of}}"),
            depends_on=("train",),
        ),
        Task(
            key="promote",
            entry_point="ml/jobs/promote.py",
            description="Move the champion alias when validation passed; clear the challenger alias.",
            parameters=("--model-version={{tasks.train.values.model_version}}",),
            depends_on=("validate",),
        ),
    ),
    timeout_seconds=4 * 3600,
    max_retries=0,  # a retry would register a second challenger
)

INFERENCE = Job(
    name="inference",
    after_table=outputs.FEATURES,
    description="Score pregnancies under way at a landmark reached this week with the champion; the outreach list.",
    parameters={"scoring_date": TODAY, "backfill_from": ""},
    tasks=(
        Task(
            key="score",
            entry_point="ml/jobs/score.py",
            description="Score the pregnancies due on the scoring date (or each date since backfill_from).",
            parameters=(
                "--scoring-date={{job.parameters.scoring_date}}",
                "--backfill-from={{job.parameters.backfill_from}}",
            ),
        ),
        Task(
            key="outreach",
            entry_point="ml/jobs/outreach.py",
            description="Rank the outreach tiers into the care managers' list, detections apart; print a summary.",
            parameters=(
                "--scoring-date={{job.parameters.scoring_date}}",
                "--backfill-from={{job.parameters.backfill_from}}",
            ),
            depends_on=("score",),
        ),
    ),
)

MONITORING = Job(
    name="monitoring",
    description="Drift, volume and realised performance of the champion's predictions; retrain past a threshold.",
    parameters={"scoring_date": TODAY},
    after_table=outputs.PREDICTIONS,
    tasks=(
        Task(
            key="monitor",
            entry_point="ml/jobs/monitor.py",
            description="Score and feature drift against the champion's training data, volume, realised performance.",
            parameters=("--scoring-date={{job.parameters.scoring_date}}",),
        ),
        Condition(
            key="threshold_crossed",
            description="Did a monitored metric cross its threshold (configs/project.yml: monitoring)?",
            left="{{tasks.monitor.values.retrain}}",
            op="EQUAL_TO",
            right="true",
            depends_on=("monitor",),
        ),
        RunJob(
            key="retrain",
            description="Start this environment's training job: train, validate against the champion, promote.",
            job="training",
            depends_on=("threshold_crossed",),
            outcome="true",
            # as of the monitored date, not the day the run happens: a backfilled or late
            # monitoring run retrains on what was known then
            parameters=(("as_of", "{{job.parameters.scoring_date}}"),),
        ),
    ),
)

ROLLBACK = Job(
    name="rollback",
    description="Move the champion back to the one it replaced, recording who asked and why.",
    parameters={"reason": "", "requested_by": ""},
    tasks=(
        Task(
            key="rollback",
            entry_point="ml/jobs/rollback.py",
            description="champion <- previous_champion; who, when and why on both versions.",
            parameters=("--reason={{job.parameters.reason}}", "--requested-by={{job.parameters.requested_by}}"),
        ),
    ),
    timeout_seconds=1800,
    max_retries=0,  # a second attempt would roll back once more
)

JOBS: dict[str, Job] = {job.name: job for job in (FEATURES, TRAINING, INFERENCE, MONITORING, ROLLBACK)}
# Who besides the jobs' principal may start a job: on call may roll the model back
OPERATED = ("rollback",)
JOB_NAMES = tuple(JOBS)
