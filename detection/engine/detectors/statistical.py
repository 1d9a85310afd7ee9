"""Per-feature statistical detectors: robust z-score (median/MAD) and the IQR fences."""

from __future__ import annotations

import numpy as np

from ..stats import robust_sigma, safe_inverse
from .base import Detector


def _aggregate(per_feature: np.ndarray, how: str) -> np.ndarray:
    if how == "max":
        return per_feature.max(axis=1)
    return per_feature.mean(axis=1)


class RobustZDetector(Detector):
    """|x - median| / (1.4826 * MAD) per feature, combined by max (default) or mean."""

    name = "robust_z"
    label = "robust z-score"
    min_rows = 2
    # A median-filled value has z = 0, so imputing cannot invent an anomaly here.
    default_missing = "impute"

    def __init__(self, *, aggregate: str = "max", random_state: int = 0) -> None:
        super().__init__(random_state=random_state, aggregate=aggregate)

    def fit(self, X: np.ndarray) -> RobustZDetector:
        self.center = np.median(X, axis=0)
        self.inv_sigma = safe_inverse(robust_sigma(X, self.center))
        return self

    def per_feature(self, X: np.ndarray) -> np.ndarray:
        return np.abs(X - self.center) * self.inv_sigma

    def score(self, X: np.ndarray) -> np.ndarray:
        return _aggregate(self.per_feature(X), self.params["aggregate"])


class IQRDetector(Detector):
    """Distance outside [Q1, Q3] in IQR units per feature (Tukey's fences without a fixed k).

    The classic 1.5 * IQR fence is a threshold; calibration sets ours, so only the distance
    beyond the box matters.
    """

    name = "iqr"
    label = "IQR"
    min_rows = 2
    default_missing = "impute"

    def __init__(self, *, aggregate: str = "max", random_state: int = 0) -> None:
        super().__init__(random_state=random_state, aggregate=aggregate)

    def fit(self, X: np.ndarray) -> IQRDetector:
        self.q1, self.q3 = np.quantile(X, [0.25, 0.75], axis=0)
        iqr = self.q3 - self.q1
        # Where the IQR is 0 (mostly one value), use the robust sigma expressed as an IQR.
        iqr = np.where(iqr > 0, iqr, robust_sigma(X) * 1.349)
        self.inv_iqr = safe_inverse(iqr)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        beyond = np.maximum(np.maximum(self.q1 - X, X - self.q3), 0.0) * self.inv_iqr
        return _aggregate(beyond, self.params["aggregate"])
