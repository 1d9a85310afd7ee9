"""Isolation Forest, scored through the level-layout forest for speed.

Held-out scores for calibration come from the served forest's own kind of model, without refits:
every tree sees only `max_samples` of the training rows, so each row has trees that never saw it.
Fitting grows extra trees (same seed: the first `n_estimators` trees are exactly the forest a
plain fit would give, and only those are served), and a training row's held-out score is the
mean path length over `n_estimators` trees that did not sample it: a forest of the served size,
fitted on the same rows minus that one, so the calibration sees the distribution that new rows
get. Refitting on 80% folds instead changes the sample size (and so the depth limit and the path
length normaliser) whenever n is under 1.25 x 256, and gives a different random forest than the
one served. To leave every row unsampled by enough trees, a tree samples at most half the rows:
under 512 training rows that is fewer than scikit-learn's min(256, n) (which, below 256 rows,
gives every tree all the rows and leaves nothing out of any tree).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..fast_forest import FastForest
from .base import Detector, Step

# Extra trees beyond the expected need, so nearly every row has n_estimators unsampled trees.
_MARGIN = 1.15
# Training rows walked through the grown forest at a time (bounds the rows x trees matrices).
_OOB_CHUNK_ROWS = 8192


class IsolationForestDetector(Detector):
    """scikit-learn's IsolationForest; raw score = ``-score_samples`` (in (0, 1], higher = odder).

    Only the flattened arrays are kept after fitting (and saved); the scikit-learn estimator is
    dropped from saved files because scoring never needs it.
    """

    name = "isolation_forest"
    label = "Isolation Forest"
    min_rows = 2
    default_missing = "reject"

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_samples: int = 256,
        max_features: float = 1.0,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            random_state=random_state,
            n_estimators=n_estimators,
            max_samples=max_samples,
            max_features=max_features,
        )
        self.estimator = None
        self.forest: FastForest | None = None

    def _sample_size(self, n: int) -> int:
        """Rows per tree: at most half the rows, so every row is left out of half the trees."""
        return max(1, min(self.params["max_samples"], n // 2))

    def _grow(self, X: np.ndarray, n_trees: int):
        from sklearn.ensemble import IsolationForest

        return IsolationForest(
            n_estimators=n_trees,
            max_samples=self._sample_size(X.shape[0]),
            max_features=self.params["max_features"],
            random_state=self.random_state,
        ).fit(X)

    def _keep(self, estimator, n_trees: int) -> None:
        """Serve the first n_trees trees (the forest a plain n_trees fit gives)."""
        if len(estimator.estimators_) > n_trees:
            # Trimmed so that its own score_samples (used in tests) scores the served forest; the
            # per-tree caches are scikit-learn internals, trimmed where present.
            estimator.estimators_ = estimator.estimators_[:n_trees]
            estimator.estimators_features_ = estimator.estimators_features_[:n_trees]
            for cache in ("_decision_path_lengths", "_average_path_length_per_tree"):
                if hasattr(estimator, cache):
                    setattr(estimator, cache, getattr(estimator, cache)[:n_trees])
            estimator.n_estimators = n_trees
        self.estimator = estimator
        self.forest = FastForest.from_sklearn(estimator)

    def fit(self, X: np.ndarray) -> IsolationForestDetector:
        n_trees = self.params["n_estimators"]
        self._keep(self._grow(X, n_trees), n_trees)
        return self

    def fit_steps(self, n_folds: int) -> int:
        return 1

    def fit_held_out(
        self, X: np.ndarray, folds: Sequence[np.ndarray], step: Step = None
    ) -> np.ndarray:
        """Fit, and score every training row by n_estimators trees that did not sample it."""
        n = X.shape[0]
        n_trees = self.params["n_estimators"]
        share_left_out = 1.0 - self._sample_size(n) / n
        if share_left_out <= 0:  # one row: nothing can be held out
            self.fit(X)
            if step is not None:
                step()
            return self.score(X)
        grown = math.ceil(n_trees / share_left_out * _MARGIN) + 10
        estimator = self._grow(X, grown)
        everything = FastForest.from_sklearn(estimator)
        samples = estimator.estimators_samples_
        total = np.empty(n)
        for start in range(0, n, _OOB_CHUNK_ROWS):
            stop = min(start + _OOB_CHUNK_ROWS, n)
            unseen = np.ones((stop - start, grown), dtype=bool)
            for t, sampled in enumerate(samples):
                mine = sampled[(sampled >= start) & (sampled < stop)]
                unseen[mine - start, t] = False
            # The first n_trees unseen trees of each row (all of them if it has fewer).
            use = unseen & (np.cumsum(unseen, axis=1) <= n_trees)
            lengths = everything.path_lengths(X[start:stop])  # (rows, grown trees)
            counts = use.sum(axis=1)
            part = (lengths * use).sum(axis=1)
            short = counts < n_trees  # scale a shorter sum up to n_trees trees
            part[short] *= n_trees / np.maximum(counts[short], 1)
            total[start:stop] = part
        self._keep(estimator, n_trees)
        held_out = -self.forest._finish(total)  # the served formula: 2 ** (-mean length / c)
        if step is not None:
            step()
        return held_out

    def score(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] == 1:
            return np.array([-self.forest.score_one(X[0])])
        return -self.forest.score_samples(X)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["estimator"] = None
        return state
