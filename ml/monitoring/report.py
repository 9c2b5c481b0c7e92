"""`hrob monitor report`: the monitoring table over time, as a picture (PNG) and a small
HTML page for people who would rather look than read. Aggregates only."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display
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
        ax.set_title(title, fontsize=10)
        if threshold is not None:
            ax.legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("monitoring date")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(settings: Settings, folder: Path | None = None) -> dict[str, Any]:
    frame = load(settings)
    folder = folder or local_dir("reports")
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"monitoring_{settings.env}.png"
    plot(frame, settings, png)
    newest = frame["monitoring_date"].max()
    latest = frame[frame["monitoring_date"] == newest]
    crossed = latest[latest["crossed"]]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (r.check, r.slice, "-" if pd.isna(r.value) else f"{r.value:.3f}", r.threshold, r.rows)
        )
        + "</tr>"
        for r in latest.sort_values(["check", "slice"]).itertuples()
    )
    image = base64.b64encode(png.read_bytes()).decode()
    verdict = (
        f"{len(crossed)} threshold(s) crossed: the monitoring job started the training job"
        if len(crossed)
        else "no threshold crossed"
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Monitoring {html.escape(settings.model_name)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto}"
        "td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
        f"<h1>Monitoring: {html.escape(settings.model_name)}</h1>"
        f"<p>{frame['monitoring_date'].nunique()} monitoring dates to {newest}; on {newest}: {verdict}.</p>"
        f'<img alt="monitoring over time" src="data:image/png;base64,{image}">'
        f"<h2>Checks on {newest}</h2><table><tr><th>check</th><th>slice</th><th>value</th><th>threshold</th>"
        f"<th>rows</th></tr>{rows}</table></body></html>"
    )
    page_path = folder / f"monitoring_{settings.env}.html"
    page_path.write_text(page)
    return {
        "png": str(png),
        "html": str(page_path),
        "dates": int(frame["monitoring_date"].nunique()),
        "newest": str(newest),
        "crossed": len(crossed),
    }
