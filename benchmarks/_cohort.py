"""A cohort, its feature table and prepared training data, for the training benchmarks."""

from __future__ import annotations

from datetime import date

AS_OF = date(2026, 6, 15)


def features_for(members: int, seed: int = 42, as_of: date = AS_OF):
    """Generate `members` (2021-01 to 2026-06), run the feature job with backfill to
    `as_of`, prepare the landmark rows labelled by then."""
    import dataclasses

    from ml.config.loader import load_settings
    from ml.data.store import table_store
    from ml.features.job import run
    from ml.features.training_set import build
    from ml.runtime.spark import get_spark
    from ml.synth.generate import cohort_spec, generate
    from ml.training import estimator
    from ml.training.prepare import prepare

    spark = get_spark("hrob-benchmark")
    base = load_settings("local")
    env = base.environment.model_copy(update={"source_schema": "bench.sources", "db_schema": "bench_features"})
    settings = dataclasses.replace(base, environment=env)
    generate(
        spark,
        table_store(spark, env.source_schema),
        cohort_spec(members, seed=seed, start="2021-01", end="2026-06"),
        overwrite=True,
    )
    run(settings, as_of, backfill_from=date(2021, 1, 1))
    sources, store = table_store(spark, env.source_schema), table_store(spark, settings.namespace)
    return settings, prepare(settings, build(settings, sources, store, as_of=as_of), estimator.num_workers(spark))
