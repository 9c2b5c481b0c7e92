"""The `validate` task: score the challenger and the champion on the same recent holdout,
decide, and record the decision on the challenger's model version (tags, description)
and as an artifact of a validation run."""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from ml.config.loader import Settings
from ml.errors import DataError
from ml.evaluation.landmarks import flat
from ml.features.training_set import SUBGROUPS, Periods
from ml.inference.model import check_features, load_scorer, score
from ml.registry import client as registry
from ml.registry.decision import Decision, decide
from ml.registry.holdout import holdout
from ml.runtime.tracking import configure_mlflow

REPORT = "validation_report.json"


def _scores(frame, scorer, keep: list[str]) -> pd.DataFrame:
    return score(frame, scorer, keep).toPandas()


def holdout_digest(scored: pd.DataFrame) -> str:
    """sha256 of the holdout's sorted (episode, landmark) ids: two validations with the same
    digest judged the same rows. No id leaves this function."""
    keys = sorted(f"{e}:{lm}" for e, lm in zip(scored["episode_id"], scored["landmark"], strict=True))
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def run(settings: Settings, model_version: str, job_run_id: str = "", as_of: date | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    config = settings.project.validation
    name = settings.model_name
    configure_mlflow(settings.environment.experiment_path)
    challenger = registry.version(name, model_version)
    if challenger is None:
        raise DataError(f"model {name} has no version {model_version} to validate")
    champion = registry.by_alias(name, registry.CHAMPION)
    champion_version = str(champion.version) if champion else None
    if champion_version == str(model_version):
        raise DataError(f"version {model_version} of {name} is already the champion")
    compare = champion_version is not None and config.mode != "disabled"

    if config.mode == "disabled" and champion_version is not None:
        decision = Decision("disabled", str(model_version), champion_version)
    else:
        mine, _ = load_scorer(name, version=str(model_version))
        theirs = load_scorer(name, version=champion_version)[0] if compare else None
        # Each model is scored on the features it needs: a feature dropped from the selection
        # since the champion was trained must not stop every later promotion.
        features = sorted(set(mine.features) | set(theirs.features if theirs else ()))
        # Members trained on by either model are never in its holdout, whatever split seed
        # each was trained with (a version without the tag predates it: the current seed).
        current = settings.project.training.split_config.seed
        compared = [challenger, champion] if compare else [challenger]
        seeds = sorted({current} | {int((v.tags or {}).get(registry.SPLIT_SEED_TAG, current)) for v in compared})
        frame = holdout(settings, as_of or date.today(), features=features, split_seeds=seeds).cache()
        try:
            keep = ["member_id", "episode_id", "landmark", "label", *SUBGROUPS]
            check_features(mine, frame, "the validation holdout")
            scored = _scores(frame, mine, keep).rename(columns={"risk_score": "challenger"})
            if theirs is not None:
                check_features(theirs, frame, "the validation holdout")
                keys = ["episode_id", "landmark"]
                champions = _scores(frame, theirs, keys).rename(columns={"risk_score": "champion"})
                scored = scored.merge(champions, on=keys, how="inner", validate="one_to_one")
        finally:
            frame.unpersist()
        if scored.empty or scored["label"].nunique() < 2:
            raise DataError(
                f"the validation holdout has {len(scored):,} landmark rows and "
                f"{scored['label'].nunique() if len(scored) else 0} label classes: nothing to judge"
            )
        periods = Periods.of(settings, as_of or date.today())
        look = looks_at(name, champion_version, periods, config.holdout_months, str(model_version)) if compare else 1
        print(
            f"[validate] holdout: {len(scored):,} landmark rows ({scored['episode_id'].nunique():,} "
            f"episodes): {periods.describe()}, split seeds {seeds}"
            + (f"; look {look} against champion v{champion_version} at this holdout" if compare else ""),
            flush=True,
        )
        decision = decide(
            config,
            settings.project.training.primary_metric,
            settings.project.inference.capacity_share,
            [lm.name for lm in settings.project.landmarks],
            str(model_version),
            champion_version,
            scored,
            look=look,
        )
        decision.holdout = {
            "split_seeds": ",".join(map(str, seeds)),
            "months": str(config.holdout_months),
            "recent_from": periods.recent_from.isoformat(),
            "safe_until": periods.safe_until.isoformat(),
            "look": str(look),
            "rows": str(len(scored)),
            "episodes": str(scored["episode_id"].nunique()),
            "digest": holdout_digest(scored),
        }
    record(settings, decision, job_run_id)
    print(
        f"[validate] {name} v{model_version} vs champion "
        f"{'v' + champion_version if champion_version else '(none)'}: {decision.outcome} "
        f"({time.perf_counter() - started:.0f}s)",
        flush=True,
    )
    for check in decision.checks:
        print(f"[validate]   {check.line()}", flush=True)
    for skipped in decision.not_evaluated:
        print(f"[validate]   NOT EVALUATED {skipped.name}: {skipped}", flush=True)
    if decision.failed():
        print(f"[validate] failed, in gate order: {decision.reasons()}", flush=True)
    # the line the runner and CI show last: a rejection names its failed checks, intervals and n
    said = decision.outcome
    if not decision.promote and decision.failed():
        said = f"{said}: {decision.reasons()}"
    return {"decision": said[:1000], "promote": str(decision.promote).lower()}


def looks_at(name: str, champion: str, periods: Periods, holdout_months: int, this: str) -> int:
    """1 + the earlier validations of other versions against `champion` whose holdout began
    within half a holdout of this one's: they looked at mostly the same rows."""
    half = timedelta(days=round(holdout_months * 30.4 / 2))
    earlier = 0
    for found in registry.versions(name):
        tags = found.tags or {}
        if str(found.version) == this or tags.get("validation_champion_version") != champion:
            continue
        began = tags.get("holdout_recent_from")
        if began is None or abs(date.fromisoformat(began) - periods.recent_from) < half:
            earlier += 1
    return earlier + 1


def record(settings: Settings, decision: Decision, job_run_id: str) -> None:
    name, version = settings.model_name, decision.challenger_version
    with mlflow.start_run(run_name=f"validate-v{version}") as run:
        mlflow.set_tags({"job_run_id": job_run_id or "local", "model_version": version, "task": "validate"})
        mlflow.log_metrics(
            {f"challenger_{k}": v for k, v in decision.challenger_metrics.items()}
            | {f"champion_{k}": v for k, v in decision.champion_metrics.items()}
            | flat(decision.challenger_landmarks, "challenger_")
            | flat(decision.champion_landmarks, "champion_")
            | {
                f"{c.name}_{part}": getattr(c, attr)
                for c in decision.checks
                if c.low is not None
                for part, attr in (("difference", "value"), ("low", "low"), ("high", "high"))
                if c.value is not None and math.isfinite(getattr(c, attr))
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / REPORT
            path.write_text(json.dumps(decision.to_dict(), indent=1))
            mlflow.log_artifact(str(path))
    registry.set_tags(name, version, decision.tags() | {"validation_run_id": run.info.run_id})
    current = registry.version(name, version).description or ""
    registry.client().update_model_version(name, version, description=f"{current}\n\n{decision.description()}".strip())
