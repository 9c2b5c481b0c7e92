"""The model card: one self-contained HTML page about a registered version, for people who
would rather open a file than query MLflow. Written by `hrob model report --html`.

Everything on it is an aggregate already logged with the version's training run (metrics,
curves, subgroup cells of at least `min_subgroup_episodes`, feature importance) or its
registry tags (validation decision, promotion, rollback): no member row.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from ml.config.loader import Settings
from ml.errors import DataError
from ml.registry import client as registry
from ml.runtime.paths import local_dir

SECTIONS = (
    "Summary",
    "Performance against the reference",
    "By landmark",
    "Calibration and discrimination",
    "Subgroups",
    "Top features",
    "Training data",
    "Decision history",
)
PLOTS = ("calibration_curve.png", "roc_curve.png", "precision_recall_curve.png")
TOP_FEATURES = 15
SPLITS = ("train", "validation", "test")

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 32%; margin-right: 1%; }
.note { color: #666; font-size: 0.85rem; }
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, str):
        try:
            return f"{float(value):.{digits}f}"
        except ValueError:
            return value
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _target_version(model_name: str, number: str | None):
    if number is not None:
        found = registry.version(model_name, number)
        if found is None:
            raise DataError(f"model {model_name} has no version {number}")
        return found
    versions = registry.client().search_model_versions(f"name = '{model_name}'")
    if not versions:
        raise DataError(f"model {model_name} has no registered version: run the training job first")
    return registry.by_alias(model_name, registry.CHAMPION) or max(versions, key=lambda v: int(v.version))


def collect(settings: Settings, number: str | None = None) -> dict[str, Any]:
    """What the card shows, as data (the champion's card unless a version is named)."""
    name = settings.model_name
    version = _target_version(name, number)
    run = mlflow.get_run(version.run_id)
    champion = registry.by_alias(name, registry.CHAMPION)
    reference = None
    if champion is not None and str(champion.version) != str(version.version):
        reference = mlflow.get_run(champion.run_id).data.metrics
    metrics = run.data.metrics
    landmarks = {}
    for landmark in settings.project.landmarks:
        prefix = f"test_{landmark.name}_"
        landmarks[landmark.name] = {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}
    history = sorted(
        registry.client().search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version), reverse=True
    )
    return {
        "model": name,
        "version": str(version.version),
        "is_champion": champion is not None and str(champion.version) == str(version.version),
        "champion_version": str(champion.version) if champion else None,
        "created": datetime.fromtimestamp(version.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "run_id": version.run_id,
        "tags": dict(version.tags or {}),
        "params": dict(run.data.params),
        "metrics": {k: v for k, v in metrics.items() if k.startswith("test_") and k.count("_") <= 2},
        "reference": reference,
        "landmarks": landmarks,
        "history": [
            {
                "version": str(v.version),
                "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d"),
                "decision": (v.tags or {}).get("validation_outcome", "not validated"),
                "promoted": (v.tags or {}).get("promoted", "-"),
                "test_auroc": (v.tags or {}).get("test_auroc"),
                "rolled_back": (v.tags or {}).get("rolled_back_reason", ""),
            }
            for v in history
        ],
    }


def render(settings: Settings, card: dict[str, Any], report: Path) -> str:
    """The page, from `collect`'s data and the run's `report/` artifacts folder."""
    validation = settings.project.validation
    capacity = settings.project.inference.capacity_share
    tags, params = card["tags"], card["params"]
    m = card["metrics"]
    status = "champion" if card["is_champion"] else f"not the champion (champion: v{card['champion_version']})"
    parts = [
        f"<h1>Model card: {html.escape(card['model'])} v{card['version']}</h1>",
        f'<p class="note">Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by <code>hrob model report --html</code>; '
        "synthetic or aggregate figures only, no member rows.</p>",
        "<h2>Summary</h2>",
        _table(
            ["", ""],
            [
                ["status", status],
                ["registered", card["created"]],
                ["validation decision", tags.get("validation_outcome", "not validated")],
                ["predicts", params.get("label", "-")],
                ["test AUROC / AUPRC", f"{_fmt(m.get('test_auroc'))} / {_fmt(m.get('test_auprc'))}"],
                ["Git commit", tags.get("git_commit", "-")[:12]],
                ["training run", card["run_id"]],
            ],
        ),
        "<h2>Performance against the reference</h2>",
        "<p class=\"note\">Test split of this version's training run; the reference is the current champion's "
        "test split and the validation floors in configs/project.yml. The promotion decision itself compares "
        "both models on one holdout (validation tags below).</p>",
        _table(
            ["metric", "this version", "champion", "floor"],
            [
                [
                    name,
                    m.get(f"test_{name}"),
                    (card["reference"] or {}).get(f"test_{name}"),
                    {"auroc": validation.min_auroc, "auprc": validation.min_auprc}.get(name),
                ]
                for name in ("auroc", "auprc", "brier", "log_loss")
            ],
        ),
        _table(
            ["validation on the shared holdout", "value"],
            [[k.removeprefix("interval_"), v] for k, v in sorted(tags.items()) if k.startswith("interval_")]
            + [[k, v] for k, v in sorted(tags.items()) if k.startswith(("challenger_", "champion_"))],
        ),
        "<h2>By landmark</h2>",
        f'<p class="note">At capacity: the top {capacity:.0%} of each landmark\'s rows by risk.</p>',
        _table(
            ["landmark", "rows", "AUROC", "AUPRC", "calibration slope", "flagged", "sensitivity", "PPV"],
            [
                [
                    name,
                    int(v["rows"]) if "rows" in v else None,
                    v.get("auroc"),
                    v.get("auprc"),
                    v.get("calibration_slope"),
                    v.get("flagged_share"),
                    v.get("sensitivity"),
                    v.get("ppv"),
                ]
                for name, v in card["landmarks"].items()
            ],
        ),
        "<h2>Calibration and discrimination</h2>",
        "".join(_image(report / p, p.removesuffix(".png")) for p in PLOTS if (report / p).exists()),
        "<h2>Subgroups</h2>",
    ]
    subgroups_file = report / "subgroup_metrics.csv"
    if subgroups_file.exists():
        groups = pd.read_csv(subgroups_file)
        wanted = ["episodes", "auroc", "flagged_share", "sensitivity", "ppv"]
        parts += [
            f'<p class="note">Cells under {validation.min_subgroup_episodes} episodes carry no metrics.</p>',
            _table(
                ["subgroup", "value", "episodes", "AUROC", "flag rate", "sensitivity", "PPV"],
                [
                    [r["subgroup"], r["value"], *[r.get(c) if c in groups.columns else None for c in wanted]]
                    for r in groups.to_dict("records")
                ],
            ),
        ]
    parts.append("<h2>Top features</h2>")
    importance_file = report / "feature_importance.csv"
    if importance_file.exists():
        top = pd.read_csv(importance_file).head(TOP_FEATURES)
        parts.append(
            _table(
                ["feature", "share of gain", "splits"],
                [[r["description"], r["share_of_gain"], int(r["splits"])] for r in top.to_dict("records")],
            )
        )
    parts += [
        "<h2>Training data</h2>",
        _table(
            ["", ""],
            [
                ["labels known on", params.get("as_of", "-")],
                ["newest feature snapshot", params.get("feature_as_of", tags.get("feature_as_of", "-"))],
                ["landmarks", params.get("landmarks", "-")],
                ["rows (train / validation / test)", " / ".join(params.get(f"rows_{s}", "-") for s in SPLITS)],
                ["features / model columns", f"{params.get('features', '-')} / {params.get('model_columns', '-')}"],
                ["trials run", params.get("trials_run", "-")],
                ["holdout of the decision", f"{tags.get('holdout_rows', '-')} rows"],
            ],
        ),
        "<h2>Decision history</h2>",
        _table(
            ["version", "registered", "decision", "promoted", "test AUROC", "rolled back"],
            [
                [h["version"], h["created"], h["decision"], h["promoted"], h["test_auroc"], h["rolled_back"]]
                for h in card["history"]
            ],
        ),
    ]
    title = f"Model card {html.escape(card['model'])} v{card['version']}"
    head = f"<head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style></head>"
    return f"<!doctype html><html>{head}<body>{''.join(parts)}</body></html>"


def write(settings: Settings, output: Path, number: str | None = None) -> tuple[Path, dict[str, Any]]:
    card = collect(settings, number)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(mlflow.artifacts.download_artifacts(run_id=card["run_id"], artifact_path="report", dst_path=tmp))
        page = render(settings, card, report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    return output, card


def default_path(settings: Settings, number: str) -> Path:
    return local_dir("reports") / f"{settings.model_name}_v{number}_model_card.html"


def as_json(card: dict[str, Any]) -> str:
    return json.dumps(card, indent=1, default=str)
