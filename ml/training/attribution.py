"""Per-row feature contributions by the path each row takes through the trees.

The path attribution (Saabas; xgboost's `approx_contribs`): every split on a row's
path credits its feature with the change in the node's expected value. It depends only
on the leaf a row lands in, so each leaf's credits are tabulated once per model and a
batch needs the leaf indices (ml/training/trees.py), one lookup and one sum. On the demo
champion, one thread: 21 us per row against 44 for xgboost's `approx_contribs` and 425
for TreeSHAP. Tested equal to xgboost's own `approx_contribs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.training.trees import split_columns

_CHUNK_ROWS = 2048  # bounds the (rows x trees x depth) lookup arrays of one step


@dataclass(frozen=True)
class PathAttribution:
    columns: np.ndarray  # the model columns some split reads (contributions come in this order)
    offsets: np.ndarray  # per tree, where its nodes start in the tables
    feature: np.ndarray  # (all nodes, depth): position in `columns` credited on the way to the node
    credit: np.ndarray  # (all nodes, depth): the change in expected value at that step

    @classmethod
    def of(cls, model: dict) -> PathAttribution:
        """From a booster's JSON (`json.loads(booster.save_raw("json"))`)."""
        trees = model["learner"]["gradient_booster"]["model"]["trees"]
        split_on = split_columns(trees)
        position = {f: i for i, f in enumerate(split_on)}
        unused = len(split_on)  # steps past a short path credit a column that is dropped
        paths = [_paths(tree, position) for tree in trees]
        depth = max([1] + [len(p) for tree_paths in paths for p in tree_paths])
        sizes = [len(tree_paths) for tree_paths in paths]
        feature = np.full((sum(sizes), depth), unused, dtype=np.int64)
        credit = np.zeros((sum(sizes), depth), dtype=np.float64)
        row = 0
        for tree_paths in paths:
            for steps in tree_paths:
                for d, (f, c) in enumerate(steps):
                    feature[row, d], credit[row, d] = f, c
                row += 1
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(np.array(split_on, dtype=np.int64), offsets, feature, credit)

    def contributions(self, leaves: np.ndarray) -> np.ndarray:
        """(rows, len(columns)): each split column's contribution to each row's margin,
        from the node id of the leaf each row reaches in each tree (rows, trees)."""
        width = len(self.columns) + 1
        out = np.empty((len(leaves), len(self.columns)), dtype=np.float64)
        for start in range(0, len(leaves), _CHUNK_ROWS):
            nodes = leaves[start : start + _CHUNK_ROWS] + self.offsets
            n = len(nodes)
            cells = np.arange(n)[:, None, None] * width + self.feature[nodes]
            sums = np.bincount(cells.ravel(), weights=self.credit[nodes].ravel(), minlength=n * width)
            out[start : start + n] = sums.reshape(n, width)[:, :-1]
        return out


def _paths(tree: dict, position: dict[int, int]) -> list[list[tuple[int, float]]]:
    """Per node of one tree, the (column position, credit) steps from the root to it."""
    left, right = tree["left_children"], tree["right_children"]
    cover, value = tree["sum_hessian"], tree["split_conditions"]  # a leaf's value sits in split_conditions
    n = len(left)
    order = [0]  # breadth first from the root: a parent always before its children
    for node in order:
        if left[node] != -1:
            order += [left[node], right[node]]
    mean = np.zeros(n)
    for node in reversed(order):
        if left[node] == -1:
            mean[node] = value[node]
        else:
            a, b = left[node], right[node]
            mean[node] = (mean[a] * cover[a] + mean[b] * cover[b]) / cover[node]
    paths: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for node in order:
        if left[node] != -1:
            column = position[tree["split_indices"][node]]
            for child in (left[node], right[node]):
                paths[child] = [*paths[node], (column, mean[child] - mean[node])]
    return paths
