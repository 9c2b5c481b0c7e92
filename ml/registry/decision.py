"""Champion/challenger checks and the decision, as plain data (no Spark, no MLflow).

Checks: absolute minimums (AUROC, AUPRC), the margin over the champion on the primary
metric, and the largest AUROC drop allowed in any subgroup cell large enough on both
sides. The decision depends on the mode:
- enabled: promote when every check passes;
- dry_run: decide and record, but never move the champion;
- disabled: no comparison; the champion never moves (the first champion still needs
  the absolute minimums: nothing below them may reach members).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from ml.config.models import ValidationSettings


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    threshold: float
    passed: bool
    detail: str


@dataclass
class Decision:
    mode: str
    challenger_version: str
    champion_version: str | None
    checks: list[Check] = field(default_factory=list)
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def minimums_passed(self) -> bool:
        return all(c.passed for c in self.checks if c.name.startswith("min_"))

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
            "challenger_metrics": self.challenger_metrics,
            "champion_metrics": self.champion_metrics,
            "checks": [asdict(c) for c in self.checks],
        }

    def tags(self) -> dict[str, str]:
        tags = {
            "validation_mode": self.mode,
            "validation_outcome": self.outcome,
            "validation_passed": str(self.passed).lower(),
            "validation_promote": str(self.promote).lower(),
            "validation_champion_version": self.champion_version or "none",
        }
        for name, value in self.challenger_metrics.items():
            tags[f"challenger_{name}"] = f"{value:.4f}"
        for name, value in self.champion_metrics.items():
            tags[f"champion_{name}"] = f"{value:.4f}"
        for check in self.checks:
            tags[f"check_{check.name}"] = "pass" if check.passed else "fail"
        return tags

    def description(self) -> str:
        lines = [f"Validation ({self.mode}): {self.outcome}."]
        lines += [f"- {'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def decide(
    config: ValidationSettings,
    primary: str,
    challenger_version: str,
    champion_version: str | None,
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    challenger_groups: pd.DataFrame,
    champion_groups: pd.DataFrame | None,
) -> Decision:
    decision = Decision(
        config.mode,
        challenger_version,
        champion_version,
        challenger_metrics=dict(challenger),
        champion_metrics=dict(champion or {}),
    )
    for metric, floor in (("auroc", config.min_auroc), ("auprc", config.min_auprc)):
        value = challenger[metric]
        decision.checks.append(
            Check(f"min_{metric}", value, floor, value >= floor, f"challenger {_fmt(value)} >= {floor:.4f}")
        )
    if champion is None or config.mode == "disabled":
        return decision
    margin = challenger[primary] - champion[primary]
    decision.checks.append(
        Check(
            f"beats_champion_{primary}",
            margin,
            config.min_improvement,
            margin >= config.min_improvement,
            f"challenger {_fmt(challenger[primary])} - champion {_fmt(champion[primary])} = "
            f"{margin:+.4f}, needs >= {config.min_improvement:+.4f}",
        )
    )
    merged = challenger_groups.merge(champion_groups, on=["subgroup", "value"], suffixes=("", "_champion"))
    for row in merged.itertuples():
        if pd.isna(row.auroc) or pd.isna(row.auroc_champion):
            continue  # too few episodes, or a single class, on one side: no figure to compare
        drop = row.auroc_champion - row.auroc
        decision.checks.append(
            Check(
                f"subgroup_{row.subgroup}_{row.value}",
                drop,
                config.max_subgroup_drop,
                drop <= config.max_subgroup_drop,
                f"AUROC drop {drop:+.4f} vs champion ({row.episodes} episodes), "
                f"allowed <= {config.max_subgroup_drop:.4f}",
            )
        )
    return decision
