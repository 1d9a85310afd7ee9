"""The detector interface every algorithm implements.

A detector sees preprocessed data only: a finite float64 matrix, robust-scaled, constant columns
already zeroed. It returns raw scores where higher means more anomalous; the calibrator, not the
detector, gives those numbers a meaning, so detectors never need a threshold of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

Step = Callable[[], None] | None


class Detector:
    """Base class: ``fit(X)`` then ``score(X) -> raw`` (higher = more anomalous)."""

    #: Registry key, e.g. "isolation_forest".
    name: ClassVar[str] = ""
    #: Human label used in explanations, e.g. "Isolation Forest".
    label: ClassVar[str] = ""
    #: Fewest training rows the algorithm can fit on (instances may raise it from their params).
    min_rows: int = 2
    #: Missing-value policy used when the caller does not choose one: "reject" or "impute".
    default_missing: ClassVar[str] = "reject"

    def __init__(self, *, random_state: int = 0, **params: Any) -> None:
        self.params = dict(params)
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> Detector:
        raise NotImplementedError

    def score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fresh(self) -> Detector:
        """An unfitted copy with the same parameters (one per calibration fold)."""
        return type(self)(random_state=self.random_state, **self.params)

    def fit_steps(self, n_folds: int) -> int:
        """How many model fits `fit_held_out` performs (for progress reporting)."""
        return n_folds + 1

    def fit_held_out(
        self, X: np.ndarray, folds: Sequence[np.ndarray], step: Step = None
    ) -> np.ndarray:
        """Fit on all of X and return an out-of-fold raw score for every row.

        Each fold's rows are scored by a copy fitted on the other folds, so the calibrator sees
        how the model scores data it was not trained on, while the kept model still learns from
        every row.
        """
        held_out = np.empty(X.shape[0], dtype=np.float64)
        for test_idx in folds:
            train_mask = np.ones(X.shape[0], dtype=bool)
            train_mask[test_idx] = False
            copy = self.fresh().fit(X[train_mask])
            held_out[test_idx] = copy.score(X[test_idx])
            if step is not None:
                step()
        self.fit(X)
        if step is not None:
            step()
        return held_out

    def score_with_members(self, X: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        """Raw scores plus calibrated member scores (ensembles only; None for single detectors)."""
        return self.score(X), None

    def score_one_with_members(self, X: np.ndarray) -> tuple[float, dict[str, float] | None]:
        """`score_with_members` of a 1-row matrix, as plain floats."""
        return float(self.score(X)[0]), None


class LeaveOneOutDetector(Detector):
    """A detector that can score each training row as if that row had not been seen, exactly
    and cheaply (`leave_one_out`), so calibration needs no fold models."""

    def leave_one_out(self, X: np.ndarray) -> np.ndarray:
        """Raw scores of the training rows X, each as if it were not in the fitted model."""
        raise NotImplementedError

    def fit_steps(self, n_folds: int) -> int:
        return 1

    def fit_held_out(
        self, X: np.ndarray, folds: Sequence[np.ndarray], step: Step = None
    ) -> np.ndarray:
        """Fit on all rows; held-out scores are exact leave-one-out scores of this model, so
        the calibrator sees the served model itself rather than refits on 80% folds."""
        self.fit(X)
        if step is not None:
            step()
        return self.leave_one_out(X)
