"""Small robust statistics shared by preprocessing, statistical detectors and the explainer."""

from __future__ import annotations

import numpy as np

# Factors that turn a spread into a normal-consistent standard deviation.
_MAD_TO_SIGMA = 1.4826
_IQR_TO_SIGMA = 1.0 / 1.349
_Q90_TO_SIGMA = 1.0 / 3.29


def robust_sigma(X: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """Per-column robust standard deviation; 0 marks a constant column.

    MAD first; where half the column is one value (MAD = 0) fall back to the IQR, then to the
    5-95% range, then the standard deviation, so a mostly-constant column with real variation
    still gets a usable scale. Spreads below 1e-12 of the column's magnitude count as constant.
    """
    X = np.asarray(X, dtype=np.float64)
    if center is None:
        center = np.median(X, axis=0)
    sigma = _MAD_TO_SIGMA * np.median(np.abs(X - center), axis=0)
    q05, q25, q75, q95 = np.quantile(X, [0.05, 0.25, 0.75, 0.95], axis=0)
    for fallback in ((q75 - q25) * _IQR_TO_SIGMA, (q95 - q05) * _Q90_TO_SIGMA, X.std(axis=0)):
        sigma = np.where(sigma > 0, sigma, fallback)
    tiny = 1e-12 * np.maximum(1.0, np.abs(center))
    return np.where(sigma > tiny, sigma, 0.0)


def safe_inverse(scale: np.ndarray) -> np.ndarray:
    """1/scale, with 0 where scale is 0: constant columns get zero influence, no division by 0."""
    scale = np.asarray(scale, dtype=np.float64)
    out = np.zeros_like(scale)
    np.divide(1.0, scale, out=out, where=scale > 0)
    return out
