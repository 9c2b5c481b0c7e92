"""Counter-based random numbers: every draw is a hash of (seed, stream, keys).

The same seed gives the same value for the same member, episode and stream whatever
the partitioning, batch size or number of cores, because no generator state is
carried from one row to the next. Streams are named, so adding a draw never shifts
the others. The hash is splitmix64's finaliser, vectorised with numpy.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = (np.uint64(n) for n in (30, 27, 31, 11))


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


class Streams:
    """Named, keyed random streams for one seed."""

    def __init__(self, seed: int):
        self.seed = seed
        self._keys: dict[str, np.uint64] = {}

    def _stream(self, name: str) -> np.uint64:
        if name not in self._keys:
            digest = hashlib.blake2b(f"{self.seed}/{name}".encode(), digest_size=8).digest()
            self._keys[name] = np.uint64(int.from_bytes(digest, "little"))
        return self._keys[name]

    def uniform(self, stream: str, *keys: np.ndarray | int) -> np.ndarray:
        """Uniform on (0, 1); the result broadcasts over the keys."""
        arrays = np.broadcast_arrays(*[np.asarray(k, dtype=np.int64) for k in keys])
        with np.errstate(over="ignore"):
            h = np.full(arrays[0].shape, self._stream(stream), dtype=np.uint64)
            for key in arrays:
                h = _mix(h ^ (key.astype(np.uint64) * _GOLDEN))
        return ((h >> _S11).astype(np.float64) + 0.5) / float(2**53)

    def normal(self, stream: str, *keys) -> np.ndarray:
        u1 = self.uniform(f"{stream}/1", *keys)
        u2 = self.uniform(f"{stream}/2", *keys)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)

    def logistic(self, stream: str, *keys) -> np.ndarray:
        """Standard logistic: its CDF is the sigmoid, so probabilities stay closed-form."""
        u = self.uniform(stream, *keys)
        return np.log(u / (1.0 - u))

    def bernoulli(self, p: np.ndarray | float, stream: str, *keys) -> np.ndarray:
        return self.uniform(stream, *keys) < p

    def geometric(self, mean: np.ndarray, stream: str, *keys) -> np.ndarray:
        """Counts with the given mean and variance mean*(1+mean): over-dispersed like utilisation."""
        mean = np.maximum(np.asarray(mean, dtype=np.float64), 0.0)
        u = self.uniform(stream, *keys)
        q = mean / (mean + 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            counts = np.floor(np.log(u) / np.log(q))
        return np.where(mean > 0, counts, 0).astype(np.int64)

    def choice(self, weights: dict, stream: str, *keys) -> np.ndarray:
        """Keys of `weights` drawn in proportion to their values."""
        labels = np.array(list(weights))
        cumulative = np.cumsum(np.array(list(weights.values()), dtype=np.float64))
        u = self.uniform(stream, *keys) * cumulative[-1]
        return labels[np.minimum(np.searchsorted(cumulative, u, side="right"), len(labels) - 1)]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def linear(base: float, coefficients: dict[str, float], ctx: dict[str, np.ndarray]) -> np.ndarray:
    """base + sum(coefficient * ctx[name]); an unknown name is a bug, so it raises."""
    total = np.full(len(next(iter(ctx.values()))), base, dtype=np.float64)
    for name, coefficient in coefficients.items():
        total = total + coefficient * ctx[name]
    return total
