"""The promotion gate: checks in a fixed order and the decision, as plain data (no Spark, no
MLflow).

Input: one frame of holdout rows (member, episode, landmark, label, subgroups) with both
models' scores side by side. The checks, in the order they are judged and recorded:

1. Minimums, on the challenger alone and required of a first champion too: AUROC and AUPRC
   floors (set from a recorded reference run, never tuned on the holdout), and at every
   landmark a calibration slope and intercept whose intervals reach the configured bounds
   (miscalibration must be shown, not merely possible on a small holdout).
2. The primary check: the interval of (challenger - champion) on the primary metric, from
   a paired, seeded, member-clustered bootstrap (ml/evaluation/bootstrap.py), must lie
   above `min_improvement`. Its one-sided level is (1 - confidence) / 2 on the first look
   at a holdout and halves with every further look against the same champion on an
   overlapping holdout (`look`), so repeated looks at one holdout spend at most
   1 - confidence in all.
3. Secondary checks, each a non-inferiority margin sized to its own standard error: it
   fails when the challenger's drop exceeds z standard errors of that difference, z set by
   Bonferroni over the secondary checks so that an equal challenger fails any of them at
   most `secondary_false_failure` of the time. In order: AUROC at every landmark; PPV and
   sensitivity at capacity (the top `capacity` share of each landmark's rows, as a day's
   list is sized) at every landmark; AUROC in every subgroup cell (race and ethnicity, age
   band, rurality, language), each cell's difference partially pooled towards its
   subgroup's (a random-effects estimate: a small cell borrows strength, a large one stands
   on its own), so every cell is judged. A cell with a single class is named "not
   evaluated", never skipped silently.

4. No new disparity, per subgroup: a cell where the challenger raises a fairness alert (see
   below) that the champion does not, and serves worse than the champion (a lower AUROC
   within the cell, or, with fairness.worse_means "reach", fewer of its positives on the
   list), fails: better on average must not mean worse for a group the champion served
   within the bounds.

Promotion needs every check. Fairness is also judged absolutely, on the challenger itself:
per cell AUROC, sensitivity at capacity and observed/expected with intervals, and alerts
when a cell falls behind the best-served one (`fairness`); they block only if configured.

The decision depends on the mode:
- enabled: promote when every check passes;
- dry_run: decide and record, but never move the champion;
- disabled: no comparison; the champion never moves (a first champion still needs the
  minimums: nothing below them may reach members).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from ml.config.models import ValidationSettings
from ml.evaluation.bootstrap import (
    at_capacity,
    interval,
    replicate_weights,
    weighted_calibration,
    weighted_metric,
)
from ml.evaluation.landmarks import landmark_metrics
from ml.evaluation.metrics import capacity_share_flagged, classification_metrics

MINIMUM, PRIMARY, SECONDARY, DISPARITY, FAIRNESS = "minimum", "primary", "secondary", "disparity", "fairness"
MIN_CELL_CLASS = 5  # positives and negatives a subgroup cell needs for an estimate of its own
COMPARISON = (PRIMARY, SECONDARY)
ROLES = ("challenger", "champion")  # the score columns of a compared holdout


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # MINIMUM, PRIMARY, SECONDARY, DISPARITY or FAIRNESS
    value: float | None  # the point estimate judged (a difference for comparisons)
    threshold: float  # the floor, or the margin the difference must stay above
    passed: bool
    detail: str
    low: float | None = None  # its interval
    high: float | None = None
    n: int = 0  # the rows it rests on
    order: int = 0  # its place in the gate, from 1

    @property
    def status(self) -> str:
        return "PASS" if self.passed else ("ALERT" if self.kind == FAIRNESS else "FAIL")

    def line(self) -> str:
        return f"{self.order:>2}. {self.status} {self.name}: {self.detail}"


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
    holdout: dict[str, str] = field(default_factory=dict)  # split seeds, rows, digest of its ids, look
    fairness: list[dict] = field(default_factory=list)  # per subgroup cell of the challenger
    block_on_fairness: bool = False

    def add(self, check: Check) -> None:
        self.checks.append(Check(**{**asdict(check), "order": len(self.checks) + 1}))

    @property
    def gate(self) -> list[Check]:
        """The checks that decide (fairness alerts only when configured to block)."""
        return [c for c in self.checks if c.kind != FAIRNESS or self.block_on_fairness]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.gate)

    @property
    def minimums_passed(self) -> bool:
        return all(c.passed for c in self.checks if c.kind == MINIMUM)

    @property
    def promote(self) -> bool:
        """Whether the champion alias moves to the challenger."""
        if self.champion_version is None:
            return self.minimums_passed
        return self.mode == "enabled" and self.passed

    def failed(self) -> list[Check]:
        return [c for c in self.gate if not c.passed]

    def alerts(self) -> list[Check]:
        return [c for c in self.checks if c.kind == FAIRNESS and not c.passed]

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

    def reasons(self) -> str:
        """Each failed check with its interval and n, in gate order: why a challenger was rejected."""
        return "; ".join(f"{c.name} {_interval_text(c)} (n={c.n:,})" for c in self.failed())

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
            "checks": [asdict(c) | {"status": c.status} for c in self.checks],
            "not_evaluated": [asdict(n) | {"status": str(n)} for n in self.not_evaluated],
            "fairness": self.fairness,
        }

    def tags(self) -> dict[str, str]:
        tags = {
            "validation_mode": self.mode,
            "validation_outcome": self.outcome,
            "validation_passed": str(self.passed).lower(),
            "validation_promote": str(self.promote).lower(),
            "validation_champion_version": self.champion_version or "none",
        }
        if self.failed():
            tags["validation_failed_checks"] = self.reasons()[:4900]  # a tag value holds 5,000 characters
        tags |= {f"holdout_{k}": v for k, v in self.holdout.items()}
        for name, value in self.challenger_metrics.items():
            tags[f"challenger_{name}"] = f"{value:.4f}"
        for name, value in self.champion_metrics.items():
            tags[f"champion_{name}"] = f"{value:.4f}"
        for check in self.checks:
            tags[f"check_{check.name}"] = check.status.lower()
            if check.low is not None:
                tags[f"interval_{check.name}"] = _interval_text(check)
        for skipped in self.not_evaluated:
            tags[f"check_{skipped.name}"] = f"not evaluated (n={skipped.episodes})"
        return tags

    def description(self) -> str:
        lines = [f"Validation ({self.mode}): {self.outcome}."]
        lines += [f"- {c.line()}" for c in self.checks]
        lines += [f"- NOT EVALUATED {n.name}: {n}" for n in self.not_evaluated]
        return "\n".join(lines)


def _fmt(value: float | None, sign: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:{sign}.4f}"


def _interval_text(check: Check) -> str:
    sign = "+" if check.kind in COMPARISON else ""
    if check.low is None:
        return _fmt(check.value, sign)
    return f"{_fmt(check.value, sign)} [{_fmt(check.low, sign)}, {_fmt(check.high, sign)}]"


def primary_alpha(confidence: float, look: int) -> float:
    """The primary check's one-sided level on the `look`-th look (1, 2, ...) against one
    champion on an overlapping holdout: (1 - confidence) / 2, halved with each further look."""
    return (1 - confidence) / 2 ** max(look, 1)


def decide(
    config: ValidationSettings,
    primary: str,
    capacity: float,
    landmarks: list[str],
    challenger_version: str,
    champion_version: str | None,
    scored: pd.DataFrame,
    look: int = 1,
) -> Decision:
    """`scored`: member_id, episode_id, landmark, label, the configured subgroups, and the
    score columns `challenger` and (when there is a champion) `champion`."""
    labels = scored["label"].to_numpy(np.int64)
    compare = champion_version is not None and config.mode != "disabled"
    decision = Decision(config.mode, challenger_version, champion_version, block_on_fairness=config.fairness.block)
    for role in ROLES if compare else ROLES[:1]:
        metrics = classification_metrics(labels, scored[role].to_numpy(np.float64))
        metrics |= {"rows": float(len(scored)), "episodes": float(scored["episode_id"].nunique())}
        per_landmark = landmark_metrics(scored.assign(score=scored[role]), capacity, landmarks)
        setattr(decision, f"{role}_metrics", metrics)
        setattr(decision, f"{role}_landmarks", per_landmark)

    boot = config.bootstrap
    weights = replicate_weights(scored["member_id"].to_numpy(), boot.replicates, boot.seed)
    _minimums(decision, config, scored, landmarks, weights)
    if compare:
        gate = _Comparisons(decision, config, scored, weights, capacity)
        gate.primary(primary, look)
        gate.landmarks(landmarks)
        gate.subgroups()
        gate.finish()
    _fairness(decision, config, scored, weights, capacity, compare)
    return decision


def _minimums(
    decision: Decision, config: ValidationSettings, scored: pd.DataFrame, landmarks: list[str], weights: np.ndarray
) -> None:
    mine = decision.challenger_metrics
    labels = scored["label"].to_numpy(np.int64)
    scores = scored["challenger"].to_numpy(np.float64)
    boot = config.bootstrap
    for metric, floor in (("auroc", config.min_auroc), ("auprc", config.min_auprc)):
        value = mine[metric]
        spread = interval(weighted_metric(metric, labels, scores, weights), boot.confidence)
        decision.add(
            Check(
                f"min_{metric}",
                MINIMUM,
                value,
                floor,
                value >= floor,
                f"challenger {_fmt(value)} [{_fmt(spread.low)}, {_fmt(spread.high)}] >= floor {floor:.4f} "
                f"({len(scored):,} rows)",
                spread.low,
                spread.high,
                n=len(scored),
            )
        )
    low, high = config.calibration.slope
    bound = config.calibration.max_abs_intercept
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
        decision.add(
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
                n=len(part),
            )
        )


def _too_small(name: str, part: pd.DataFrame, minimum: int) -> NotEvaluated:
    count = len(part)
    reason = f"{count:,} rows < {minimum:,}" if count < minimum else "a single class"
    return NotEvaluated(name, int(part["episode_id"].nunique()) if len(part) else 0, reason)


class _Comparisons:
    """The primary and secondary checks on paired replicates of (challenger - champion)."""

    def __init__(
        self, decision: Decision, config: ValidationSettings, scored: pd.DataFrame, weights: np.ndarray, capacity: float
    ):
        self.decision, self.config, self.scored, self.weights, self.capacity = (
            decision,
            config,
            scored,
            weights,
            capacity,
        )
        self.labels = scored["label"].to_numpy(np.int64)
        self.mine = scored["challenger"].to_numpy(np.float64)
        self.theirs = scored["champion"].to_numpy(np.float64)
        self.pending: list[tuple[str, np.ndarray, int, str]] = []  # secondary: name, replicates, n, what

    def difference(self, metric: str, mask: np.ndarray) -> np.ndarray:
        w, y = self.weights[:, mask], self.labels[mask]
        return weighted_metric(metric, y, self.mine[mask], w) - weighted_metric(metric, y, self.theirs[mask], w)

    def primary(self, metric: str, look: int) -> None:
        boot = self.config.bootstrap
        alpha = primary_alpha(boot.confidence, look)
        draws = self.difference(metric, np.ones(len(self.scored), dtype=bool))
        gap = interval(draws, 1 - 2 * alpha)
        margin = self.config.min_improvement
        better = gap.low > margin
        verdict = (
            "better" if better else ("worse: champion kept" if gap.high < 0 else "inconclusive or a tie: champion kept")
        )
        d = self.decision
        d.add(
            Check(
                f"beats_champion_{metric}",
                PRIMARY,
                gap.estimate,
                margin,
                better,
                f"challenger {_fmt(d.challenger_metrics[metric])} - champion {_fmt(d.champion_metrics[metric])} = "
                f"{gap} (one-sided {alpha:.4g}: look {look} at this holdout, {boot.replicates} paired replicates by "
                f"member); the lower bound must exceed {margin:+.4f}: {verdict}",
                gap.low,
                gap.high,
                n=len(self.scored),
            )
        )

    def landmarks(self, landmarks: list[str]) -> None:
        masks = {}
        for landmark in landmarks:
            mask = (self.scored["landmark"] == landmark).to_numpy()
            part = self.scored[mask]
            if len(part) < self.config.min_landmark_rows or part["label"].nunique() < 2:
                self.decision.not_evaluated.append(
                    _too_small(f"landmark_{landmark}", part, self.config.min_landmark_rows)
                )
                continue
            masks[landmark] = mask
        for landmark, mask in masks.items():
            self.pending.append((f"auroc_{landmark}", self.difference("auroc", mask), int(mask.sum()), "AUROC"))
        at = {}
        for landmark, mask in masks.items():
            w = self.weights[:, mask]
            ours = at_capacity(self.labels[mask], self.mine[mask], w, self.capacity)
            champions = at_capacity(self.labels[mask], self.theirs[mask], w, self.capacity)
            at[landmark] = {m: ours[m] - champions[m] for m in ("ppv", "sensitivity")}
        for metric in ("ppv", "sensitivity"):
            what = f"{'PPV' if metric == 'ppv' else 'sensitivity'} at capacity (top {self.capacity:.0%})"
            for landmark, mask in masks.items():
                self.pending.append((f"{metric}_{landmark}", at[landmark][metric], int(mask.sum()), what))

    def subgroups(self) -> None:
        """Each cell's AUROC difference: a cell of at least `min_subgroup_episodes`
        episodes on its own, a smaller one partially pooled within its subgroup."""
        for subgroup in self.config.subgroups:
            if subgroup not in self.scored.columns:
                continue
            values = self.scored[subgroup].astype(str).to_numpy()
            cells, thin, large = {}, set(), set()
            for cell in sorted(set(values)):
                mask = values == cell
                part = self.scored[mask]
                if part["label"].nunique() < 2:
                    self.decision.not_evaluated.append(
                        NotEvaluated(f"subgroup_{subgroup}_{cell}", int(part["episode_id"].nunique()), "a single class")
                    )
                    continue
                positives = int(part["label"].sum())
                episodes = int(part["episode_id"].nunique())
                if min(positives, len(part) - positives) < MIN_CELL_CLASS:
                    thin.add(cell)
                elif episodes >= self.config.min_subgroup_episodes:
                    large.add(cell)
                cells[cell] = (mask, self.difference("auroc", mask))
            pooled = _partially_pooled({c: d for c, (_, d) in cells.items()}, thin, large)
            for cell, draws, weight in pooled:
                mask = cells[cell][0]
                if cell in thin:
                    own = f"fewer than {MIN_CELL_CLASS} of a class: judged at its subgroup's estimate"
                elif cell in large:
                    own = f"judged on its own: at least {self.config.min_subgroup_episodes} episodes"
                else:
                    own = f"partially pooled, weight {weight:.2f} on the cell's own estimate"
                what = f"AUROC in {subgroup} {cell} ({own})"
                self.pending.append((f"subgroup_{subgroup}_{cell}", draws, int(mask.sum()), what))

    def finish(self) -> None:
        """The secondary checks, margins sized to their own standard errors (Bonferroni z)."""
        if not self.pending:
            return
        z = NormalDist().inv_cdf(1 - self.config.secondary_false_failure / len(self.pending))
        confidence = self.config.bootstrap.confidence
        for name, draws, n, what in self.pending:
            spread = interval(draws, confidence)
            finite = draws[1:][np.isfinite(draws[1:])]
            se = float(finite.std()) if len(finite) > 1 else float("nan")
            margin = z * se
            passed = bool(np.isfinite(spread.estimate) and spread.estimate >= -margin) if np.isfinite(se) else True
            self.decision.add(
                Check(
                    name,
                    SECONDARY,
                    spread.estimate,
                    -margin,
                    passed,
                    f"{what}: challenger - champion = {spread}; may fall by at most {z:.2f} standard errors "
                    f"({margin:.4f}) ({n:,} rows)",
                    spread.low,
                    spread.high,
                    n=n,
                )
            )


def _partially_pooled(
    cells: dict[str, np.ndarray], thin: set[str] = frozenset(), large: set[str] = frozenset()
) -> list[tuple[str, np.ndarray, float]]:
    """Each cell's replicates shrunk towards the subgroup's precision-weighted mean by the
    random-effects weight tau^2 / (tau^2 + se^2) (DerSimonian-Laird tau^2), replicate by
    replicate so the interval carries the pooling: (cell, replicates, weight). A replicate
    where a small cell's AUROC is undefined (a class drawn away) counts as its estimate; a
    `thin` cell (too few of a class for an estimate of its own) takes the pooled one; a
    `large` cell stands on its own (weight 1): pooling a large cell would let the other
    cells' gains hide a loss concentrated in it, which its own rows can show."""
    names = list(cells)
    draws = np.vstack([cells[c] for c in names]) if names else np.empty((0, 1))
    draws = np.where(np.isfinite(draws), draws, draws[:, :1])
    se = draws[:, 1:].std(axis=1) if draws.shape[1] > 1 else np.zeros(len(names))
    stands = np.array([c not in thin for c in names], dtype=bool)
    ok = np.isfinite(draws[:, 0]) & (se > 0) & stands
    if ok.sum() < 2:
        return [(c, draws[i], 1.0) for i, c in enumerate(names) if c not in thin]
    precision = np.where(ok, 1 / np.where(ok, se, 1.0) ** 2, 0.0)
    mean = (precision * np.where(ok, draws[:, 0], 0.0)).sum() / precision.sum()
    q = (precision * (np.where(ok, draws[:, 0], mean) - mean) ** 2).sum()
    tau2 = max(0.0, (q - (ok.sum() - 1)) / (precision.sum() - (precision**2).sum() / precision.sum()))
    weight = np.where(ok, tau2 / (tau2 + np.where(ok, se, 1.0) ** 2), np.where(stands, 1.0, 0.0))
    weight = np.where(np.array([c in large for c in names], dtype=bool), 1.0, weight)
    pooled = (precision[:, None] * np.where(ok[:, None], draws, 0.0)).sum(axis=0) / precision.sum()
    shrunk = pooled[None, :] + weight[:, None] * (draws - pooled[None, :])
    return [(c, shrunk[i], float(weight[i])) for i, c in enumerate(names)]


def _disparities(
    config: ValidationSettings, scored: pd.DataFrame, weights: np.ndarray, flagged: np.ndarray, role: str
) -> tuple[list[dict], dict[str, list[str]]]:
    """One model's disparity across cells: per cell AUROC, sensitivity at capacity (the
    list's threshold over the whole holdout, ties shared at random) and observed/expected,
    each with its interval (rows of the fairness report), and per judged cell the alerts it
    raises. A cell is compared with the best-served cell of its subgroup replicate by
    replicate (the AUROC gap, the sensitivity ratio), so the interval carries both cells'
    uncertainty: the best of several noisy cells is flattered by its own noise, and judging
    against its point estimate alone would raise alerts that are not there."""
    alerts = config.fairness
    labels = scored["label"].to_numpy(np.int64)
    scores = scored[role].to_numpy(np.float64)
    confidence = alerts.confidence
    report, problems_of = [], {}
    for subgroup in config.subgroups:
        if subgroup not in scored.columns:
            continue
        values = scored[subgroup].astype(str).to_numpy()
        rows, draws = [], {}
        for cell in sorted(set(values)):
            mask = values == cell
            w, y, s = weights[:, mask], labels[mask], scores[mask]
            positives = (w * y).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                sensitivity = (w * y * flagged[mask]).sum(axis=1) / positives
                ratio = positives / (w * s).sum(axis=1)
            auroc = weighted_metric("auroc", y, s, w) if 0 < y.sum() < len(y) else None
            draws[cell] = (auroc, sensitivity if y.sum() else None)
            rows.append(
                {
                    "subgroup": subgroup,
                    "cell": cell,
                    "rows": int(mask.sum()),
                    "positives": int(y.sum()),
                    "auroc": interval(auroc, confidence).as_dict() if auroc is not None else None,
                    "sensitivity": interval(sensitivity, confidence).as_dict() if y.sum() else None,
                    "observed_expected": interval(ratio, confidence).as_dict(),
                }
            )
        report += rows
        judged = [r for r in rows if r["rows"] >= alerts.min_rows]
        best = {
            metric: max((r for r in judged if r[metric]), key=lambda r: r[metric]["estimate"], default=None)
            for metric in ("auroc", "sensitivity")
        }
        for r in judged:
            problems = []
            mine, theirs = draws[r["cell"]], best["auroc"] and draws[best["auroc"]["cell"]]
            if r["auroc"] and theirs and r is not best["auroc"]:
                gap = interval(theirs[0] - mine[0], confidence)
                if gap.low > alerts.max_auroc_gap:
                    problems.append(
                        f"AUROC {_span(r['auroc'])}, {gap} below the best-served {best['auroc']['cell']} "
                        f"({best['auroc']['auroc']['estimate']:.3f}); more than {alerts.max_auroc_gap}"
                    )
            theirs = best["sensitivity"] and draws[best["sensitivity"]["cell"]]
            if r["sensitivity"] and theirs and r is not best["sensitivity"]:
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = interval(mine[1] / theirs[1], confidence)
                if share.high < alerts.min_sensitivity_ratio:
                    problems.append(
                        f"sensitivity {_span(r['sensitivity'])}, {share.estimate:.2f} [{share.low:.2f}, "
                        f"{share.high:.2f}] of the best-served {best['sensitivity']['cell']}'s "
                        f"({best['sensitivity']['sensitivity']['estimate']:.3f}); under "
                        f"{alerts.min_sensitivity_ratio:.0%}"
                    )
            low, high = alerts.observed_expected
            oe = r["observed_expected"]
            if oe["low"] > high or oe["high"] < low:
                problems.append(f"observed/expected {_span(oe)} outside [{low}, {high}]")
            problems_of[f"{subgroup}_{r['cell']}"] = problems
    return report, problems_of


def _fairness(
    decision: Decision,
    config: ValidationSettings,
    scored: pd.DataFrame,
    weights: np.ndarray,
    capacity: float,
    compare: bool,
) -> None:
    """The challenger's own disparity (report and alerts); compared with a champion, a
    disparity the challenger opens (an alert the champion does not raise, in a cell the
    challenger serves worse) fails the gate: better on average must not mean worse for a
    group the champion served within the bounds."""
    roles = ROLES if compare else ROLES[:1]
    listed = {role: capacity_share_flagged(scored[role].to_numpy(np.float64), capacity) for role in roles}
    report, mine = _disparities(config, scored, weights, listed["challenger"], "challenger")
    decision.fairness += report
    rows = {f"{r['subgroup']}_{r['cell']}": r for r in report}
    if compare:
        _, theirs = _disparities(config, scored, weights, listed["champion"], "champion")
        values = {s: scored[s].astype(str).to_numpy() for s in config.subgroups if s in scored.columns}
        for subgroup in values:
            opened = []
            cells = [key for key in mine if key.startswith(f"{subgroup}_")]
            for key in cells:
                if not mine[key] or theirs.get(key):
                    continue
                if _worse(scored, values[subgroup] == rows[key]["cell"], listed, config.fairness.worse_means):
                    opened.append(f"{rows[key]['cell']}: {'; '.join(mine[key])}")
            decision.add(
                Check(
                    f"no_new_disparity_{subgroup}",
                    DISPARITY,
                    float(len(opened)),
                    0.0,
                    not opened,
                    (
                        f"opens a disparity the champion does not have in {len(opened)} of {len(cells)} cells: "
                        + " | ".join(opened)
                        if opened
                        else f"no cell of {len(cells)} newly behind the best-served one"
                    ),
                    n=int(sum(rows[key]["rows"] for key in cells)),
                )
            )
    for key, problems in mine.items():
        r = rows[key]
        decision.add(
            Check(
                f"fairness_{key}",
                FAIRNESS,
                r["auroc"]["estimate"] if r["auroc"] else None,
                config.fairness.max_auroc_gap,
                not problems,
                ("; ".join(problems) if problems else "within the alert bounds")
                + f" ({r['rows']:,} rows, {r['positives']:,} positive)",
                n=r["rows"],
            )
        )


def _worse(scored: pd.DataFrame, mask: np.ndarray, listed: dict[str, np.ndarray], worse_means: str) -> bool:
    """Whether the challenger serves the cell `mask` worse than the champion (point
    estimates): it ranks the cell's members worse (a lower AUROC within it), or, when
    `worse_means` is "reach", puts fewer of its positives on the list (`listed`: each
    role's share of every row in the top capacity of the whole holdout, ties shared).
    "ranking" lets a model that ranks every group better move list places towards the
    group at higher risk."""
    from sklearn.metrics import roc_auc_score

    y = scored["label"].to_numpy()[mask]
    if not 0 < y.sum() < len(y):
        return False
    auroc = {role: roc_auc_score(y, scored[role].to_numpy(np.float64)[mask]) for role in ROLES}
    if auroc["challenger"] < auroc["champion"]:
        return True
    if worse_means == "ranking":
        return False
    reached = {role: listed[role][mask][y == 1].sum() for role in ROLES}
    return bool(reached["challenger"] < reached["champion"])


def _span(value: dict[str, float]) -> str:
    return f"{value['estimate']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"
