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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from ml.config.loader import Settings
from ml.errors import DataError
from ml.registry import client as registry
from ml.runtime.paths import local_dir

SECTIONS = (
    "Summary",
    "Intended use",
    "Label and window",
    "Promotion decision",
    "Performance against the reference",
    "By landmark",
    "Calibration and discrimination",
    "Subgroups",
    "Fairness",
    "Top features",
    "Training data",
    "Limitations",
    "Owner",
    "Decision history",
)
PLOTS = ("calibration_curve.png", "roc_curve.png", "precision_recall_curve.png")
TOP_FEATURES = 15
SPLITS = ("train", "validation", "test")
Z95 = 1.959964

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 64rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; }
img { max-width: 32%; margin-right: 1%; }
.note { color: #666; font-size: 0.85rem; }
.PASS { color: #1a7f37; font-weight: 600; } .FAIL { color: #c62828; font-weight: 600; }
.ALERT { color: #b26a00; font-weight: 600; }
"""

# What people read instead of column names and codes.
SUBGROUP_NAMES = {
    "race_ethnicity": "race and ethnicity",
    "age_band": "age at the LMP",
    "rurality": "rurality",
    "primary_language": "language",
}
VALUE_NAMES = {
    "asian_pacific_islander": "Asian or Pacific Islander",
    "american_indian_alaska_native": "American Indian or Alaska Native",
    "under_20": "under 20",
    "20_to_34": "20 to 34",
    "35_plus": "35 and over",
}
METRIC_NAMES = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "brier": "Brier score",
    "log_loss": "log loss",
    "ppv": "PPV at capacity",
    "sensitivity": "sensitivity at capacity",
}


ACRONYMS = {"auroc": "AUROC", "auprc": "AUPRC", "ppv": "PPV", "nicu": "NICU", "lmp": "LMP"}


def readable(value: Any) -> str:
    """A code as words: `american_indian_alaska_native` -> American Indian or Alaska Native,
    `beats_champion_auroc` -> Beats champion AUROC."""
    text = str(value)
    if text in VALUE_NAMES:
        return VALUE_NAMES[text]
    if text in SUBGROUP_NAMES:
        return SUBGROUP_NAMES[text]
    if "_" not in text and not text.islower():
        return text
    for code, words in VALUE_NAMES.items():  # a cell inside a check's name
        text = text.replace(code, words)
    sentence = " ".join(ACRONYMS.get(word, word) for word in text.split("_"))
    return sentence[:1].upper() + sentence[1:]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN


def _fmt(value: Any, digits: int = 3) -> str:
    """Counts as whole numbers, rates to `digits` places, words as they are."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() and abs(value) >= 10 else f"{value:.{digits}f}"
    text = str(value)
    if text.lstrip("-").isdigit():
        return f"{int(text):,}"
    return text


def _count(value: Any) -> str:
    number = _number(value)
    return "-" if number is None else f"{round(number):,}"


def wilson(successes: float, n: float) -> tuple[float, float]:
    """The 95% Wilson interval of a proportion."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * ((p * (1 - p) / n + Z95**2 / (4 * n * n)) ** 0.5) / (1 + Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _rate(successes: Any, n: Any) -> str:
    """`0.714 [0.52, 0.86] (15 of 21)`: a rate with its 95% interval and what it rests on."""
    k, total = _number(successes), _number(n)
    if k is None or not total:
        return "-"
    low, high = wilson(k, total)
    return f"{k / total:.3f} [{low:.2f}, {high:.2f}] ({round(k):,} of {round(total):,})"


def _span(value: dict | None) -> str:
    if not value:
        return "-"
    return f"{value['estimate']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


def _table(header: list[str], rows: list[list[Any]], text_columns: int = 1) -> str:
    """Cells left of `text_columns` are words (left-aligned), the rest figures."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    text = ' class="text"'

    def line(row: list[Any]) -> str:
        return "".join(f"<td{text if i < text_columns else ''}>{_cell(c)}</td>" for i, c in enumerate(row))

    body = "".join(f"<tr>{line(row)}</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if isinstance(value, Status):
        return f'<span class="{value.word}">{value.word}</span>'
    return html.escape(_fmt(value))


@dataclass(frozen=True)
class Status:
    word: str  # PASS, FAIL or ALERT


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


def _decision_report(tags: dict[str, str]) -> dict[str, Any] | None:
    """The validation task's decision (checks in order, fairness cells), logged with its run."""
    from ml.registry.validation import REPORT

    run_id = tags.get("validation_run_id")
    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REPORT, dst_path=tmp)
        except (MlflowException, OSError):  # an older version without the report: the card says so
            return None
        return json.loads(Path(path).read_text())


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
    history = sorted(registry.versions(name), key=lambda v: int(v.version), reverse=True)
    tags = dict(version.tags or {})
    return {
        "model": name,
        "version": str(version.version),
        "is_champion": champion is not None and str(champion.version) == str(version.version),
        "champion_version": str(champion.version) if champion else None,
        "created": datetime.fromtimestamp(version.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "run_id": version.run_id,
        "tags": tags,
        "params": dict(run.data.params),
        "metrics": {k: v for k, v in metrics.items() if k.startswith("test_") and k.count("_") <= 2},
        "reference": reference,
        "landmarks": landmarks,
        "decision": _decision_report(tags),
        "history": [
            {
                "version": str(v.version),
                "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d"),
                "decision": (v.tags or {}).get("validation_outcome", "not validated"),
                "promoted": (v.tags or {}).get("promoted", "-"),
                "holdout_auroc": _number((v.tags or {}).get("challenger_auroc")),
                "champion_holdout_auroc": _number((v.tags or {}).get("champion_auroc")),
                "rolled_back": (v.tags or {}).get("rolled_back_reason", ""),
            }
            for v in history
        ],
    }


def _intended_use(settings: Settings) -> str:
    inference = settings.project.inference
    landmarks = ", ".join(readable(lm.name) for lm in settings.project.landmarks)
    return (
        "<p>Ranks the plan's pregnant members by the risk of a high-risk pregnancy outcome, so that care "
        f"managers and clinics reach the most at risk first. A pregnancy is scored once at each landmark ({landmarks}) "
        f"within {inference.max_landmark_age_days} days of reaching it, while it is still under way; the outreach "
        f"list holds the top {inference.capacity_share:.0%} of risks, the care-management capacity.</p>"
        "<p><b>Not for</b>: a diagnosis, a decision about coverage or care, or any member outside the plan's "
        "Medicaid pregnancy population; a member already carrying what the model anticipates is listed apart, "
        "as a detection, not a prediction.</p>"
    )


def _label_and_window(settings: Settings) -> str:
    training = settings.project.training
    return (
        f"<p>Label <code>{html.escape(settings.project.model.label)}</code>: any of preterm birth, low birthweight, "
        "severe maternal morbidity, a hypertensive disorder of pregnancy (new onset only: a part already known at "
        "the landmark from a code, a reading or a fill dated in this pregnancy does not count), stillbirth or "
        "NICU admission, from the landmark to 42 days after delivery. Pregnancies that ended in a loss have no "
        "label.</p>"
        "<p>Censoring-safe: a pregnancy is labelled only once its expected delivery + 42 days + "
        f"{training.censoring_margin_days} days (claims lag) lies before the run date. Training learns from "
        f"earlier months; the newest {settings.project.validation.holdout_months} censoring-safe months are the "
        "holdout and the recalibration rows.</p>"
    )


def _limitations() -> str:
    return (
        "<ul><li>Trained and judged on claims, labs, fills and screenings as the plan receives them: a condition "
        "never coded or a lab never sent is invisible, and recent claims lag.</li>"
        "<li>Gestational age comes from codes (Z3A) and the estimated LMP, not from ultrasound dating.</li>"
        "<li>Rates by subgroup rest on the counts shown; small cells are pooled or not shown, and an interval "
        "that spans the overall figure does not show a difference.</li>"
        "<li>Calibrated on the newest censoring-safe months: a population that moves after them (an influx of "
        "new members, a change of coding) shifts risks before any label says so; see the monitoring report.</li>"
        "<li>Every figure in this repository comes from synthetic members.</li></ul>"
    )


def _owner(settings: Settings) -> str:
    platform = settings.project.platform
    return _table(
        ["", ""],
        [
            ["model owner (training, features, thresholds)", platform.data_science_group],
            ["on call (rollback, monitoring alerts)", platform.operations_group],
            ["environment", settings.env],
        ],
        text_columns=2,
    )


def _decision_section(card: dict[str, Any], settings: Settings) -> list[str]:
    decision = card["decision"]
    tags = card["tags"]
    if decision is None:
        return [f'<p class="note">{html.escape(tags.get("validation_outcome", "not validated"))}: no decision '
                "report was logged with this version.</p>"]  # fmt: skip
    holdout = decision.get("holdout", {})
    head = (
        f"<p><b>{html.escape(decision['outcome'])}</b> against "
        f"{'v' + decision['champion_version'] if decision.get('champion_version') else 'no champion'}, on "
        f"{_count(holdout.get('rows'))} holdout rows ({html.escape(holdout.get('recent_from', '-'))} to "
        f"{html.escape(holdout.get('safe_until', '-'))}). Checks in gate order; a comparison passes when its "
        "interval clears the threshold; fairness alerts are reported, not gating unless configured.</p>"
    )
    rows = [
        [
            check["order"],
            readable(check["name"]),
            Status(check["status"]),
            _check_value(check),
            _check_threshold(check),
            check["n"],
            check["detail"],
        ]
        for check in decision["checks"]
    ]
    rows += [[None, readable(n["name"]), "not evaluated", "-", None, n["episodes"], n["reason"]]
             for n in decision.get("not_evaluated", [])]  # fmt: skip
    return [head, _table(["#", "check", "verdict", "value [interval]", "threshold", "rows", "detail"], rows, 2)]


def _check_threshold(check: dict[str, Any]) -> Any:
    """The threshold as the check states it: a disparity check allows no opened cell; a
    calibration check bounds the intercept (its detail gives the slope's bounds too)."""
    threshold = check.get("threshold")
    if threshold is None:
        return None
    if check["kind"] == "disparity":
        return "no cell"
    if check["name"].startswith("calibration_"):
        return f"intercept +/-{threshold:g}"
    if check["kind"] in ("primary", "secondary"):
        return f"{threshold:+.3f}"  # a difference, signed as its value is
    return threshold


def _check_value(check: dict[str, Any]) -> str:
    value, low, high = check.get("value"), check.get("low"), check.get("high")
    if value is None:
        return "-"
    if check["kind"] == "disparity":
        return f"{int(value):,} cell(s)"
    sign = "+" if check["kind"] in ("primary", "secondary") else ""
    if low is None:
        return f"{value:{sign}.3f}"
    return f"{value:{sign}.3f} [{low:{sign}.3f}, {high:{sign}.3f}]"


def _fairness_section(card: dict[str, Any], settings: Settings) -> list[str]:
    decision = card["decision"]
    if not decision or not decision.get("fairness"):
        return ['<p class="note">No fairness report was logged with this version.</p>']
    minimum = settings.project.validation.fairness.min_rows
    alerts = {c["name"]: c for c in decision["checks"] if c["kind"] == "fairness"}
    rows = []
    for cell in decision["fairness"]:
        check = alerts.get(f"fairness_{cell['subgroup']}_{cell['cell']}")
        small = cell["rows"] < minimum
        rows.append(
            [
                readable(cell["subgroup"]),
                readable(cell["cell"]),
                cell["rows"],
                cell["positives"],
                "-" if small else _span(cell.get("auroc")),
                "-" if small else _span(cell.get("sensitivity")),
                "-" if small else _span(cell.get("observed_expected")),
                Status(check["status"]) if check else f"not judged (under {minimum:,} rows)",
            ]
        )
    return [
        "<p class=\"note\">The challenger's own disparity on the holdout: each cell's AUROC, sensitivity at "
        "capacity (the list's threshold over the whole holdout) and observed/expected (above 1: risk "
        "under-predicted), with 95% intervals resampled by member; an alert where a cell falls behind the "
        f"best-served cell of its subgroup (configs/project.yml, validation.fairness). Cells under {minimum:,} "
        "rows show counts only.</p>",
        _table(
            ["subgroup", "cell", "rows", "positives", "AUROC", "sensitivity", "observed/expected", "alert"], rows, 2
        ),
    ]


def render(settings: Settings, card: dict[str, Any], report: Path) -> str:
    """The page, from `collect`'s data and the run's `report/` artifacts folder."""
    validation = settings.project.validation
    capacity = settings.project.inference.capacity_share
    tags, params = card["tags"], card["params"]
    m = card["metrics"]
    status = "champion" if card["is_champion"] else f"not the champion (champion: v{card['champion_version']})"
    floors = {"auroc": validation.min_auroc, "auprc": validation.min_auprc}
    parts = [
        f"<h1>Model card: {html.escape(card['model'])} v{card['version']}</h1>",
        f'<p class="note">Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by <code>hrob model report --html</code>; '
        "aggregate figures only, no member rows. Intervals are 95%.</p>",
        "<h2>Summary</h2>",
        _table(
            ["", ""],
            [
                ["status", status],
                ["registered", card["created"]],
                ["promotion decision", tags.get("validation_outcome", "not validated")],
                ["predicts", readable(params.get("label", "-"))],
                ["test AUROC / AUPRC", f"{_fmt(m.get('test_auroc'))} / {_fmt(m.get('test_auprc'))}"],
                ["Git commit", tags.get("git_commit", "-")[:12]],
                ["training run", card["run_id"]],
            ],
            text_columns=2,
        ),
        "<h2>Intended use</h2>",
        _intended_use(settings),
        "<h2>Label and window</h2>",
        _label_and_window(settings),
        "<h2>Promotion decision</h2>",
        *_decision_section(card, settings),
        "<h2>Performance against the reference</h2>",
        '<p class="note">Each model on its own training run\'s test part, with the validation floors of '
        "configs/project.yml (PASS: at or above the floor). The promotion decision above compares both models "
        "on one holdout.</p>",
        _table(
            ["metric", "this version", "champion", "floor", "verdict"],
            [
                [
                    METRIC_NAMES[name],
                    m.get(f"test_{name}"),
                    (card["reference"] or {}).get(f"test_{name}"),
                    floors.get(name),
                    Status("PASS" if m.get(f"test_{name}", 0) >= floors[name] else "FAIL") if name in floors else "-",
                ]
                for name in ("auroc", "auprc", "brier", "log_loss")
            ],
        ),
        "<h2>By landmark</h2>",
        f'<p class="note">At capacity: the top {capacity:.0%} of each landmark\'s rows by risk. PPV: the share of '
        "those listed who had the outcome; sensitivity: the share of those with the outcome who were listed; "
        "each with its 95% interval and the counts it rests on.</p>",
        _table(
            ["landmark", "rows", "positives", "AUROC", "AUPRC", "calibration slope", "ICI", "PPV", "sensitivity"],
            [
                [
                    readable(name),
                    _count(v.get("rows")),
                    _count(v.get("positives")),
                    v.get("auroc"),
                    v.get("auprc"),
                    v.get("calibration_slope"),
                    v.get("ici"),
                    _rate(_hits(v), v.get("flagged")),
                    _rate(_hits(v), v.get("positives")),
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
        parts += [
            f'<p class="note">Test part of the training run. Cells under {validation.min_subgroup_episodes:,} rows '
            "show counts only. Observed/expected above 1: the model under-predicts the cell's risk.</p>",
            _table(
                ["subgroup", "cell", "rows", "positives", "AUROC", "observed/expected", "PPV", "sensitivity"],
                [
                    [
                        readable(r["subgroup"]),
                        readable(r["value"]),
                        _count(r["episodes"]),
                        _count(r.get("positives")),
                        r.get("auroc"),
                        r.get("observed_expected"),
                        _rate(_subgroup_hits(r, "ppv"), _flagged(r)),
                        _rate(_subgroup_hits(r, "sensitivity"), r.get("positives")),
                    ]
                    for r in groups.to_dict("records")
                ],
                2,
            ),
        ]
    parts += ["<h2>Fairness</h2>", *_fairness_section(card, settings), "<h2>Top features</h2>"]
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
                ["landmarks", ", ".join(readable(x) for x in params.get("landmarks", "-").split(","))],
                ["rows (train / validation / test)", " / ".join(_count(params.get(f"rows_{s}")) for s in SPLITS)],
                [
                    "features / model columns",
                    f"{_count(params.get('features'))} / {_count(params.get('model_columns'))}",
                ],
                ["search trials run", _count(params.get("trials_run"))],
                ["holdout of the decision", f"{_count(tags.get('holdout_rows'))} rows"],
            ],
            text_columns=2,
        ),
        "<h2>Limitations</h2>",
        _limitations(),
        "<h2>Owner</h2>",
        _owner(settings),
        "<h2>Decision history</h2>",
        '<p class="note">AUROC on the holdout of each version\'s own decision (each against the champion of its '
        "day), not on a training run's test part.</p>",
        _table(
            ["version", "registered", "decision", "promoted", "holdout AUROC", "champion's", "rolled back"],
            [
                [
                    h["version"],
                    h["created"],
                    h["decision"],
                    h["promoted"],
                    h["holdout_auroc"],
                    h["champion_holdout_auroc"],
                    h["rolled_back"],
                ]
                for h in card["history"]
            ],
            3,
        ),
    ]
    title = f"Model card {html.escape(card['model'])} v{card['version']}"
    head = f"<head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style></head>"
    return f"<!doctype html><html>{head}<body>{''.join(parts)}</body></html>"


def _hits(metrics: dict[str, float]) -> float | None:
    """Listed rows that had the outcome: PPV x flagged."""
    ppv, flagged = _number(metrics.get("ppv")), _number(metrics.get("flagged"))
    return None if ppv is None or flagged is None else round(ppv * flagged)


def _flagged(row: dict[str, Any]) -> float | None:
    share = _number(row.get("flagged_share"))
    return None if share is None else round(share * row["episodes"])


def _subgroup_hits(row: dict[str, Any], rate: str) -> float | None:
    """A cell's listed rows that had the outcome, from its PPV (x flagged) or its
    sensitivity (x positives): the same count, recovered either way."""
    value = _number(row.get(rate))
    base = _flagged(row) if rate == "ppv" else _number(row.get("positives"))
    return None if value is None or base is None else round(value * base)


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
