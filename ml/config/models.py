"""Typed configuration. Every YAML file under configs/ is validated by one of these models.

Models forbid unknown keys, so a typo is an error rather than a silently ignored setting.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from ml.config.cron import validate_quartz
from ml.data.labels import LABELS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


def _year_month(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}", str(value)) or not 1 <= int(str(value)[5:]) <= 12:
        raise ValueError(f"expected a month as YYYY-MM, got '{value}'")
    return str(value)


# ---------------------------------------------------------------- project.yml


class ModelSettings(Strict):
    name: Identifier
    label: str = "high_risk"

    @field_validator("label")
    @classmethod
    def _known_label(cls, value: str) -> str:
        if value not in LABELS:
            raise ValueError(f"unknown label '{value}' (expected one of {', '.join(LABELS)})")
        return value


class StateBackend(Strict):
    """The platform's Terraform state account; each environment keeps its state in a
    container of its own (deployment.state_container), which only its deployer can write."""

    resource_group_name: str
    storage_account_name: Annotated[str, Field(pattern=r"^[a-z0-9]{3,24}$")]


SUBNET = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$"


class PlatformSettings(Strict):
    """The one Azure Databricks workspace and Git repository all environments share."""

    workspace_host: Annotated[str, Field(pattern=r"^https://[\w.-]+$")]
    workspace_resource_id: Annotated[
        str,
        Field(pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Databricks/workspaces/[^/]+$"),
    ]
    azure_location: str
    databricks_account_id: str  # needed to let the deploying identity run jobs as a service principal
    # Object id of the tenant's "AzureDatabricks" enterprise application: it reads Key
    # Vault-backed secret scopes on Databricks' behalf.
    azure_databricks_object_id: str
    # Where the project's storage and Key Vault send their audit logs (owned by the platform).
    log_analytics_workspace_id: Annotated[
        str,
        Field(
            pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.OperationalInsights/workspaces/[^/]+$"
        ),
    ]
    git_repository: Annotated[str, Field(pattern=r"^https://")]
    git_provider: Literal["azureDevOpsServices"] = "azureDevOpsServices"
    data_science_group: str
    # Who is on call for the model: may run an environment's rollback job and read its model
    operations_group: str
    # The SQL warehouse the bootstrap creates tables with and the predictions monitor
    # refreshes on (the platform's)
    sql_warehouse_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    # Where the workspace's compute reaches the project's storage from (its firewall admits
    # only these): the workspace's VNet-injected subnets (classic job clusters) and the
    # network connectivity configuration's subnets (serverless: the monitor's refreshes)
    workspace_subnet_ids: Annotated[list[Annotated[str, Field(pattern=SUBNET)]], Field(min_length=1)]
    serverless_subnet_ids: list[Annotated[str, Field(pattern=SUBNET)]] = []
    state_backend: StateBackend
    # The Terraform every plan and deploy runs (the pipelines install it; the stacks require it).
    terraform_version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]

    @field_validator("databricks_account_id", "azure_databricks_object_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a UUID") from None
        return value


MinorVersion = Annotated[str, Field(pattern=r"^\d+\.\d+$")]
# Libraries every Databricks runtime ships that the jobs cannot do without.
RUNTIME_ESSENTIALS = ("pyspark", "mlflow")


class RuntimeSettings(Strict):
    """The Databricks Runtime ML LTS the job clusters run, and what it ships."""

    name: str
    python: MinorVersion
    scala: MinorVersion
    provides: dict[str, MinorVersion]  # distribution -> minor version shipped by the runtime

    @field_validator("provides")
    @classmethod
    def _essentials(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [name for name in RUNTIME_ESSENTIALS if name not in value]
        if missing:
            raise ValueError(f"'{missing[0]}' is required: the stacks choose the runtime by it")
        return value

    @property
    def spark(self) -> str:
        return self.provides["pyspark"]


class CohortSettings(Strict):
    """Default synthetic cohort (local runs and tests); `hrob data generate` flags override it."""

    members: PositiveInt = 20_000
    seed: int = 42
    start: str = "2021-01"
    end: str | None = None  # None: the current month

    @field_validator("start", "end")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        return None if value is None else _year_month(value)

    @model_validator(mode="after")
    def _ordered(self) -> CohortSettings:
        if self.end is not None and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class FeatureSettings(Strict):
    lookback_months: list[PositiveInt] = [3, 6, 12, 24]
    # A snapshot older than this at the date it is looked up for, or taken before the
    # pregnancy began, is never used (ml/features/point_in_time.py).
    max_snapshot_age_days: PositiveInt = 7

    @field_validator("lookback_months")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one look-back window is required")
        if sorted(set(value)) != value:
            raise ValueError(f"windows must be increasing and distinct, got {value}")
        return value


class LabRange(Strict):
    """Physiologically possible results of one test, in the unit its feed sends."""

    unit: str
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> LabRange:
        if self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class SourceChecks(Strict):
    """What the feature job accepts from the data platform (ml/features/sources.py)."""

    # A table whose rows received in the last `recent_days` fall below this share of its
    # daily level over the `baseline_days` before stops the job (a feed that broke).
    min_recent_share: Probability = 0.5
    recent_days: PositiveInt = 30
    baseline_days: PositiveInt = 90
    # Below this many rows in the baseline a drop is noise: only emptiness is checked.
    min_baseline_rows: PositiveInt = 200
    pregnancy_age_years: tuple[float, float] = (10.0, 60.0)
    lab_ranges: dict[str, LabRange] = {}

    @field_validator("pregnancy_age_years")
    @classmethod
    def _ages(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] < value[1]:
            raise ValueError(f"expected [youngest, oldest] with 0 <= youngest < oldest, got {list(value)}")
        return value

    @field_validator("lab_ranges")
    @classmethod
    def _known_tests(cls, value: dict[str, LabRange]) -> dict[str, LabRange]:
        from ml.data.value_sets import LAB_TESTS

        for test, limits in value.items():
            if test not in LAB_TESTS:
                raise ValueError(f"unknown lab test '{test}' (tests: {', '.join(LAB_TESTS)})")
            if limits.unit != LAB_TESTS[test][0]:
                raise ValueError(f"{test}: unit '{limits.unit}' is not the feed's unit '{LAB_TESTS[test][0]}'")
        return value


class Landmark(Strict):
    """A moment a pregnancy is scored at: its identification (no week) or a gestational week."""

    name: Identifier
    week: Annotated[int, Field(ge=4, le=40)] | None = None


def check_landmarks(value: list[Landmark]) -> list[Landmark]:
    if not value:
        raise ValueError("at least one landmark is required")
    names = [landmark.name for landmark in value]
    if len(set(names)) != len(names):
        raise ValueError(f"landmark names must be distinct, got {names}")
    if sum(landmark.week is None for landmark in value) > 1:
        raise ValueError("only one landmark can be the identification (a landmark without a week)")
    weeks = [landmark.week for landmark in value if landmark.week is not None]
    if weeks != sorted(set(weeks)):
        raise ValueError(f"landmark weeks must increase, got {weeks}")
    return value


class _Bounded(Strict):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is greater than high ({self.high})")
        return self


class Uniform(_Bounded):
    type: Literal["uniform"]


class LogUniform(_Bounded):
    """Bounds in natural units; sampled uniformly in log space."""

    type: Literal["loguniform"]

    @model_validator(mode="after")
    def _positive(self):
        if self.low <= 0:
            raise ValueError(f"low must be > 0 for a log-uniform range, got {self.low}")
        return self


class QUniform(_Bounded):
    type: Literal["quniform"]
    q: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _reachable(self):
        if math.floor(self.high / self.q) < math.ceil(self.low / self.q):
            raise ValueError(f"no multiple of q={self.q} lies between {self.low} and {self.high}")
        return self


class QLogUniform(QUniform, LogUniform):
    type: Literal["qloguniform"]


class Choice(Strict):
    type: Literal["choice"]
    options: list[Any]

    @field_validator("options")
    @classmethod
    def _non_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("a choice needs at least one option")
        return value


SearchParameter = Annotated[Uniform | LogUniform | QUniform | QLogUniform | Choice, Field(discriminator="type")]

# Hyperparameters of the gradient-boosted trees the search may tune.
TUNABLE = {
    "max_depth",
    "learning_rate",
    "n_estimators",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "reg_alpha",
    "gamma",
    "max_bin",
    "max_leaves",
    "grow_policy",
}
INTEGER_PARAMS = {"max_depth", "n_estimators", "max_bin", "max_leaves"}


class SplitConfig(Strict):
    # The member split's own seed, never the model's: changing training.seed must not move
    # members the champion trained on into the holdout it is judged on.
    seed: int = 1729
    train: float
    validation: float
    test: float

    @model_validator(mode="after")
    def _parts(self) -> SplitConfig:
        parts = {"train": self.train, "validation": self.validation, "test": self.test}
        for name, share in parts.items():
            if share <= 0:
                raise ValueError(f"part '{name}' must be > 0, got {share}")
        total = sum(parts.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"parts must sum to 1, got {total:g}")
        return self


class TrainingSettings(Strict):
    seed: int = 7
    split_config: SplitConfig
    max_evals: PositiveInt = 16
    early_stopping_trials: PositiveInt = 6  # stop after this many trials without improvement
    primary_metric: Literal["auroc", "auprc"] = "auroc"
    search_space: dict[str, SearchParameter]
    # An episode is labelled only when its expected delivery + the 42-day outcome window +
    # this margin lies before the run date: by then (almost) every outcome's claims are in
    censoring_margin_days: Annotated[int, Field(ge=0, le=730)] = 180

    @field_validator("search_space")
    @classmethod
    def _space(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("the search space is empty: give at least one hyperparameter")
        unknown = sorted(set(value) - TUNABLE)
        if unknown:
            raise ValueError(f"unknown hyperparameter '{unknown[0]}' (tunable: {', '.join(sorted(TUNABLE))})")
        return value


Subgroup = Literal["race_ethnicity", "age_band", "rurality", "primary_language"]


class BootstrapSettings(Strict):
    replicates: Annotated[int, Field(ge=100, le=20_000)] = 1000
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    seed: int = 20_240_917


class CalibrationBounds(Strict):
    slope: tuple[float, float] = (0.7, 1.4)  # logistic recalibration slope, per landmark
    max_abs_intercept: Annotated[float, Field(ge=0.0)] = 0.3  # calibration-in-the-large, logit scale

    @model_validator(mode="after")
    def _ordered(self) -> CalibrationBounds:
        low, high = self.slope
        if not 0 < low < 1 < high:
            raise ValueError(f"slope bounds must satisfy 0 < low < 1 < high, got [{low}, {high}]")
        return self


class FairnessAlerts(Strict):
    """Absolute disparity across subgroup cells of the challenger itself (not against the
    champion): reported with intervals in the decision and the model card, and an alert
    raised when crossed. Alerts do not block a promotion unless `block`."""

    max_auroc_gap: Annotated[float, Field(gt=0, le=0.5)] = 0.08  # best-served cell's AUROC minus a cell's
    min_sensitivity_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8  # a cell's sensitivity at capacity / the best's
    observed_expected: tuple[float, float] = (
        0.8,
        1.25,
    )  # a cell's observed/expected rate outside: miscalibrated for it
    min_rows: PositiveInt = 50  # smaller cells are reported, not alerted on
    # Of the intervals an alert stands on: its own, not the primary check's (loosening the
    # promotion evidence on a small holdout must not make alerts trigger-happy)
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    block: bool = False
    # What counts as serving a cell worse than the champion for no_new_disparity: "reach"
    # (a lower AUROC within it, or fewer of its positives on the list) or "ranking" (a
    # lower AUROC only: list places may move towards the group at higher risk). Measured
    # trade-off in docs/training.md (Promotion rates).
    worse_means: Literal["reach", "ranking"] = "reach"


class ValidationSettings(Strict):
    mode: Literal["disabled", "dry_run", "enabled"] = "enabled"
    # The newest N months of censoring-safe expected deliveries: the holdout (all but validation members)
    # and the recalibration rows (validation members); training uses only earlier months
    holdout_months: Annotated[int, Field(ge=1, le=60)] = 12
    bootstrap: BootstrapSettings = BootstrapSettings()
    # Floors on the challenger alone, set from a recorded reference run (docs/training.md),
    # never tuned on the holdout
    min_auroc: Probability
    min_auprc: Probability
    # The primary check: the lower bound of (challenger - champion) must exceed this. Its
    # one-sided level is (1 - bootstrap.confidence) / 2 on the first look at a holdout and
    # halves with each further look against the same champion (docs/training.md)
    min_improvement: Probability = 0.0
    # The secondary checks (per-landmark AUROC, PPV and sensitivity at capacity, every
    # subgroup cell): each fails when its drop exceeds z standard errors of its own, z set so
    # that an equal challenger fails any of them at most this often
    secondary_false_failure: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    subgroups: list[Subgroup] = ["race_ethnicity", "age_band", "rurality", "primary_language"]
    min_subgroup_episodes: PositiveInt = 50  # smaller cells are not reported alone (the gate pools them)
    calibration: CalibrationBounds = CalibrationBounds()
    min_landmark_rows: PositiveInt = 100  # fewer: the landmark's checks are "not evaluated"
    fairness: FairnessAlerts = FairnessAlerts()


class Tier(Strict):
    """A risk tier: the top `top_share` of the champion's reference scores (its holdout, the
    newest censoring-safe months), cumulative from the top; the last tier holds the rest.
    Sized to what care management can take on, not to a fixed score: a tier of the top 10%
    flags about one pregnancy in ten of a population like the one the model was judged on."""

    name: Identifier
    top_share: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None


class OutreachSettings(Strict):
    tiers: list[Identifier]  # the top tiers whose members are listed: their share is the capacity
    max_members: PositiveInt | None = None  # per scoring date, a hard cap after the ranking
    # Pregnancies still before this gestational week rank first: low-dose aspirin for
    # preeclampsia prevention is started between weeks 12 and 16 (USPSTF; ACOG).
    act_before_week: Annotated[int, Field(ge=4, le=40)] | None = 16


class InferenceSettings(Strict):
    tiers: list[Tier]
    outreach: OutreachSettings
    top_factors: Annotated[int, Field(ge=1, le=10)] = 3
    # approximate: path attribution (ml/training/attribution.py); exact: TreeSHAP (scoring ~7x slower)
    factor_method: Literal["approximate", "exact"] = "approximate"
    # The scoring job refuses when the newest feature snapshot is older than this: yesterday's
    # features would score today's landmarks with what the plan knew a day earlier.
    max_feature_age_days: Annotated[int, Field(ge=0, le=30)] = 0
    # A pregnancy is scored at a landmark only within this many days of reaching it: a list
    # of landmarks passed weeks ago is a backlog, not a worklist
    max_landmark_age_days: Annotated[int, Field(ge=0, le=60)] = 7
    # Never scored later than its expected delivery + this many days: past it, the birth has
    # most likely happened and its claim not yet arrived
    past_due_margin_days: Annotated[int, Field(ge=0, le=28)] = 0

    @property
    def capacity_share(self) -> float:
        """The share of scored pregnancies the outreach tiers hold: care management's capacity."""
        return max(t.top_share for t in self.tiers if t.name in self.outreach.tiers)

    @model_validator(mode="after")
    def _tiers(self) -> InferenceSettings:
        if len(self.tiers) < 2:
            raise ValueError("at least two tiers are required (the last holds everyone else)")
        shares = [t.top_share for t in self.tiers[:-1]]
        if any(share is None for share in shares):
            raise ValueError("every tier but the last needs top_share")
        if self.tiers[-1].top_share is not None:
            raise ValueError("the last tier holds everyone else: remove its top_share")
        if shares != sorted(set(shares)):
            raise ValueError(f"tiers must be listed from the top with increasing top_share, got {shares}")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be distinct, got {names}")
        unknown = [name for name in self.outreach.tiers if name not in names]
        if unknown:
            raise ValueError(f"outreach tier '{unknown[0]}' is not one of the tiers {names}")
        if not self.outreach.tiers:
            raise ValueError("outreach.tiers: name at least one tier")
        listed = sorted(names.index(name) for name in self.outreach.tiers)
        if listed != list(range(len(listed))) or names[-1] in self.outreach.tiers:
            raise ValueError(f"outreach.tiers must be the top tiers, from {names[0]} down, not the last")
        return self


class RetrainSettings(Strict):
    """When a crossed threshold may start the training job: a retrain pays only once new
    labelled pregnancies exist to learn from, and not again before the last one settled."""

    # censoring-safe labelled pregnancies that were not yet labelled as of the champion's
    # own as-of date (what it could not learn from)
    min_new_labels: Annotated[int, Field(ge=0)] = 300
    cooldown_days: Annotated[int, Field(ge=0)] = 28  # since the newest training run's as-of date


class MonitoringSettings(Strict):
    """What the monitoring job measures and when it starts the training job. Crossing a
    threshold fails nothing: it sets the `retrain` task value the condition task reads,
    once `retrain` says a retrain would pay."""

    window_days: Annotated[int, Field(ge=1, le=90)] = 28  # the predictions of the last N scoring dates
    score_psi: PositiveFloat = 0.2  # population stability of the scores against the champion's holdout, per landmark
    feature_psi: PositiveFloat = 0.25  # of any of the `top_features` most important features, per landmark
    missing_share_change: Annotated[float, Field(gt=0, le=1)] = 0.15  # absolute change of a feature's missing share
    top_features: Annotated[int, Field(ge=1, le=100)] = 10
    # Who the plan serves, monitored like the top features whatever the champion ranks: an
    # influx of members without history moves these before it moves any model input.
    population_features: list[str] = []
    reference_days: Annotated[int, Field(ge=7)] = 90  # feature snapshots up to the champion's newest, as reference
    min_volume_share: Annotated[float, Field(gt=0, lt=1)] = 0.5  # scored today against the previous 28 days' mean
    min_realised_auroc: Annotated[float, Field(gt=0.5, lt=1)] = 0.6  # its interval's upper bound below: crossed
    bins: Annotated[int, Field(ge=4, le=50)] = 10
    # A check is judged (can cross) only where the chance it crosses with nothing changed,
    # at the rows it has, is at most this; below that volume it is reported, not judged
    max_false_alarm: Annotated[float, Field(gt=0, lt=0.5)] = 0.01
    retrain: RetrainSettings = RetrainSettings()


class ProjectConfig(Strict):
    model: ModelSettings
    platform: PlatformSettings
    runtime: RuntimeSettings
    landmarks: list[Landmark]
    cohort: CohortSettings = CohortSettings()
    features: FeatureSettings = FeatureSettings()
    sources: SourceChecks = SourceChecks()
    training: TrainingSettings
    validation: ValidationSettings
    inference: InferenceSettings
    monitoring: MonitoringSettings = MonitoringSettings()

    @field_validator("landmarks")
    @classmethod
    def _landmarks(cls, value: list[Landmark]) -> list[Landmark]:
        return check_landmarks(value)


# ---------------------------------------------------------------- environments/<env>.yml


class Schedule(Strict):
    quartz_cron: str
    timezone: str = "UTC"
    paused: bool = False

    @field_validator("quartz_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return validate_quartz(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone '{value}' (expected an IANA name such as UTC or America/Chicago)"
            ) from None
        return value


class TableUpdateTrigger(Strict):
    """Start the job when the table the catalogue names (`after_table`) has been updated."""

    paused: bool = False
    wait_after_last_change_seconds: Annotated[int, Field(ge=60)] = 300  # a write is many commits


class JobSettings(Strict):
    schedule: Schedule | None = None
    on_table_update: TableUpdateTrigger | None = None
    timeout_seconds: PositiveInt | None = None  # None: the job catalogue's default
    max_retries: Annotated[int, Field(ge=0, le=5)] | None = None

    @model_validator(mode="after")
    def _one_start(self) -> JobSettings:
        if self.schedule and self.on_table_update:
            raise ValueError("a job starts on a schedule or on a table update, not both")
        return self


class Autoscale(Strict):
    min_workers: Annotated[int, Field(ge=1)]
    max_workers: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Autoscale:
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers ({self.min_workers}) is greater than max_workers ({self.max_workers})")
        return self


class ClusterSettings(Strict):
    """Size of an environment's job clusters (the runtime is project-wide: `runtime`)."""

    node_type_id: str
    num_workers: Annotated[int, Field(ge=0)] | None = None
    autoscale: Autoscale | None = None

    @model_validator(mode="after")
    def _size(self) -> ClusterSettings:
        if (self.num_workers is None) == (self.autoscale is None):
            raise ValueError("give exactly one of num_workers and autoscale")
        return self


class ServicePrincipal(Strict):
    """An Entra ID service principal the platform team registered in the workspace."""

    application_id: str  # the Entra ID application (client) id
    display_name: str

    @field_validator("application_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError(f"'{value}' is not an application id (a UUID)") from None
        return value


class AzureResources(Strict):
    """Azure resources this project owns in one environment (names are global)."""

    resource_group_name: str
    storage_account_name: Annotated[str, Field(pattern=r"^[a-z0-9]{3,24}$")]
    key_vault_name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")]


class Notifications(Strict):
    on_failure: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]]


class Deployment(Strict):
    """How an environment is deployed to Databricks. Absent for local."""

    branch: str
    # True: the jobs run the exact commit the deploy was made from (what CI tested and, for
    # prod, what was approved); false: they follow the branch head (dev).
    pin_commit: bool = False
    run_as: Literal["developer", "service_principal"]
    service_principal: ServicePrincipal | None = None  # the jobs' run-as principal (staging-sp, prod-sp)
    deployer: ServicePrincipal | None = None  # what CI's deploy service connection logs in as
    planner: ServicePrincipal | None = None  # read-only identity of the plans on pull requests
    state_container: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]  # an Azure blob container
    azure: AzureResources
    cluster: ClusterSettings
    notifications: Notifications
    data_science_access: Literal["manage", "view"]  # the data-science group's rights here
    prevent_destroy: bool = False  # Terraform refuses to destroy the model, experiment and data
    jobs: dict[str, JobSettings] = {}

    @field_validator("jobs")
    @classmethod
    def _known_jobs(cls, value: dict[str, JobSettings]) -> dict[str, JobSettings]:
        from ml.jobs.catalogue import JOB_NAMES, JOBS

        unknown = sorted(set(value) - set(JOB_NAMES))
        if unknown:
            raise ValueError(f"unknown job '{unknown[0]}' (jobs: {', '.join(JOB_NAMES)})")

        for name, settings in value.items():
            if settings.on_table_update and not JOBS[name].after_table:
                raise ValueError(f"{name}: on_table_update: this job has no table to wait for (after_table)")
        return value

    @model_validator(mode="after")
    def _identity(self) -> Deployment:
        if self.run_as == "service_principal":
            for name in ("service_principal", "deployer"):
                if getattr(self, name) is None:
                    raise ValueError(
                        f"{name} (application_id, display_name) is required when run_as is service_principal"
                    )
        if self.run_as == "developer" and self.service_principal is not None:
            raise ValueError("service_principal is set but run_as is developer; remove one")
        roles = {name: getattr(self, name) for name in ("service_principal", "deployer", "planner")}
        seen: dict[str, str] = {}
        for name, identity in roles.items():
            if identity is None:
                continue
            if identity.application_id in seen:
                raise ValueError(
                    f"{name} and {seen[identity.application_id]} are the same principal "
                    f"({identity.application_id}): deployer, run-as and planner must be distinct identities"
                )
            seen[identity.application_id] = name
        return self

    def identities(self) -> dict[str, ServicePrincipal]:
        """Every principal this environment names, by role."""
        named = {"run_as": self.service_principal, "deployer": self.deployer, "planner": self.planner}
        return {role: identity for role, identity in named.items() if identity is not None}


class EnvironmentConfig(Strict):
    catalog: Identifier
    db_schema: Identifier = Field(alias="schema")
    source_schema: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")]
    experiment_path: Annotated[str, Field(pattern=r"^/[^/]+/")]
    deployment: Deployment | None = None
    overrides: dict[str, Any] = {}  # deep-merged over project.yml for this environment

    @model_validator(mode="after")
    def _experiment_outside_shared(self) -> EnvironmentConfig:
        if self.deployment is not None and self.experiment_path.startswith("/Shared/"):
            raise ValueError(
                f"experiment_path {self.experiment_path}: everything under /Shared is 'all users: Can Manage'; "
                "put the experiment in the environment's own folder (e.g. /hrob-staging/hrob_risk)"
            )
        return self

    @property
    def experiment_folder(self) -> str:
        return self.experiment_path.rsplit("/", 1)[0]
