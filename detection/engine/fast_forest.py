"""A fitted scikit-learn IsolationForest laid out level by level in a few numpy arrays.

scikit-learn scores a forest tree by tree (input validation, a joblib dispatch and a Cython
``apply`` per tree), which costs milliseconds even for one row, and its compiled walk is no
faster than numpy on a batch: every step is an unpredictable branch. Here every tree is embedded
in a complete binary tree of the forest's depth (an Isolation Forest is nearly complete anyway:
its depth limit is log2 of the sample size), stored level by level. A node's position ``g`` on
level L is ``tree * 2**L + j``, its children on level L+1 are ``2g`` and ``2g + 1``, so walking
needs no child table: each level is three gathers (feature, value, threshold), a comparison and
``g = 2g + right``, vectorised over all (row, tree) pairs of a chunk. A leaf above the last level
becomes a pass-through node (threshold +inf, always left) and its value is copied down.
The previous layout (a child table walked for every tree) needed a fourth gather per level; CPU
ms per 10,000 rows and 100 trees (d = 5 / 9 / 36): scikit-learn 44 / 46 / 46, child-table walk
38 / 40 / 43, this 27 / 27 / 27. (scikit-learn's compiled walk, fed all trees at once through
its gradient-boosting helper, took 35: every node is an unpredictable branch, so compiled code
gains nothing over branch-free numpy here.)

Equality with ``IsolationForest.score_samples`` (tested to 1e-9): the input is cast to float32 as
scikit-learn does, thresholds are compared with ``<=`` going left, and each leaf carries the
precomputed ``depth + c(n_node_samples) - 1`` term that scikit-learn adds per tree.

``path_lengths`` keeps the per-tree terms (rows x trees) for out-of-bag scoring at fit time.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# (rows x trees) elements per chunk: the working arrays stay in the L2 cache.
_CHUNK_ELEMENTS = 32_768


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): average path length of an unsuccessful BST search (same formula as scikit-learn)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@functools.cache
def _tree_indexes(n_trees: int) -> np.ndarray:
    indexes = np.arange(n_trees)
    indexes.flags.writeable = False
    return indexes


class FastForest:
    """Level-layout isolation forest; ``score_samples`` matches scikit-learn's sign and scale."""

    def __init__(
        self,
        features: list[np.ndarray],
        thresholds: list[np.ndarray],
        leaf_value: np.ndarray,
        n_trees: int,
        denominator: float,
        n_features: int,
    ) -> None:
        self.features = features  # per level L < depth: feature index per slot (T * 2**L,)
        self.thresholds = thresholds  # per level: split threshold per slot (+inf: pass-through)
        self.leaf_value = leaf_value  # depth + c(samples) - 1 per slot of the last level
        self.n_trees = n_trees
        self.depth = len(features)
        self.denominator = denominator  # n_trees * c(max_samples)
        self.n_features = n_features

    @classmethod
    def from_sklearn(cls, model) -> FastForest:
        """Lay out a fitted ``sklearn.ensemble.IsolationForest``."""
        trees = model.estimators_
        n_trees = len(trees)
        n_features = int(model.n_features_in_)
        # scikit-learn only indexes columns per tree when it subsampled features.
        subsampled = model._max_features != n_features
        depth = max(int(est.tree_.max_depth) for est in trees)
        features = [np.zeros((n_trees, 1 << level), dtype=np.intp) for level in range(depth)]
        thresholds = [np.full((n_trees, 1 << level), np.inf) for level in range(depth)]
        leaf_value = np.zeros((n_trees, 1 << depth))
        for t, (est, columns) in enumerate(zip(trees, model.estimators_features_, strict=True)):
            tree = est.tree_
            columns = np.asarray(columns)
            left, right = tree.children_left, tree.children_right
            values = tree.compute_node_depths() + average_path_length(tree.n_node_samples) - 1.0
            # Breadth-first: the nodes of one level and their slots, as arrays.
            nodes, slots = np.array([0]), np.array([0])
            for level in range(depth + 1):
                # A leaf's value fills its whole span on the last level (only the leftmost slot
                # is reached, through the pass-through nodes below it).
                is_leaf = left[nodes] == -1 if level < depth else np.ones(nodes.size, bool)
                spans = leaf_value[t].reshape(1 << level, 1 << (depth - level))
                spans[slots[is_leaf]] = values[nodes[is_leaf], None]
                if is_leaf.all():
                    break
                inner, inner_slots = nodes[~is_leaf], slots[~is_leaf]
                local = tree.feature[inner]
                features[level][t, inner_slots] = columns[local] if subsampled else local
                thresholds[level][t, inner_slots] = tree.threshold[inner]
                nodes = np.concatenate([left[inner], right[inner]])
                slots = np.concatenate([2 * inner_slots, 2 * inner_slots + 1])
        denominator = n_trees * float(average_path_length(np.array([model._max_samples]))[0])
        return cls(
            [f.ravel() for f in features],
            [t.ravel() for t in thresholds],
            leaf_value.ravel(),
            n_trees,
            denominator,
            n_features,
        )

    def _finish(self, depth_sum: np.ndarray) -> np.ndarray:
        if self.denominator == 0:
            # One training sample: scikit-learn sets the normalised depth to 1, score -2**-1.
            return np.full_like(depth_sum, -0.5)
        return -np.exp2(-depth_sum / self.denominator)

    def score_one(self, x: np.ndarray) -> float:
        """Score one row (1-D); same value as ``score_samples(x[None])[0]``.

        Indexing, not ``take`` or ``arange``: those release the GIL on every call, however small
        the array, and a request thread that let go of it 26 times per point (8 levels) waited
        26 times to get it back while other requests ran: 84 us of server CPU per point under
        wrk (docs/BENCHMARKS.md, 2026-12-03). Indexing keeps it for up to 500 trees."""
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        g = _tree_indexes(self.n_trees).copy()
        for features, thresholds in zip(self.features, self.thresholds, strict=True):
            right = x[features[g]] > thresholds[g]
            g += g
            g += right
        total = float(self.leaf_value[g].sum())
        if self.denominator == 0:
            return -0.5
        return -math.pow(2.0, -total / self.denominator)

    def path_lengths(self, X: np.ndarray) -> np.ndarray:
        """Per-tree path length terms, shape (rows, trees)."""
        return self._walk(X, keep_trees=True)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Score a (n, d) batch; like scikit-learn, lower means more abnormal."""
        return self._finish(self._walk(X, keep_trees=False))

    def _walk(self, X: np.ndarray, keep_trees: bool) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        n, d = X.shape
        trees = self.n_trees
        out = np.empty((n, trees)) if keep_trees else np.empty(n)
        chunk = max(1, _CHUNK_ELEMENTS // trees)
        size = min(chunk, n) * trees
        # Work buffers reused across chunks and levels (no allocation in the loop).
        g, col, threshold = np.empty(size, np.intp), np.empty(size, np.intp), np.empty(size)
        value, right = np.empty(size), np.empty(size, bool)
        for start in range(0, n, chunk):
            rows = X[start : start + chunk]
            r = rows.shape[0]
            m = r * trees
            g_, col_, thr_, val_, right_ = g[:m], col[:m], threshold[:m], value[:m], right[:m]
            flat = rows.ravel()
            row_base = np.repeat(np.arange(0, r * d, d, dtype=np.intp), trees)
            g_.reshape(r, trees)[:] = np.arange(trees)
            if self.depth:
                # Level 0: every row starts at every root, a plain column gather.
                np.greater(
                    rows.take(self.features[0], axis=1),
                    self.thresholds[0],
                    out=right_.reshape(r, trees),
                )
                g_ += g_
                g_ += right_
            for level in range(1, self.depth):
                self.features[level].take(g_, out=col_, mode="clip")
                col_ += row_base
                flat.take(col_, out=val_, mode="clip")
                self.thresholds[level].take(g_, out=thr_, mode="clip")
                np.greater(val_, thr_, out=right_)
                g_ += g_
                g_ += right_
            leaves = self.leaf_value.take(g_, mode="clip").reshape(r, trees)
            if keep_trees:
                out[start : start + r] = leaves
            else:
                out[start : start + r] = leaves.sum(axis=1)
        return out
