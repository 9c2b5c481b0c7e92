"""`hrob monitor report`: the monitoring table over time, as a picture (PNG) and a small
HTML page for people who would rather look than read. Aggregates only."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

from ml.config.loader import Settings
from ml.data import outputs
from ml.data.store import table_store
from ml.errors import DataError
from ml.runtime.paths import local_dir
from ml.runtime.spark import get_spark

PANELS = (  # (check, slice or None for the worst slice, title, threshold setting, lower is worse)
    ("score_psi", "all", "Score drift (PSI, landmark mix held)", "score_psi", False),
    ("feature_psi", None, "Largest feature drift (PSI)", "feature_psi", False),
    ("missing_share_change", None, "Largest change of a missing share", "missing_share_change", False),
    ("volume_share", "all", "Rows scored / previous 28 days", "min_volume_share", True),
    ("expected_auroc", "all", "Expected AUROC from the scores (before outcomes)", None, True),
    ("realised_auroc", "all", "Realised AUROC (landmark labels since censoring-safe)", "min_realised_auroc", True),
)


def load(settings: Settings) -> pd.DataFrame:
    store = table_store(get_spark("hrob-monitor-report"), settings.namespace)
    fix = f"run the monitoring job (hrob run monitoring --env {settings.env})"
    frame = store.require(outputs.MONITORING, fix=fix).toPandas()
    if frame.empty:
        raise DataError(f"{store.namespace}.{outputs.MONITORING} is empty: {fix}")
    return frame


def series(frame: pd.DataFrame, check: str, slice_: str | None, lower_is_worse: bool) -> pd.Series:
    rows = frame[frame["check"] == check]
    if slice_ is not None:
        rows = rows[rows["slice"] == slice_]
    values = rows.assign(size=rows["value"].abs()).dropna(subset=["value"])
    if values.empty:
        return pd.Series(dtype=float)
    worst = values.groupby("monitoring_date")["value" if lower_is_worse else "size"]
    return (worst.min() if lower_is_worse else worst.max()).sort_index()


CHECK_NAMES = {
    "score_psi": "Score drift (PSI)",
    "feature_psi": "Feature drift (PSI)",
    "missing_share_change": "Change of missing share",
    "volume_share": "Rows scored / previous 28 days",
    "tier_rows": "Rows in tier (window)",
    "expected_auroc": "Expected AUROC (from scores)",
    "expected_ppv": "Expected PPV (from scores)",
    "realised_auroc": "Realised AUROC",
    "realised_calibration": "Realised calibration (predicted - observed)",
    "realised_ppv": "Realised PPV at capacity",
    "realised_sensitivity": "Realised sensitivity at capacity",
    "new_labels": "New censoring-safe labels",
    "days_since_training": "Days since training",
    "retrain": "Retrain",
}


def readable_slice(slice_: str, names: dict[str, str]) -> str:
    """`feature=enrollment__days_enrolled__12m,landmark=week_12` as words."""
    if slice_ == "all":
        return "all"
    words = []
    for part in slice_.split(","):
        key, _, value = part.partition("=")
        if key == "feature":
            words.append(names.get(value, value.replace("__", " ").replace("_", " ")))
        else:
            words.append(f"{key.replace('_', ' ')} {value.replace('_', ' ')}")
    return ", ".join(words)


def verdict(row, limit: float) -> str:
    """CROSSED, PASS, not judged (its false-alarm rate at these rows), or - (a figure)."""
    if bool(row.crossed):
        return "CROSSED"
    if row.threshold is not None and not pd.isna(row.threshold):
        return "PASS"
    alarm = getattr(row, "false_alarm", None)
    if alarm is not None and not pd.isna(alarm) and alarm > limit:
        return f"not judged ({alarm:.0%} false alarms at {int(row.rows):,} rows)"
    return "-"


def _value(check: str, value) -> str:
    if value is None or pd.isna(value):
        return "-"
    if check in ("tier_rows", "new_labels", "days_since_training") or check == "retrain":
        return f"{int(value):,}"
    return f"{value:.3f}"


def x_range(dates: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The dates the table has, a little either side (one date: the day before to the day after)."""
    dates = pd.to_datetime(dates)
    first, last = dates.min(), dates.max()
    pad = max(pd.Timedelta(days=1), (last - first) * 0.05)
    return first - pad, last + pad


def plot(frame: pd.DataFrame, settings: Settings, path: Path) -> None:
    config = settings.project.monitoring
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(9, 2.2 * len(PANELS)), sharex=True)
    for ax, (check, slice_, title, threshold, lower) in zip(axes, PANELS, strict=True):
        values = series(frame, check, slice_, lower)
        if values.empty:
            ax.text(0.5, 0.5, "no value yet", ha="center", va="center", transform=ax.transAxes, color="grey")
        else:
            ax.plot(pd.to_datetime(values.index), values.to_numpy(), marker="o", color="#3b6ea5")
        if threshold is not None:
            ax.axhline(getattr(config, threshold), linestyle="--", color="#b03a2e", label="threshold")
            ax.legend(loc="upper left", fontsize=8)
        ax.set_title(title, fontsize=10)
    # the dates the table has, not matplotlib's default span around a single point
    axes[-1].set_xlim(*x_range(frame["monitoring_date"]))
    axes[-1].xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=8))
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    axes[-1].set_xlabel("monitoring date")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(settings: Settings, folder: Path | None = None) -> dict[str, Any]:
    from ml.features.definitions import descriptions

    frame = load(settings)
    folder = folder or local_dir("reports")
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"monitoring_{settings.env}.png"
    plot(frame, settings, png)
    newest = frame["monitoring_date"].max()
    latest = frame[frame["monitoring_date"] == newest]
    crossed = latest[latest["crossed"]]
    names = descriptions(settings.project.features.lookback_months)
    limit = settings.project.monitoring.max_false_alarm
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                CHECK_NAMES.get(r.check, r.check),
                readable_slice(r.slice, names),
                _value(r.check, r.value),
                "-" if r.threshold is None or pd.isna(r.threshold) else f"{r.threshold:g}",
                f"{int(r.rows):,}",
                verdict(r, limit),
                r.detail or "",
            )
        )
        + "</tr>"
        for r in latest.sort_values(["check", "slice"]).itertuples()
    )
    image = base64.b64encode(png.read_bytes()).decode()
    retrain = latest[latest["check"] == "retrain"]
    why = f" {retrain['detail'].iloc[0]}" if len(retrain) and retrain["detail"].iloc[0] else ""
    summary = f"{len(crossed)} threshold(s) crossed." if len(crossed) else "no threshold crossed."
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Monitoring {html.escape(settings.model_name)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto}"
        "td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}</style>"
        "</head><body>"
        f"<h1>Monitoring: {html.escape(settings.model_name)}</h1>"
        f"<p>{frame['monitoring_date'].nunique()} monitoring date(s), {frame['monitoring_date'].min()} to "
        f"{newest}. On {newest}: {summary}{html.escape(why)}</p>"
        f'<img alt="monitoring over time" src="data:image/png;base64,{image}">'
        f"<h2>Checks on {newest}</h2>"
        "<p>CROSSED: past its threshold; PASS: within it; not judged: too few rows for the check to be told "
        f"from chance (its false-alarm rate above {limit:.0%}); -: a figure without a threshold.</p>"
        "<table><tr><th>check</th><th>slice</th><th>value</th><th>threshold</th><th>rows</th><th>verdict</th>"
        f"<th>detail</th></tr>{rows}</table></body></html>"
    )
    page_path = folder / f"monitoring_{settings.env}.html"
    page_path.write_text(page)
    return {
        "png": str(png),
        "html": str(page_path),
        "dates": int(frame["monitoring_date"].nunique()),
        "newest": str(newest),
        "crossed": len(crossed),
        "retrain": why.strip(),
    }
