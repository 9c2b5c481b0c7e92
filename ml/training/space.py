"""The Hyperopt search space from `training.search_space` in configs/project.yml."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hyperopt import hp
from hyperopt.pyll import stochastic

from ml.config.models import INTEGER_PARAMS, Choice, LogUniform, QLogUniform, QUniform, SearchParameter, Uniform
from ml.errors import ConfigError


def to_hyperopt(search_space: dict[str, SearchParameter]) -> dict[str, Any]:
    space = {}
    for name, p in search_space.items():
        if isinstance(p, Choice):
            space[name] = hp.choice(name, p.options)
        elif isinstance(p, QLogUniform):
            space[name] = hp.qloguniform(name, math.log(p.low), math.log(p.high), p.q)
        elif isinstance(p, QUniform):
            space[name] = hp.quniform(name, p.low, p.high, p.q)
        elif isinstance(p, LogUniform):
            space[name] = hp.loguniform(name, math.log(p.low), math.log(p.high))
        elif isinstance(p, Uniform):
            space[name] = hp.uniform(name, p.low, p.high)
    return space


def decode(params: dict[str, Any]) -> dict[str, Any]:
    """Sampled values as the model takes them (integers where xgboost wants them)."""
    out = {}
    for name, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        out[name] = round(value) if name in INTEGER_PARAMS else value
    return out


def check_sampleable(space: dict[str, Any], seed: int, draws: int = 20) -> None:
    """Draw a few points before any run starts: a space Hyperopt cannot sample, or one
    that yields values xgboost refuses, stops here with one line."""
    rng = np.random.default_rng(seed)
    for _ in range(draws):
        try:
            params = decode(stochastic.sample(space, rng=rng))
        except Exception as error:  # hyperopt raises assorted types for a bad space
            raise ConfigError(f"training.search_space cannot be sampled: {error}") from None
        for name, value in params.items():
            if name in INTEGER_PARAMS and name != "max_leaves" and value < 1:
                raise ConfigError(f"training.search_space.{name}: sampled {value}, must be at least 1")
