"""ECOD (Li et al., 2022) in numpy: empirical tail probabilities per feature, summed.

PyOD's ECOD re-sorts training and test data together on every call (transductive, slow, and it
pulls numba). Here the training columns are sorted once and new rows are looked up in them.

A batch is looked up with a branch-free binary search over all (row, feature) pairs at once:
each feature's sorted column sits in a block of 2**p slots (a -inf sentinel, the values, +inf
padding), and p rounds of "gather the slot one step ahead, compare, advance where <=" give the
count of training values <= x. ``np.searchsorted`` branches at every level (60-90 ns a lookup,
and the previous version searched twice, for <= and >=); this costs ~1-2 ns per round (15 rounds
for 10,000 values), feature by feature so one column's block stays in cache. Ties (integer
data) need the count of values < x too: it is read from a table at the last value <= x instead
of a second search. CPU ms per 10,000 rows, before / after: 17 / 5.5 (10,000 training rows,
d = 9), 71 / 19 (d = 36). One row goes through ``bisect`` on plain lists, where a dozen numpy
calls would cost more than the lookups. The search tables are derived from the sorted columns
on first use and never saved.

Held-out scores for calibration are exact leave-one-out scores of the served model (see
`leave_one_out`), so no fold models are fitted.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from ..stats import robust_sigma, safe_inverse
from .base import LeaveOneOutDetector

# Above this many rows keep evenly spaced order statistics: the ECDF changes by < 1e-4 and
# saved models stay small.
_MAX_GRID = 10_000
# Share of the top (bottom) rows whose mean excess sets the tail decay beyond the training range.
_TAIL_SHARE = 0.01
# (rows x features) lookups per chunk.
_CHUNK_ELEMENTS = 65_536


def _tail_scale(sorted_col: np.ndarray, sigma: float) -> tuple[float, float]:
    """Exponential decay scales beyond the largest and below the smallest training value."""
    n = sorted_col.shape[0]
    k = max(2, int(np.ceil(_TAIL_SHARE * n)))
    k = min(k, n - 1) if n > 1 else 1
    hi = float(sorted_col[n - k :].mean() - sorted_col[n - k - 1]) if n > k else 0.0
    lo = float(sorted_col[k] - sorted_col[:k].mean()) if n > k else 0.0
    return (hi if hi > 0 else sigma), (lo if lo > 0 else sigma)


class ECODDetector(LeaveOneOutDetector):
    """Raw = sum over features of -log(min(P(X <= x), P(X >= x))) under the training ECDF.

    With n training rows, of which c are at or beyond x on its rarer side, the tail probability
    is (c + 1) / (n + 1). Beyond the training range it keeps falling exponentially (scale: the
    mean excess of the top 1%), so a value far outside still scores higher than one just outside.
    """

    name = "ecod"
    label = "ECOD"
    min_rows = 2
    default_missing = "impute"

    def __init__(self, *, random_state: int = 0) -> None:
        super().__init__(random_state=random_state)

    def fit(self, X: np.ndarray) -> ECODDetector:
        n, d = X.shape
        ordered = np.sort(X, axis=0)
        sigma = robust_sigma(X)
        scales = [_tail_scale(ordered[:, j], float(sigma[j])) for j in range(d)]
        self.hi_scale = np.array([s[0] for s in scales])
        self.lo_scale = np.array([s[1] for s in scales])
        self.active = sigma > 0  # constant columns contribute nothing
        if n > _MAX_GRID:
            ordered = ordered[np.linspace(0, n - 1, _MAX_GRID).round().astype(np.intp)]
        self.grid = np.ascontiguousarray(ordered.T)  # (d, G): one sorted row per feature
        self.n = n
        self.weight = n / self.grid.shape[1]
        return self

    def _ready(self) -> None:
        """Build the search blocks and lookup tables from the grid on first use (derived, so
        never saved: see the module docstring)."""
        if "_table" in self.__dict__:
            return
        d, size = self.grid.shape
        block = 1 << int(size + 1).bit_length()  # >= size + 2: sentinel, values, one +inf
        table = np.full((d, block), np.inf)
        table[:, 0] = -np.inf
        table[:, 1 : size + 1] = self.grid
        # below[j, i]: grid values of feature j strictly below table[j, i] (i >= 1).
        below = np.zeros((d, block), dtype=np.intp)
        for j in range(d):
            below[j, 1 : size + 1] = np.searchsorted(self.grid[j], self.grid[j], side="left")
        self._block = block
        self._table = table.ravel()
        self._below = below.ravel()
        # -log of the tail probability by the count on the rarer side (in grid units).
        self._log_tail = math.log(self.n + 1.0) - np.log1p(np.arange(size + 1) * self.weight)
        self._top = self.grid[:, -1].copy()
        self._bottom = self.grid[:, 0].copy()
        self._inv_hi = safe_inverse(self.hi_scale)
        self._inv_lo = safe_inverse(self.lo_scale)

    def _counts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid values <= x and >= x for every cell of X (rows, d), in grid units."""
        self._ready()
        rows, d = X.shape
        size = self.grid.shape[1]
        # Feature by feature (one column's block at a time stays in cache).
        x = np.ascontiguousarray(X.T, dtype=np.float64).ravel()
        base = np.repeat(np.arange(0, d * self._block, self._block, dtype=np.intp), rows)
        g = base.copy()
        probe = np.empty(x.size)
        hit = np.empty(x.size, dtype=bool)
        advance = np.empty(x.size, dtype=np.intp)
        table = self._table
        step = self._block >> 1
        while step:
            table[step - 1 :].take(g, out=probe, mode="clip")  # the slot `step` ahead
            np.less_equal(probe, x, out=hit)
            np.multiply(hit, step, out=advance)  # (a masked add, where=hit, is 6x slower)
            g += advance
            step >>= 1
        g -= 1  # the last slot <= x (the sentinel when x is below every value)
        at_most = g - base
        table.take(g, out=probe)
        np.equal(probe, x, out=hit)  # x equals a training value: count the values below it
        less = np.where(hit, self._below.take(g), at_most)
        return at_most.reshape(d, rows).T, (size - less).reshape(d, rows).T

    def _beyond(self, X: np.ndarray) -> np.ndarray:
        """Exponential continuation of the tails beyond the training range."""
        return np.maximum(X - self._top, 0.0) * self._inv_hi + np.maximum(self._bottom - X, 0.0) * (
            self._inv_lo
        )

    def per_feature(self, X: np.ndarray) -> np.ndarray:
        """-log tail probability per feature, shape (rows, features)."""
        rows, d = X.shape
        if rows == 1:
            return np.array([self._row(X[0].tolist())])
        out = np.empty((rows, d))
        chunk = max(1, _CHUNK_ELEMENTS // d)
        for start in range(0, rows, chunk):
            part = X[start : start + chunk]
            at_most, at_least = self._counts(part)
            u = self._log_tail.take(np.minimum(at_most, at_least))
            u += self._beyond(part)
            out[start : start + chunk] = u
        if not self.active.all():
            out[:, ~self.active] = 0.0
        return out

    def _row(self, x: list[float]) -> list[float]:
        """`per_feature` for one row in plain Python (bisect on cached lists): a numpy call per
        feature would cost more than the whole lookup."""
        self._ready()
        lists = self.__dict__.get("_lists")
        if lists is None:
            lists = self._lists = [col.tolist() for col in self.grid]
        log_tail = self.__dict__.get("_log_tail_list")
        if log_tail is None:
            log_tail = self._log_tail_list = self._log_tail.tolist()
        out = []
        for j, v in enumerate(x):
            if not self.active[j]:
                out.append(0.0)
                continue
            col = lists[j]
            le = bisect.bisect_right(col, v)
            ge = len(col) - bisect.bisect_left(col, v)
            u = log_tail[min(le, ge)]
            if v > col[-1]:
                u += (v - col[-1]) * self._inv_hi[j]
            elif v < col[0]:
                u += (col[0] - v) * self._inv_lo[j]
            out.append(u)
        return out

    def leave_one_out(self, X: np.ndarray) -> np.ndarray:
        """Raw scores of the training rows X, each as if the model had not seen it.

        A training row counts itself on both sides, so without it the rarer side holds c - 1 of
        n - 1 rows and its tail probability is c / n (the new-row formula with n - 1 rows). A
        row that is the only one at a feature's extreme lies beyond the others' range, by its
        distance to the next value.
        """
        self._ready()
        rows, d = X.shape
        out = np.empty(rows)
        log_n = math.log(self.n)
        second_top = self.grid[:, -2] if self.grid.shape[1] > 1 else self._top
        second_bottom = self.grid[:, 1] if self.grid.shape[1] > 1 else self._bottom
        chunk = max(1, _CHUNK_ELEMENTS // d)
        for start in range(0, rows, chunk):
            part = X[start : start + chunk]
            at_most, at_least = self._counts(part)
            rarer = np.maximum(np.minimum(at_most, at_least) * self.weight, 1.0)
            u = log_n - np.log(rarer)
            u += self._beyond(part)
            alone_top = (at_least * self.weight <= 1.0) & (part >= self._top)
            alone_bottom = (at_most * self.weight <= 1.0) & (part <= self._bottom)
            u += np.where(alone_top, (part - second_top) * self._inv_hi, 0.0)
            u += np.where(alone_bottom, (second_bottom - part) * self._inv_lo, 0.0)
            u[:, ~self.active] = 0.0
            out[start : start + chunk] = u.sum(axis=1)
        return out

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.per_feature(X).sum(axis=1)
