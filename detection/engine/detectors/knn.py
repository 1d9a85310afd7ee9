"""k-th nearest neighbour distance to a fixed random sample of the training rows."""

from __future__ import annotations

import numpy as np

from .base import Detector

_CHUNK_ROWS = 1024


class KNNDetector(Detector):
    """Raw = distance to the k-th nearest of up to `reference_rows` random training rows.

    A fixed-size reference keeps scoring cost flat however large the training set. With
    ``n_neighbors="auto"`` k is 2.5% of the reference (5 to 50), so k/reference stays the same
    for calibration-fold models and the final model and their distances stay comparable.
    """

    name = "knn"
    label = "k-nearest neighbours"
    default_missing = "reject"

    def __init__(
        self,
        *,
        n_neighbors: int | str = "auto",
        reference_rows: int = 1000,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            random_state=random_state, n_neighbors=n_neighbors, reference_rows=reference_rows
        )
        self.min_rows = 2 if n_neighbors == "auto" else int(n_neighbors) + 1

    def fit(self, X: np.ndarray) -> KNNDetector:
        n = X.shape[0]
        cap = self.params["reference_rows"]
        if n > cap:
            rng = np.random.default_rng(self.random_state)
            X = X[np.sort(rng.choice(n, cap, replace=False))]
        self.reference = np.ascontiguousarray(X, dtype=np.float64)
        self.reference_sq = (self.reference**2).sum(axis=1)
        m = self.reference.shape[0]
        k = self.params["n_neighbors"]
        if k == "auto":
            k = min(max(round(0.025 * m), 5), 50)
        self.k = int(min(k, m))
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0])
        k = self.k
        for start in range(0, X.shape[0], _CHUNK_ROWS):
            x = X[start : start + _CHUNK_ROWS]
            sq = (
                (x**2).sum(axis=1)[:, None]
                + self.reference_sq[None, :]
                - 2.0 * (x @ self.reference.T)
            )
            # Selecting in float32 halves the memory traffic of the partition (the slow part);
            # the rounding (1e-7 relative) is far below any distance that matters here.
            kth = np.partition(sq.astype(np.float32), k - 1, axis=1)[:, k - 1]
            out[start : start + x.shape[0]] = np.sqrt(np.maximum(kth.astype(np.float64), 0.0))
        return out
