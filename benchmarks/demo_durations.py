"""The demo's duration per job, from a fresh HROB_HOME: what `make demo` costs on this machine.

    .venv/bin/python benchmarks/demo_durations.py [--members 20000]

Runs `hrob demo` (cohort, features with backfill, training, inference through the
runner for the dev stack) in a temporary HROB_HOME and prints the seconds per job from
its demo_summary.json, then runs it a second time (challenger against the champion).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import private_home

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=None, help="cohort size (default: the configured one)")
    args = parser.parse_args()
    home = private_home("demo")
    hrob = str(Path(sys.executable).with_name("hrob"))
    rows = []
    for attempt in ("first run", "second run"):
        command = [hrob, "demo"] + (["--members", str(args.members)] if args.members and attempt == "first run" else [])
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=os.environ, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        summary = json.loads((home / "demo_summary.json").read_text())
        rows.append((attempt, summary["seconds"], wall, summary["promotion_decision"]))
    jobs = ["cohort", "features", "training", "inference"]
    print(f"{'':12}" + "".join(f"{j:>11}" for j in jobs) + f"{'wall':>9}  decision")
    for attempt, seconds, wall, decision in rows:
        print(f"{attempt:12}" + "".join(f"{seconds[j]:>10.0f}s" for j in jobs) + f"{wall:>8.0f}s  {decision}")


if __name__ == "__main__":
    main()
