"""Feature job throughput: episodes per second at three cohort sizes, and how time grows.

    .venv/bin/python benchmarks/feature_throughput.py [--members 10000 100000 1000000]

Each size generates a cohort (not timed) into a temporary HROB_HOME, then runs the
feature job as deployed runs it daily plus a weekly backfill from the cohort's start,
so every episode gets a snapshot: the figure is episodes snapshotted per second,
including reading and checking the sources and writing the feature table.
"""

from __future__ import annotations

import argparse
from datetime import date

from _common import growth, private_home, timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--start", default="2023-01")
    parser.add_argument("--as-of", default="2026-06-15")
    args = parser.parse_args()
    private_home("features")

    import dataclasses

    from ml.config.loader import load_settings
    from ml.data.store import table_store
    from ml.features.job import run
    from ml.runtime.spark import get_spark
    from ml.synth.generate import cohort_spec, generate

    spark = get_spark("hrob-benchmark")
    as_of = date.fromisoformat(args.as_of)
    base = load_settings("local")
    sizes, seconds = [], []
    rows = []
    for members in args.members:
        env = base.environment.model_copy(
            update={"source_schema": f"bench.sources_{members}", "db_schema": f"features_{members}"}
        )
        settings = dataclasses.replace(base, environment=env)
        spec = cohort_spec(members, seed=1, start=args.start, end=args.as_of[:7])
        counts = generate(spark, table_store(spark, env.source_schema), spec, overwrite=True)
        with timer() as took:
            result = run(settings, as_of, backfill_from=date.fromisoformat(f"{args.start}-01"))
        sizes.append(counts["episodes"])
        seconds.append(took["seconds"])
        rows.append((members, counts["episodes"], result["feature_rows"], took["seconds"]))
    print(f"\n{'members':>9} {'episodes':>9} {'snapshots':>10} {'seconds':>8} {'episodes/s':>11}")
    for members, episodes, snapshots, secs in rows:
        print(f"{members:>9,} {episodes:>9,} {snapshots:>10,} {secs:>8.1f} {episodes / secs:>11,.0f}")
    for line in growth(sizes, seconds):
        print(line)


if __name__ == "__main__":
    main()
