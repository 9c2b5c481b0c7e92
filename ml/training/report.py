"""What the parent training run logs besides metrics: importance, curves, subgroups, config.

Every artifact is an aggregate (per feature, per curve point, per subgroup cell): no
member row leaves the data layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xgboost as xgb
import yaml
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from ml.config.loader import Settings
from ml.evaluation.metrics import calibration_error, smoothed_calibration
from ml.evaluation.subgroups import subgroup_metrics
from ml.monitoring.drift import landmark_reference


def importance(booster: xgb.Booster, columns: list[str], readable: dict[str, str]) -> pd.DataFrame:
    gain = booster.get_score(importance_type="total_gain")
    splits = booster.get_score(importance_type="weight")
    frame = pd.DataFrame(
        {
            "feature": columns,
            "description": [readable.get(c, c) for c in columns],
            "total_gain": [gain.get(c, 0.0) for c in columns],
            "splits": [int(splits.get(c, 0)) for c in columns],
        }
    )
    total = frame["total_gain"].sum() or 1.0
    frame["share_of_gain"] = frame["total_gain"] / total
    return frame.sort_values(["total_gain", "feature"], ascending=[False, True]).reset_index(drop=True)


def _importance_png(frame: pd.DataFrame, path: Path, top: int = 25) -> None:
    head = frame.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(head) + 1.2))
    ax.barh(head["description"], head["share_of_gain"], color="#3b6ea5")  # what care managers read
    ax.set_xlabel("share of total gain")
    ax.set_title(f"Top {len(head)} features")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curves_png(labels: np.ndarray, scores: np.ndarray, folder: Path) -> list[Path]:
    paths = []
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    grid = np.quantile(scores, np.linspace(0.01, 0.99, 50))
    observed, predicted = smoothed_calibration(labels, scores, at=grid), grid
    error = calibration_error(labels, scores)
    titles = {
        "roc_curve.png": f"ROC curve, AUROC {roc_auc_score(labels, scores):.3f}",
        "precision_recall_curve.png": f"Precision-recall curve, AUPRC {average_precision_score(labels, scores):.3f}"
        f" (prevalence {labels.mean():.3f})",
        "calibration_curve.png": f"Calibration (smoothed), ICI {error['ici']:.3f}, E90 {error['e90']:.3f}",
    }
    for name, (x, y, xlabel, ylabel, diagonal) in {
        "roc_curve.png": (fpr, tpr, "false positive rate", "true positive rate", True),
        "precision_recall_curve.png": (recall, precision, "recall", "precision", False),
        "calibration_curve.png": (predicted, observed, "mean predicted risk", "observed rate", True),
    }.items():
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.plot(x, y, color="#3b6ea5")
        if diagonal:
            ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(titles[name] + "\n(holdout: the newest censoring-safe months)", fontsize=10)
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        paths.append(folder / name)
    return paths


SCORE_REFERENCE = "score_reference.json"

# The settings a model depends on. Never `platform` or an environment's deployment block:
# run artifacts are readable by everyone with access to the experiment, and workspace,
# subscription and principal ids, vault names and e-mail addresses have no place there.
ML_SECTIONS = (
    "model", "runtime", "landmarks", "features", "sources", "training", "validation", "inference", "monitoring"
)  # fmt: skip


def merged_config(settings: Settings) -> str:
    project = settings.project.model_dump(mode="json")
    data = {
        "environment": {"name": settings.env, "namespace": settings.namespace},
        "project": {section: project[section] for section in ML_SECTIONS},
        "features": {
            "selection": settings.features.selection.model_dump(mode="json"),
            "imputation": settings.features.imputation.model_dump(mode="json"),
            "selected_features": settings.features.selected(),
        },
    }
    return yaml.safe_dump(data, sort_keys=False)


def write_report(
    folder: Path,
    settings: Settings,
    booster: xgb.Booster,
    columns: list[str],
    readable: dict[str, str],
    test: pd.DataFrame,
    imputation_json: str,
    per_landmark: dict[str, dict[str, float]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every parent-run artifact into `folder`; returns the tables for the caller to summarise."""
    folder.mkdir(parents=True, exist_ok=True)
    table = importance(booster, columns, readable)
    table.to_csv(folder / "feature_importance.csv", index=False)
    _importance_png(table, folder / "feature_importance.png")
    _curves_png(test["label"].to_numpy(), test["score"].to_numpy(), folder)
    validation = settings.project.validation
    groups = subgroup_metrics(
        test, list(validation.subgroups), validation.min_subgroup_episodes, settings.project.inference.capacity_share
    )
    groups.to_csv(folder / "subgroup_metrics.csv", index=False)
    (folder / "landmark_metrics.json").write_text(json.dumps(per_landmark or {}, indent=1))
    # the monitoring job's reference: how the holdout's scores were spread, pooled and per
    # landmark on the pooled deciles (bin shares only)
    scores = landmark_reference(
        test["score"].to_numpy(dtype=float), test["landmark"].to_numpy(), settings.project.monitoring.bins
    )
    (folder / SCORE_REFERENCE).write_text(json.dumps(scores, indent=1))
    (folder / "config_merged.yml").write_text(merged_config(settings))
    (folder / "imputation.json").write_text(imputation_json)
    (folder / "feature_descriptions.json").write_text(json.dumps({c: readable.get(c, c) for c in columns}, indent=1))
    return {"importance": table, "subgroups": groups}
