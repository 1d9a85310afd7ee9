"""Isolation Forest, scored through the flattened forest for speed."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fast_forest import FastForest
from .base import Detector


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

    def fit(self, X: np.ndarray) -> IsolationForestDetector:
        from sklearn.ensemble import IsolationForest

        p = self.params
        self.estimator = IsolationForest(
            n_estimators=p["n_estimators"],
            # Clip to the data so scikit-learn does not warn; same effect as its own clipping.
            max_samples=min(p["max_samples"], X.shape[0]),
            max_features=p["max_features"],
            random_state=self.random_state,
        ).fit(X)
        self.forest = FastForest.from_sklearn(self.estimator)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] == 1:
            return np.array([-self.forest.score_one(X[0])])
        return -self.forest.score_samples(X)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["estimator"] = None
        return state
