"""Scoring the segmenter's boosted trees in one compiled pass, with scikit-learn's exact numbers.

scikit-learn walks one tree at a time over every row, and each step of a walk is an unpredictable
branch: on the segmenter's 560 trees that is three quarters of a 1,000,000-row ``segment predict``.
Here the trees are scored the QuickScorer way (Lucchese et al., SIGIR 2015), vectorized over rows:

* every tree's leaves are numbered left to right, and every internal node carries a bit mask that
  clears the leaves of its left subtree;
* for a block of rows, each tree starts with all bits set; every node whose test sends the row right
  (``x > threshold``, or a missing value where the tree sends missing values right) clears its mask;
* the row's leaf in each tree is then the lowest bit still set.

No walk, no branch: each node is one comparison and one AND over a block of rows, which the compiler
turns into vector instructions. The result is *equal* to ``HistGradientBoostingClassifier.predict_proba``,
not close to it: a row reaches the same leaf, each column's leaf values are added in the same order from
the same baseline, and the model's own loss turns raw scores into probabilities. Tests pin the equality;
a model this module does not handle (categorical splits, a tree of more than 64 leaves, a non-boosted
classifier) is scored by scikit-learn instead.

Import this module only where it is used: importing numba costs a third of a second, and the first
call in a new environment compiles the kernel (numba caches it on disk for the processes after).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numba
import numpy as np

BLOCK = 128  # rows scored together: wide enough for vector instructions, small enough to stay in cache
MAX_LEAVES = 64  # one bit per leaf in a uint64
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class CompiledForest:
    """The trees of several boosted classifiers as flat arrays, scored together.

    Internal node ``j`` belongs to tree ``tree[j]`` and tests ``X[:, feature[j]] > threshold[j]``
    (``missing_right[j]``: a missing value goes right); going right clears ``mask[j]`` from the tree's
    leaf bits. Tree ``t``'s leaf values are ``leaf_value[leaf_start[t]:]`` left to right and add into
    column ``column[t]`` of the raw scores, which start at ``baseline``. ``spans[m]`` are model ``m``'s
    columns; ``n_features`` the width of ``X`` they expect.
    """

    feature: np.ndarray
    threshold: np.ndarray
    missing_right: np.ndarray
    mask: np.ndarray
    tree: np.ndarray
    leaf_value: np.ndarray
    leaf_start: np.ndarray
    column: np.ndarray
    baseline: np.ndarray
    spans: tuple[tuple[int, int], ...]
    to_proba: tuple[Callable[[np.ndarray], np.ndarray], ...]
    n_features: int

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Raw scores of every model for every row of ``X``: shape (n, total columns), C-ordered."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a 2-D array of {self.n_features} features, got shape {X.shape}")
        out = np.empty((len(X), len(self.baseline)), dtype=np.float64)
        _raw_scores(X, self.feature, self.threshold, self.missing_right, self.mask, self.tree, self.leaf_value,
                    self.leaf_start, self.column, self.baseline, out)
        return out

    def predict_proba(self, X: np.ndarray) -> list[np.ndarray]:
        """``model.predict_proba(X)`` of each model, in the order given to :func:`compile_forest`."""
        raw = self.raw(X)
        # Fortran order, as scikit-learn's own raw predictions, so the loss sees the same array it would.
        return [to_proba(np.asfortranarray(raw[:, a:b])) for (a, b), to_proba in zip(self.spans, self.to_proba)]


@dataclass
class _Builder:
    """Accumulates the flat arrays, tree by tree."""

    nodes: list[tuple[int, float, bool, np.uint64, int]]
    leaf_value: list[float]
    leaf_start: list[int]
    column: list[int]

    def add_tree(self, nodes: np.ndarray, column: int) -> bool:
        """Append one tree (scikit-learn's node array); False when it cannot be scored here."""
        if nodes["is_categorical"].any() or int(nodes["is_leaf"].sum()) > MAX_LEAVES:
            return False
        tree = len(self.leaf_start)
        self.leaf_start.append(len(self.leaf_value))
        self.column.append(column)
        leaves_under: dict[int, int] = {}  # node -> bits of the leaves below it
        # Depth first, left before right: leaves get their left-to-right numbers in visiting order.
        stack, order = [0], []
        while stack:
            i = stack.pop()
            order.append(i)
            if nodes[i]["is_leaf"]:
                leaves_under[i] = 1 << (len(self.leaf_value) - self.leaf_start[tree])
                self.leaf_value.append(float(nodes[i]["value"]))
            else:
                stack += [int(nodes[i]["right"]), int(nodes[i]["left"])]
        for i in reversed(order):  # children before parents
            node = nodes[i]
            if node["is_leaf"]:
                continue
            left, right = int(node["left"]), int(node["right"])
            leaves_under[i] = leaves_under[left] | leaves_under[right]
            clear_left = np.uint64(~leaves_under[left] & 0xFFFFFFFFFFFFFFFF)
            self.nodes.append((int(node["feature_idx"]), float(node["num_threshold"]),
                               not bool(node["missing_go_to_left"]), clear_left, tree))
        return True


def compile_forest(models: Sequence[Any]) -> CompiledForest | None:
    """The flattened trees of ``models``; None when one of them is not a tree model this module scores.

    Each model must be a fitted ``HistGradientBoostingClassifier`` on numeric features only, with the
    same number of input features.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not models or not all(isinstance(m, HistGradientBoostingClassifier) and hasattr(m, "_predictors")
                             for m in models):
        return None
    widths = {int(m.n_features_in_) for m in models}
    if len(widths) != 1:
        return None
    build = _Builder(nodes=[], leaf_value=[], leaf_start=[], column=[])
    baseline: list[float] = []
    spans: list[tuple[int, int]] = []
    for model in models:
        first = len(baseline)
        for iteration in model._predictors:
            for k, predictor in enumerate(iteration):
                if not build.add_tree(predictor.nodes, first + k):
                    return None
        baseline.extend(np.ravel(model._baseline_prediction).tolist())
        spans.append((first, len(baseline)))
    feature, threshold, missing_right, mask, tree = zip(*build.nodes) if build.nodes else ((),) * 5
    return CompiledForest(
        feature=np.asarray(feature, dtype=np.int64), threshold=np.asarray(threshold, dtype=np.float64),
        missing_right=np.asarray(missing_right, dtype=np.bool_), mask=np.asarray(mask, dtype=np.uint64),
        tree=np.asarray(tree, dtype=np.int64), leaf_value=np.asarray(build.leaf_value, dtype=np.float64),
        leaf_start=np.asarray(build.leaf_start, dtype=np.int64), column=np.asarray(build.column, dtype=np.int64),
        baseline=np.asarray(baseline, dtype=np.float64), spans=tuple(spans),
        to_proba=tuple(m._loss.predict_proba for m in models), n_features=widths.pop(),
    )


# Lowest set bit -> its index: (bits & -bits) * DE_BRUIJN >> 58 is distinct for each of the 64 bits.
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_INDEX = np.argsort([((1 << i) * 0x03F79D71B4CB0A89 & 0xFFFFFFFFFFFFFFFF) >> 58 for i in range(64)]).astype(np.int64)

@numba.njit(nogil=True, cache=True)
def _raw_scores(X, feature, threshold, missing_right, mask, tree, leaf_value, leaf_start, column, baseline,  # noqa: ANN001, ANN202
                out):
    """Fill ``out`` (n, columns) with each column's baseline plus its trees' leaf values, in tree order."""
    n, d = X.shape
    n_trees = leaf_start.shape[0]
    block = np.empty((d, BLOCK))  # the block's rows, feature-major: one vector load per node
    bits = np.empty((n_trees, BLOCK), np.uint64)
    for i in range(n):
        for c in range(baseline.shape[0]):
            out[i, c] = 0.0 + baseline[c]  # as scikit-learn: zeros, then += baseline
    for start in range(0, n, BLOCK):
        width = min(BLOCK, n - start)
        for lane in range(BLOCK):
            row = start + lane if lane < width else start  # a short last block repeats its first row
            for f in range(d):
                block[f, lane] = X[row, f]
        bits[:, :] = _ALL
        for j in range(feature.shape[0]):
            f, t, limit, clear, miss = feature[j], tree[j], threshold[j], mask[j], missing_right[j]
            for lane in range(BLOCK):
                x = block[f, lane]
                # NaN fails every comparison: `x > limit` is False for it, and `x != x` picks its side.
                right = (x > limit) | ((x != x) & miss)
                bits[t, lane] &= clear if right else _ALL
        for t in range(n_trees):
            for lane in range(width):
                b = bits[t, lane]
                lowest = b & (~b + np.uint64(1))
                leaf = _BIT_INDEX[(lowest * _DE_BRUIJN) >> np.uint64(58)]
                out[start + lane, column[t]] += leaf_value[leaf_start[t] + leaf]
