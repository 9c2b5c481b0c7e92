"""The promotion gate: checks and the decision, as plain data (no Spark, no MLflow).

Input: one frame of holdout rows (member, episode, landmark, label, subgroups) with both
models' scores side by side. Two kinds of check:

- minimums, judged on the challenger alone and required of a first champion too:
  AUROC and AUPRC floors, and calibration (slope and intercept) at every landmark;
- comparisons with the champion, each on a paired, seeded, member-clustered bootstrap
  interval of (challenger - champion) (ml/evaluation/bootstrap.py):
  - the primary metric: the interval's lower bound must exceed `min_improvement`, so a
    tie or a difference the holdout cannot tell from noise keeps the champion;
  - every subgroup cell's AUROC (pools merge small categories): non-inferiority, the
    lower bound >= -`max_subgroup_drop`;
  - PPV and sensitivity at the outreach cut-off at every landmark: lower bound >= minus
    their margins.

A cell or landmark too small to judge is not silently skipped: it is listed as "not
evaluated (n=...)" in the report, the tags and the description.

The decision depends on the mode:
- enabled: promote when every check passes;
- dry_run: decide and record, but never move the champion;
- disabled: no comparison; the champion never moves (a first champion still needs the
  minimums: nothing below them may reach members).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ml.config.models import ValidationSettings
from ml.evaluation.bootstrap import (
    Interval,
    at_capacity,
    interval,
    replicate_weights,
    weighted_calibration,
    weighted_metric,
)
from ml.evaluation.landmarks import landmark_metrics
from ml.evaluation.metrics import classification_metrics

MINIMUM, COMPARISON = "minimum", "comparison"


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # MINIMUM or COMPARISON
    value: float | None  # the point estimate judged (a difference for comparisons)
    threshold: float
    passed: bool
    detail: str
    low: float | None = None  # the interval, for comparisons
    high: float | None = None


@dataclass(frozen=True)
class NotEvaluated:
    name: str
    episodes: int
    reason: str

    def __str__(self) -> str:
        return f"not evaluated (n={self.episodes}): {self.reason}"


@dataclass
class Decision:
    mode: str
    challenger_version: str
    champion_version: str | None
    checks: list[Check] = field(default_factory=list)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)
    # per landmark: the population the outreach list is drawn from at each point of pregnancy
    challenger_landmarks: dict[str, dict[str, float]] = field(default_factory=dict)
    champion_landmarks: dict[str, dict[str, float]] = field(default_factory=dict)
    holdout: dict[str, str] = field(default_factory=dict)  # split seeds, rows, digest of its ids

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def minimums_passed(self) -> bool:
        return all(c.passed for c in self.checks if c.kind == MINIMUM)

    @property
    def promote(self) -> bool:
        """Whether the champion alias moves to the challenger."""
        if self.champion_version is None:
            return self.minimums_passed
        return self.mode == "enabled" and self.passed

    @property
    def outcome(self) -> str:
        if self.champion_version is None:
            return "promote (first champion)" if self.promote else "reject (below the minimums)"
        if self.mode == "disabled":
            return "not validated (mode disabled): champion unchanged"
        verdict = "challenger passed" if self.passed else "challenger failed"
        if self.mode == "dry_run":
            return f"dry run: {verdict}; champion unchanged"
        return "promote" if self.promote else f"reject ({verdict})"

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "outcome": self.outcome,
            "passed": self.passed,
            "promote": self.promote,
            "holdout": self.holdout,
            "challenger_metrics": self.challenger_metrics,
            "champion_metrics": self.champion_metrics,
            "challenger_landmarks": self.challenger_landmarks,
            "champion_landmarks": self.champion_landmarks,
            "checks": [asdict(c) for c in self.checks],
            "not_evaluated": [asdict(n) | {"status": str(n)} for n in self.not_evaluated],
        }

    def tags(self) -> dict[str, str]:
        tags = {
            "validation_mode": self.mode,
            "validation_outcome": self.outcome,
            "validation_passed": str(self.passed).lower(),
            "validation_promote": str(self.promote).lower(),
            "validation_champion_version": self.champion_version or "none",
        }
        tags |= {f"holdout_{k}": v for k, v in self.holdout.items()}
        for name, value in self.challenger_metrics.items():
            tags[f"challenger_{name}"] = f"{value:.4f}"
        for name, value in self.champion_metrics.items():
            tags[f"champion_{name}"] = f"{value:.4f}"
        for check in self.checks:
            tags[f"check_{check.name}"] = "pass" if check.passed else "fail"
            if check.low is not None:
                bounds = f"[{_fmt(check.low, '+')}, {_fmt(check.high, '+')}]"
                tags[f"interval_{check.name}"] = f"{_fmt(check.value, '+')} {bounds}"
        for skipped in self.not_evaluated:
            tags[f"check_{skipped.name}"] = f"not evaluated (n={skipped.episodes})"
        return tags

    def description(self) -> str:
        lines = [f"Validation ({self.mode}): {self.outcome}."]
        lines += [f"- {'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        lines += [f"- NOT EVALUATED {n.name}: {n}" for n in self.not_evaluated]
        return "\n".join(lines)


def _fmt(value: float | None, sign: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:{sign}.4f}"


def decide(
    config: ValidationSettings,
    primary: str,
    capacity: float,
    landmarks: list[str],
    challenger_version: str,
    champion_version: str | None,
    scored: pd.DataFrame,
) -> Decision:
    """`scored`: member_id, episode_id, landmark, label, the configured subgroups, and the
    score columns `challenger` and (when there is a champion) `champion`."""
    labels = scored["label"].to_numpy(np.int64)
    compare = champion_version is not None and config.mode != "disabled"
    decision = Decision(config.mode, challenger_version, champion_version)
    for role in ("challenger", "champion") if compare else ("challenger",):
        metrics = classification_metrics(labels, scored[role].to_numpy(np.float64))
        metrics |= {"rows": float(len(scored)), "episodes": float(scored["episode_id"].nunique())}
        per_landmark = landmark_metrics(scored.assign(score=scored[role]), capacity, landmarks)
        setattr(decision, f"{role}_metrics", metrics)
        setattr(decision, f"{role}_landmarks", per_landmark)

    _minimums(decision, config, scored, landmarks)
    if compare:
        _comparisons(decision, config, primary, capacity, landmarks, scored)
    return decision


def _minimums(decision: Decision, config: ValidationSettings, scored: pd.DataFrame, landmarks: list[str]) -> None:
    mine = decision.challenger_metrics
    for metric, floor in (("auroc", config.min_auroc), ("auprc", config.min_auprc)):
        value = mine[metric]
        decision.checks.append(
            Check(f"min_{metric}", MINIMUM, value, floor, value >= floor, f"challenger {_fmt(value)} >= {floor:.4f}")
        )
    low, high = config.calibration.slope
    bound = config.calibration.max_abs_intercept
    boot = config.bootstrap
    weights = replicate_weights(scored["member_id"].to_numpy(), boot.replicates, boot.seed)
    labels = scored["label"].to_numpy(np.int64)
    scores = scored["challenger"].to_numpy(np.float64)
    for landmark in landmarks:
        mask = (scored["landmark"] == landmark).to_numpy()
        part = scored[mask]
        if len(part) < config.min_landmark_rows or part["label"].nunique() < 2:
            decision.not_evaluated.append(_too_small(f"calibration_{landmark}", part, config.min_landmark_rows))
            continue
        fitted = weighted_calibration(labels[mask], scores[mask], weights[:, mask])
        slope = interval(fitted["calibration_slope"], boot.confidence)
        intercept = interval(fitted["calibration_intercept"], boot.confidence)
        # miscalibration must be shown, not merely possible: the check fails when an interval
        # lies wholly outside its bounds, and a holdout too small to tell passes it
        ok = slope.high >= low and slope.low <= high and intercept.high >= -bound and intercept.low <= bound
        decision.checks.append(
            Check(
                f"calibration_{landmark}",
                MINIMUM,
                slope.estimate,
                bound,
                ok,
                f"slope {slope.estimate:.3f} [{slope.low:.3f}, {slope.high:.3f}] must reach [{low}, {high}]; "
                f"intercept {intercept.estimate:+.3f} [{intercept.low:+.3f}, {intercept.high:+.3f}] must reach "
                f"+/-{bound} ({len(part):,} rows)",
                slope.low,
                slope.high,
            )
        )


def _too_small(name: str, part: pd.DataFrame, minimum: int, unit: str = "rows") -> NotEvaluated:
    count = len(part) if unit == "rows" else part["episode_id"].nunique()
    classes = part["label"].nunique() if len(part) else 0
    reason = f"{count:,} {unit} < {minimum:,}" if count < minimum else "a single class"
    if count >= minimum and classes == 2:
        reason = "nobody above the outreach cut-off for one of the models"
    return NotEvaluated(name, int(part["episode_id"].nunique()) if len(part) else 0, reason)


def _comparisons(
    decision: Decision,
    config: ValidationSettings,
    primary: str,
    capacity: float,
    landmarks: list[str],
    scored: pd.DataFrame,
) -> None:
    boot = config.bootstrap
    weights = replicate_weights(scored["member_id"].to_numpy(), boot.replicates, boot.seed)
    labels = scored["label"].to_numpy(np.int64)
    mine, theirs = scored["challenger"].to_numpy(np.float64), scored["champion"].to_numpy(np.float64)
    level = f"{boot.confidence:.0%}"

    def difference(metric: str, mask: np.ndarray) -> Interval:
        w, y = weights[:, mask], labels[mask]
        return interval(
            weighted_metric(metric, y, mine[mask], w) - weighted_metric(metric, y, theirs[mask], w), boot.confidence
        )

    everyone = np.ones(len(scored), dtype=bool)
    gap = difference(primary, everyone)
    margin = config.min_improvement
    better = gap.low > margin
    verdict = (
        "better" if better else ("worse: champion kept" if gap.high < 0 else "inconclusive or a tie: champion kept")
    )
    decision.checks.append(
        Check(
            f"beats_champion_{primary}",
            COMPARISON,
            gap.estimate,
            margin,
            better,
            f"challenger {_fmt(decision.challenger_metrics[primary])} - champion "
            f"{_fmt(decision.champion_metrics[primary])} = {gap} ({level} paired bootstrap, "
            f"{boot.replicates} replicates); lower bound must exceed {margin:+.4f}: {verdict}",
            gap.low,
            gap.high,
        )
    )

    for subgroup in config.subgroups:
        pools = config.cell_of(subgroup)
        cells = scored[subgroup].astype(str).map(lambda v, pools=pools: pools.get(v, v))
        for cell in sorted(cells.unique()):
            mask = (cells == cell).to_numpy()
            part = scored[mask]
            name = f"subgroup_{subgroup}_{cell}"
            episodes = part["episode_id"].nunique()
            if episodes < config.min_subgroup_episodes or part["label"].nunique() < 2:
                decision.not_evaluated.append(_too_small(name, part, config.min_subgroup_episodes, unit="episodes"))
                continue
            diff = difference("auroc", mask)
            drop = config.max_subgroup_drop
            held = set(scored.loc[mask, subgroup].astype(str))
            pooled = f" (pool of {', '.join(sorted(held))})" if held != {cell} else ""
            decision.checks.append(
                Check(
                    name,
                    COMPARISON,
                    diff.estimate,
                    -drop,
                    diff.low >= -drop,
                    f"AUROC difference {diff} on {episodes:,} episodes{pooled}; lower bound must be >= {-drop:+.4f}",
                    diff.low,
                    diff.high,
                )
            )

    for landmark in landmarks:
        mask = (scored["landmark"] == landmark).to_numpy()
        part = scored[mask]
        if len(part) < config.min_landmark_rows or part["label"].nunique() < 2:
            decision.not_evaluated.append(_too_small(f"outreach_{landmark}", part, config.min_landmark_rows))
            continue
        w = weights[:, mask]
        ours = at_capacity(labels[mask], mine[mask], w, capacity)
        champions = at_capacity(labels[mask], theirs[mask], w, capacity)
        for metric, allowed in (("ppv", config.max_ppv_drop), ("sensitivity", config.max_sensitivity_drop)):
            diff = interval(ours[metric] - champions[metric], boot.confidence)
            decision.checks.append(
                Check(
                    f"{metric}_{landmark}",
                    COMPARISON,
                    diff.estimate,
                    -allowed,
                    diff.low >= -allowed,
                    f"{metric.upper() if metric == 'ppv' else metric} at capacity (top {capacity:.0%}): "
                    f"challenger {_fmt(float(ours[metric][0]))} - champion {_fmt(float(champions[metric][0]))} "
                    f"= {diff}; lower bound must be >= {-allowed:+.4f}",
                    diff.low,
                    diff.high,
                )
            )
