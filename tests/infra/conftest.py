"""Synthesize every stack once per test run, the way `hrob infra synth` does."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> dict[str, dict]:
    from ml.cli.infra_cmd import synthesize

    outdir = tmp_path_factory.mktemp("cdktf.out")
    assert synthesize(outdir, quiet=True) == 0
    return {path.name: json.loads((path / "cdk.tf.json").read_text()) for path in (outdir / "stacks").iterdir()}
