"""Local Outlier Factor in novelty mode, with the neighbour search called directly."""

from __future__ import annotations

import numpy as np

from .base import Detector


class LOFDetector(Detector):
    """scikit-learn's LocalOutlierFactor(novelty=True); raw = ``-score_samples`` (about 1 = usual).

    Scoring repeats scikit-learn's formula on the estimator's own arrays but queries its
    neighbour tree directly, skipping input validation that our preprocessing already did.
    """

    name = "lof"
    label = "Local Outlier Factor"
    default_missing = "reject"

    def __init__(self, *, n_neighbors: int = 20, random_state: int = 0) -> None:
        super().__init__(random_state=random_state, n_neighbors=n_neighbors)
        # LOF compares each point with n_neighbors others, so it needs more rows than that.
        self.min_rows = n_neighbors + 1
        self.estimator = None

    def fit(self, X: np.ndarray) -> LOFDetector:
        from sklearn.neighbors import LocalOutlierFactor

        self.estimator = LocalOutlierFactor(
            n_neighbors=self.params["n_neighbors"], novelty=True
        ).fit(X)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        est = self.estimator
        k = est.n_neighbors_
        if est._fit_method in ("kd_tree", "ball_tree"):
            dist, ind = est._tree.query(X, k=k)
        else:
            dist, ind = est.kneighbors(X, n_neighbors=k)
        reach = np.maximum(dist, est._distances_fit_X_[ind, k - 1])
        lrd = 1.0 / (reach.mean(axis=1) + 1e-10)
        return (est._lrd[ind] / lrd[:, None]).mean(axis=1)
