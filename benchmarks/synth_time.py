"""Wall time to synthesize every stack, split into import and synthesis.

    .venv/bin/python benchmarks/synth_time.py [--runs 3]

Each run is a fresh interpreter, as `cdktn synth` and `hrob infra synth` start one:
configuration, importing cdktn and the provider submodules the stacks use (this
starts jsii's Node.js process and loads the provider assemblies), building the
constructs, and writing cdktf.out. Target: under 8 seconds in all on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import infra
from infra.props import deployed_environments, environment_props
props = [environment_props(env) for env in deployed_environments()]
t1 = time.perf_counter()
from cdktn import App
from infra.stack import HrobStack
t2 = time.perf_counter()
app = App(outdir=sys.argv[1], stack_traces=False)
for p in props:
    HrobStack(app, p)
t3 = time.perf_counter()
app.synth()
t4 = time.perf_counter()
print(json.dumps({"configuration": t1 - t0, "import": t2 - t1, "build": t3 - t2, "synth": t4 - t3}))
"""

REPO = Path(__file__).resolve().parents[1]


def run_once() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as outdir:
        started = __import__("time").perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, outdir], cwd=REPO, capture_output=True, text=True, check=True
        )
        wall = __import__("time").perf_counter() - started
    phases = json.loads(done.stdout.strip().splitlines()[-1])
    phases["wall"] = wall
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = [run_once() for _ in range(parser.parse_args().runs)]
    print(f"{'run':>4} {'config':>7} {'import':>7} {'build':>7} {'synth':>7} {'wall':>7}  (seconds)")
    for i, r in enumerate(runs, 1):
        print(
            f"{i:>4} {r['configuration']:>7.2f} {r['import']:>7.2f} {r['build']:>7.2f} {r['synth']:>7.2f} "
            f"{r['wall']:>7.2f}"
        )
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    synthesis = median["build"] + median["synth"]
    print(
        f"median: import {median['import']:.2f}s, synthesis (build + write) {synthesis:.2f}s, "
        f"wall {median['wall']:.2f}s; target < 8 s: {'met' if median['wall'] < 8 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
