"""The synthesized stacks as JSON, one document per stack."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def synthesized(synth_out) -> dict[str, dict]:
    return {path.name: json.loads((path / "cdk.tf.json").read_text()) for path in (synth_out / "stacks").iterdir()}
