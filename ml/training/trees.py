"""A booster's trees as NumPy tables: scoring without xgboost, a DMatrix or pandas.

Batch scoring runs in Spark's Python workers, where importing xgboost (and through it
scikit-learn and SciPy) costs 1.5-3 s per worker and building a DMatrix ~9 us per row;
a walk over these tables needs neither. Each tree is laid out as a complete binary tree
of the booster's depth; a leaf shallower than that is repeated below itself, so every
row takes the same number of steps and one step is a few array operations over
(rows, trees).

A split sends a row left when its value is below the split condition, both as float32,
as xgboost compares them. A missing value goes the way xgboost learned for that split:
the walk reads a doubled row, missing as -inf in the first half (always left) and as
+inf in the second (always right), each split pointing into the half of its default.
Tested equal to xgboost's predictions and leaf indices (tests/unit/test_attribution.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.errors import ModelError

_CHUNK_ROWS = 2048  # keeps one step's (rows x trees) arrays in cache
_OBJECTIVES = ("binary:logistic",)  # what batch scoring reproduces: a sigmoid of the margin


@dataclass(frozen=True)
class TreeTables:
    columns: np.ndarray  # model columns some split reads; the walk's input has these, in this order
    read: tuple[np.ndarray, ...]  # per level, (trees * 2**level): position in the doubled row a split reads
    threshold: tuple[np.ndarray, ...]  # per level, (trees * 2**level): float32 split conditions
    leaf_node: np.ndarray  # (trees * 2**depth): xgboost's node id of each bottom slot
    leaf_value: np.ndarray  # (trees * 2**depth)
    base_margin: float

    @classmethod
    def of(cls, model: dict) -> TreeTables:
        """From a booster's JSON (`json.loads(booster.save_raw("json"))`)."""
        learner = model["learner"]
        objective = learner["objective"]["name"]
        if objective not in _OBJECTIVES:
            raise ModelError(
                f"booster objective {objective} is not supported by batch scoring (supported: {', '.join(_OBJECTIVES)})"
            )
        trees = learner["gradient_booster"]["model"]["trees"]
        if any(t["categories_nodes"] for t in trees):
            raise ModelError("booster has categorical splits, which batch scoring does not support")
        columns = split_columns(trees)
        position = {f: i for i, f in enumerate(columns)}
        depth, count = max(_depth(t) for t in trees), len(trees)
        # Level l holds each tree's 2**l slots, tree after tree: slot i's children at level
        # l + 1 are 2i and 2i + 1, so one step is `slot = 2 * slot + went_right`.
        read = [np.zeros(count * 2**level, dtype=np.int32) for level in range(depth)]
        threshold = [np.zeros(count * 2**level, dtype=np.float32) for level in range(depth)]
        leaf_node = np.zeros(count * 2**depth, dtype=np.int64)
        leaf_value = np.zeros(count * 2**depth, dtype=np.float64)
        for k, tree in enumerate(trees):
            left, right = tree["left_children"], tree["right_children"]
            stack = [(0, 0, k)]  # (xgboost node, level, slot)
            while stack:
                node, level, slot = stack.pop()
                if level == depth:
                    leaf_node[slot], leaf_value[slot] = node, tree["split_conditions"][node]  # a leaf's value
                    continue
                if left[node] == -1:  # a leaf above the bottom: any split, both ways reach it
                    children = (node, node)
                else:
                    missing_right = 0 if tree["default_left"][node] else len(columns)
                    read[level][slot] = position[tree["split_indices"][node]] + missing_right
                    threshold[level][slot] = tree["split_conditions"][node]
                    children = (left[node], right[node])
                stack += [(children[0], level + 1, 2 * slot), (children[1], level + 1, 2 * slot + 1)]
        base_score = float(str(learner["learner_model_param"]["base_score"]).strip("[]"))
        base_margin = float(np.log(base_score / (1 - base_score)))
        return cls(np.array(columns, dtype=np.intp), tuple(read), tuple(threshold), leaf_node, leaf_value, base_margin)

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """(rows, trees): the bottom slot each row of `x` (rows, len(columns); NaN = missing) reaches."""
        n, trees = len(x), len(self.leaf_value) >> len(self.read)
        x = np.asarray(x, dtype=np.float32)
        missing = np.isnan(x)
        doubled = np.concatenate([np.where(missing, -np.inf, x), np.where(missing, np.inf, x)], axis=1)
        flat, width = doubled.ravel(), doubled.shape[1]
        out = np.empty((n, trees), dtype=np.int32)
        for start in range(0, n, _CHUNK_ROWS):
            rows = min(_CHUNK_ROWS, n - start)
            row_start = (np.arange(start, start + rows, dtype=np.int32) * np.int32(width))[:, None]
            slot = np.broadcast_to(np.arange(trees, dtype=np.int32), (rows, trees)).copy()
            for read, threshold in zip(self.read, self.threshold, strict=True):
                went_right = flat.take(row_start + read.take(slot)) >= threshold.take(slot)
                slot *= 2
                slot += went_right
            out[start : start + rows] = slot
        return out

    def node_ids(self, leaves: np.ndarray) -> np.ndarray:
        """xgboost's node ids for `leaves` (what `predict(pred_leaf=True)` returns)."""
        return self.leaf_node[leaves]

    def margin(self, leaves: np.ndarray) -> np.ndarray:
        return self.base_margin + self.leaf_value[leaves].sum(axis=1)

    def probability(self, leaves: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.margin(leaves)))


def split_columns(trees: list[dict]) -> list[int]:
    """The model columns some split of `trees` reads, ascending."""
    return sorted(
        {f for t in trees for f, left in zip(t["split_indices"], t["left_children"], strict=True) if left != -1}
    )


def _depth(tree: dict) -> int:
    left, right = tree["left_children"], tree["right_children"]
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, level = stack.pop()
        if left[node] == -1:
            deepest = max(deepest, level)
        else:
            stack += [(left[node], level + 1), (right[node], level + 1)]
    return deepest
