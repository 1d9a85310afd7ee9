"""One-Class SVM with an RBF kernel, scored in numpy from its support vectors."""

from __future__ import annotations

import numpy as np

from ..stats import safe_inverse
from .base import Detector


class OneClassSVMDetector(Detector):
    """scikit-learn's OneClassSVM (RBF); raw = ``-decision_function / sum(dual_coef)``.

    libsvm's dual coefficients sum to ``nu * n_train``, so the plain decision value grows with the
    training size; dividing by that sum makes scores of fold models (trained on fewer rows) and
    of the final model comparable, which the held-out calibration relies on. Training is capped
    at ``max_train_rows`` random rows because the fit is quadratic in rows.
    """

    name = "ocsvm"
    label = "One-Class SVM"
    min_rows = 2
    default_missing = "reject"

    def __init__(
        self,
        *,
        nu: float = 0.5,
        gamma: float | str = "scale",
        max_train_rows: int = 2000,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            random_state=random_state, nu=nu, gamma=gamma, max_train_rows=max_train_rows
        )
        self.estimator = None

    def fit(self, X: np.ndarray) -> OneClassSVMDetector:
        from sklearn.svm import OneClassSVM

        cap = self.params["max_train_rows"]
        if X.shape[0] > cap:
            rng = np.random.default_rng(self.random_state)
            X = X[np.sort(rng.choice(X.shape[0], cap, replace=False))]
        # Standardise (mean/std) on top of the pipeline's robust scaling: a feature whose MAD is
        # tiny but whose tail is long would otherwise dominate gamma="scale" and the kernel.
        self.mean = X.mean(axis=0)
        self.inv_std = safe_inverse(X.std(axis=0))
        self.estimator = OneClassSVM(
            kernel="rbf", nu=self.params["nu"], gamma=self.params["gamma"]
        ).fit(self._standardise(X))
        est = self.estimator
        self.support = np.ascontiguousarray(est.support_vectors_, dtype=np.float64)
        self.support_sq = (self.support**2).sum(axis=1)
        coef = est.dual_coef_.ravel().astype(np.float64)
        self.norm = float(coef.sum()) or 1.0
        self.coef = coef / self.norm
        self.rho = float(-est.intercept_[0]) / self.norm
        self.gamma = float(est._gamma)
        return self

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) * self.inv_std

    def decision(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's ``decision_function`` (on standardised X) over the coefficient sum."""
        X = self._standardise(X)
        sq = (X**2).sum(axis=1)[:, None] + self.support_sq[None, :] - 2.0 * (X @ self.support.T)
        np.maximum(sq, 0.0, out=sq)
        return np.exp(-self.gamma * sq) @ self.coef - self.rho

    def score(self, X: np.ndarray) -> np.ndarray:
        return -self.decision(X)
