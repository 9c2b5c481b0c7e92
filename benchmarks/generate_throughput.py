"""Synthetic cohort generation: episodes per second at three sizes, and how time grows.

    .venv/bin/python benchmarks/generate_throughput.py [--episodes 10000 100000 1000000]

Each size generates every source table and the oracle into a temporary HROB_HOME,
so the figure includes writing Parquet. Members are sized from the episodes wanted
(about 1.4 episodes per member over 2021-01..2026-11).
"""

from __future__ import annotations

import argparse

from _common import growth, private_home, timer

EPISODES_PER_MEMBER = 1.40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    private_home("generate")

    from ml.data.store import table_store
    from ml.runtime.spark import get_spark
    from ml.synth.generate import cohort_spec, generate

    spark = get_spark("hrob-benchmark")
    spark.range(1000).count()  # JVM and Python workers warm before the first timing
    sizes, seconds = [], []
    print(f"{'episodes':>10} {'members':>9} {'event rows':>11} {'seconds':>8} {'episodes/s':>11}")
    for wanted in args.episodes:
        members = max(1, round(wanted / EPISODES_PER_MEMBER))
        spec = cohort_spec(members, seed=1, start="2021-01", end="2026-11")
        store = table_store(spark, f"bench.generate_{wanted}")
        with timer() as took:
            counts = generate(spark, store, spec, overwrite=True)
        events = sum(counts[t] for t in ("encounters", "diagnoses", "pharmacy_fills", "lab_results", "sdoh_screenings"))
        sizes.append(counts["episodes"])
        seconds.append(took["seconds"])
        print(
            f"{counts['episodes']:>10,} {members:>9,} {events:>11,} {took['seconds']:>8.1f} "
            f"{counts['episodes'] / took['seconds']:>11,.0f}",
            flush=True,
        )
    for line in growth(sizes, seconds):
        print(line)


if __name__ == "__main__":
    main()
