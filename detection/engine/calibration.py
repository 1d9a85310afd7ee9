"""Raw detector scores -> one 0-100 score with the same meaning for every detector.

A calibrated score s says: a normal point scores at least this high with probability
10^(-s/25) (25 = 10%, 50 = 1%, 75 = 0.1%, 100 = 0.01% or rarer).

The probability is estimated from *held-out* training scores: scores of training rows by a model
that did not learn from them. Detectors that can leave a row out of the served model itself do
so (kNN and ECOD exactly, leave-one-out; Isolation Forest through trees that never sampled the
row), so the calibrator sees the very model that scores new rows, fitted on all rows. The others
use K-fold cross-fitting (`make_folds`, K = 5): each row is scored by a model fitted on the other
folds. Refitting on 80% folds and serving a model fitted on 100% shifts scores wherever a detector
depends on the training size or on its random draw (kNN's reference sample, ECOD's range, the
forest), and that shift lands directly in the false-alarm rate.

Up to the 20th largest held-out score the tail probability is the conformal estimate
P(score >= r) = #{held-out >= r} / (m + 1), interpolated in log space between observed values
(ties count in full, so atoms of discrete scores are never under-counted). Beyond it a
generalized Pareto tail takes over (peaks over threshold: fitted to the top max(20, 5%) scores by
probability-weighted moments, anchored at the 20th largest score's empirical probability), so the
scale does not stop at 25 * log10(m + 1) and its shape follows the data: bounded for Isolation
Forest path lengths, heavy for distances. Where the top scores are mostly ties an exponential
tail from the largest score is used.

Why not empirical all the way to the largest score: with m held-out scores, the 1% point rests on
m/100 of them; for m = 222 that is two scores, and the false-alarm rate it gives swings by a
factor of two either way. On known distributions (exponential, gamma, lognormal, t, beta,
Weibull, Pareto; 200 samples each) the true exceedance of the estimated 1% point fell within
0.5-2% for 46-54% of samples of m = 100 and 63-74% of m = 222 with the empirical tail, and for
50-69% and 68-87% with the Pareto tail from the 20th score (82-89% and 88-93% for m = 500; no
change from m = 2000 on, where the 1% point lies inside the empirical part). The price is a lean
towards flagging more at small m (mean exceedance 1.2-1.5x the target for m = 100, 1.0-1.25x for
m = 222). A variant that let the Pareto fit replace the whole empirical top 5% did worse on the
benchmark datasets.
"""

from __future__ import annotations

import bisect
import functools
import math

import numpy as np

from .errors import ConfigError

SENSITIVITY_PRESETS: dict[str, float] = {"low": 0.001, "medium": 0.01, "high": 0.05}

#: (name, lowest score) from the bottom up; a score belongs to the last band it reaches.
BANDS: tuple[tuple[str, float], ...] = (
    ("none", 0.0),
    ("warning", 25.0),
    ("minor", 50.0),
    ("major", 75.0),
    ("critical", 90.0),
)
_BAND_EDGES = np.array([edge for _, edge in BANDS[1:]])
_BAND_NAMES = np.array([name for name, _ in BANDS])

N_FOLDS = 5
# Held-out scores kept exactly at the top; below that a thinned grid is enough (p > ~10%).
_EXACT_TOP = 1000
_MAX_BODY_KNOTS = 1000
# Peaks over threshold: the top max(20, 5%) held-out scores carry the fitted tail.
_GPD_MIN_TOP = 20
_GPD_SHARE = 0.05
_GPD_MIN_FIT = 10
# The fitted tail takes over beyond the held-out score with this many at or above it.
_EMPIRICAL_MIN_COUNT = 20
_MAX_SHAPE = 0.5
_MIN_RATE = 1e-4  # score 100
# Batches from this size use the branch-free knot search (Calibrator._interp).
_SEARCH_MIN_ROWS = 64
_SEARCH_MIN_KNOTS = 256
_MAX_RATE = 0.5


def score_from_p(p: np.ndarray | float) -> np.ndarray:
    """-25 * log10(p), clipped to 0-100."""
    return np.clip(-25.0 * np.log10(p), 0.0, 100.0)


def rate_for(sensitivity: str | float) -> float:
    """Target false-alarm rate per point for a preset name or a rate."""
    if isinstance(sensitivity, str):
        if sensitivity not in SENSITIVITY_PRESETS:
            choices = ", ".join(SENSITIVITY_PRESETS)
            raise ConfigError(
                f"unknown sensitivity {sensitivity!r}: use one of {choices} or a false-alarm "
                f"rate between {_MIN_RATE} and {_MAX_RATE}",
                param="sensitivity",
            )
        return SENSITIVITY_PRESETS[sensitivity]
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, (int, float)):
        raise ConfigError(
            f"sensitivity must be a preset name or a number, got {type(sensitivity).__name__}",
            param="sensitivity",
        )
    rate = float(sensitivity)
    if not (_MIN_RATE <= rate <= _MAX_RATE):
        raise ConfigError(
            f"sensitivity {rate} is out of range: a false-alarm rate must be between "
            f"{_MIN_RATE} and {_MAX_RATE}",
            param="sensitivity",
        )
    return rate


@functools.lru_cache(maxsize=256)  # asked for every scored request, with a handful of values
def threshold_for(sensitivity: str | float) -> float:
    """Calibrated score at which a point is an anomaly (1% -> 50, 0.1% -> 75, 5% -> 32.5)."""
    return float(score_from_p(rate_for(sensitivity)))


def band_for(score: float) -> str:
    """Band name of one calibrated score."""
    name = BANDS[0][0]
    for band, edge in BANDS:
        if score >= edge:
            name = band
    return name


def bands_for(scores: np.ndarray) -> np.ndarray:
    """Band names for an array of scores (vectorised `band_for`)."""
    return _BAND_NAMES[np.searchsorted(_BAND_EDGES, scores, side="right")]


def make_folds(n: int, n_folds: int, random_state: int) -> list[np.ndarray]:
    """Random, near-equal folds of row indices for cross-fitting."""
    order = np.random.default_rng(random_state).permutation(n)
    return [np.sort(part) for part in np.array_split(order, n_folds)]


def _fit_gpd(raw: np.ndarray) -> tuple[float, float, float] | None:
    """Generalized Pareto tail over the top held-out scores: (threshold, shape, scale).

    Peaks over threshold: the top k = max(20, 5%) scores, fitted by probability-weighted
    moments (Hosking & Wallis 1987; stable on few points). None where the top is mostly ties
    (discrete scores), where a smooth tail would misstate the atoms.
    """
    m = raw.shape[0]
    k = min(max(_GPD_MIN_TOP, int(math.ceil(_GPD_SHARE * m))), m - 1)
    start = raw[m - k - 1]
    excess = np.sort(raw[raw > start] - start)
    n = excess.size
    if n < _GPD_MIN_FIT or np.unique(excess).size < 0.5 * n:
        return None
    a0 = float(excess.mean())
    a1 = float(np.mean((1.0 - (np.arange(1, n + 1) - 0.35) / n) * excess))
    if a0 - 2.0 * a1 <= 0:
        return None
    shape = float(np.clip(2.0 - a0 / (a0 - 2.0 * a1), -_MAX_SHAPE, _MAX_SHAPE))
    scale = 2.0 * a0 * a1 / (a0 - 2.0 * a1)
    return float(start), shape, scale


def _exponential_scale(raw: np.ndarray) -> float:
    """Mean excess of the top scores over the next one (fallback tail beyond the maximum).

    Never below a millionth of the largest score (of 1 for small scores): kNN distances are
    selected in float32, and an ensemble passes raw differences through two calibrators, which
    would blow rounding up to 100. Equal top scores can also leave an excess of one rounding
    error (their mean is not always exactly their value), as for a constant column.
    """
    floor = 1e-6 * max(1.0, abs(float(raw[-1])))
    m = raw.shape[0]
    k = min(max(5, int(math.ceil(_GPD_SHARE * m))), m - 1)
    if k >= 1:
        excess = float(raw[m - k :].mean() - raw[m - k - 1])
        if excess > floor:
            return excess
        upper = raw[m // 2 :]  # ties at the top: use the spread of the upper half
        excess = float(upper.mean() - upper[0])
        if excess > floor:
            return excess
    # Top scores (nearly) all equal: anything above them by more than numerical noise is as
    # rare as we can say.
    return floor


class Calibrator:
    """Maps raw scores to calibrated 0-100 scores from held-out raw scores of normal data."""

    def __init__(
        self,
        knots: np.ndarray,
        log10_p: np.ndarray,
        tail: tuple[float, float, float, float],
        n: int,
    ) -> None:
        self.knots = knots  # ascending distinct held-out raw scores
        self.log10_p = log10_p  # log10 P(held-out >= knot), decreasing
        # Beyond tail_start: P = 10**tail_log10_p * (1 + shape * y / scale) ** (-1 / shape).
        self.tail_start, self.tail_log10_p, self.tail_shape, self.tail_scale = tail
        self.n = n

    @classmethod
    def fit(cls, held_out: np.ndarray) -> Calibrator:
        raw = np.sort(np.asarray(held_out, dtype=np.float64))
        m = raw.shape[0]
        knots, first = np.unique(raw, return_index=True)
        at_least = m - first  # held-out scores >= each knot
        log10_p = np.log10(at_least / (m + 1.0))
        keep = at_least <= _EXACT_TOP
        body = np.flatnonzero(~keep)
        if body.size > _MAX_BODY_KNOTS:
            keep[body[np.linspace(0, body.size - 1, _MAX_BODY_KNOTS).round().astype(int)]] = True
        else:
            keep[body] = True
        # Beyond the largest held-out score: the Pareto tail fitted over the top scores, carried
        # on from the maximum (a GPD above u is again a GPD above any higher point, with scale
        # sigma + shape * (max - u)); exponential (shape 0) where no fit is possible.
        top, top_log10_p = float(raw[-1]), float(log10_p[-1])
        tail = (top, top_log10_p, 0.0, _exponential_scale(raw))
        gpd = _fit_gpd(raw) if m > _GPD_MIN_TOP else None
        if gpd is not None:
            # Anchored at the 20th largest score (u), where the empirical estimate still rests on
            # 20 scores: P(r) = P_emp(u) * S(r) / S(u), S the fitted survival function. A GPD
            # above u0 is again a GPD above u >= u0, with scale sigma + shape * (u - u0).
            start, shape, scale = gpd
            anchor = float(raw[m - _EMPIRICAL_MIN_COUNT])
            at = int(np.searchsorted(knots, anchor))
            scale_at_anchor = scale + shape * (anchor - start)
            if anchor >= start and scale_at_anchor > 0:
                tail = (anchor, float(log10_p[at]), shape, scale_at_anchor)
        return cls(knots[keep], log10_p[keep], tail, m)

    def _interp(self, raw: np.ndarray) -> np.ndarray:
        """``np.interp(raw, knots, log10_p, left=0)`` for a batch, without its binary search.

        np.interp branches at every level of its search; a branch-free search (gather the knot
        one step ahead, compare, advance) over knots padded to 2**p takes about 40% less time
        (0.5 against 0.8 ms for 10,000 rows and 2,000 knots), four times per ensemble batch.
        Small inputs and short knot lists keep np.interp (a dozen numpy calls would cost more);
        both agree to rounding.
        """
        if raw.size < _SEARCH_MIN_ROWS or self.knots.size < _SEARCH_MIN_KNOTS:
            return np.interp(raw, self.knots, self.log10_p, left=0.0)
        table = self.__dict__.get("_table")
        if table is None:
            table = self._table = self._search_table()
        padded, slope = table
        pos = np.zeros(raw.shape, dtype=np.intp)
        probe = np.empty(raw.shape)
        hit = np.empty(raw.shape, dtype=bool)
        step = padded.size >> 1
        while step:
            padded[step - 1 :].take(pos, out=probe, mode="clip")
            np.less_equal(probe, raw, out=hit)
            pos += hit * step
            step >>= 1
        below = pos == 0  # under the lowest knot: P = 1
        pos -= 1
        pos[below] = 0
        # Past the last knot the slope is 0; the minimum keeps raw = +inf from giving inf * 0.
        offset = np.minimum(raw, self.knots[-1]) - self.knots.take(pos)
        out = self.log10_p.take(pos) + offset * slope.take(pos)
        out[below] = 0.0
        return out

    def _search_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Knots padded with NaN to a power of two, and the slope after each knot. (No value is
        >= NaN, so the search never steps into the padding, not even for raw = +inf.)"""
        size = self.knots.size
        padded = np.full(1 << int(size).bit_length(), np.nan)
        padded[:size] = self.knots
        slope = np.zeros(size)
        if size > 1:
            slope[:-1] = np.diff(self.log10_p) / np.diff(self.knots)
        return padded, slope

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_table", None)
        state.pop("_lists", None)
        return state

    def log10_tail(self, raw: np.ndarray) -> np.ndarray:
        """log10 P(normal score >= raw)."""
        raw = np.asarray(raw, dtype=np.float64)
        out = self._interp(raw)
        beyond = raw > self.tail_start
        if beyond.any():
            y = (raw[beyond] - self.tail_start) / self.tail_scale
            if self.tail_shape == 0.0:
                out[beyond] = self.tail_log10_p - y / math.log(10.0)
            else:
                base = 1.0 + self.tail_shape * y
                # A bounded tail (shape < 0) has an end point; past it P = 0 (score 100).
                safe = np.maximum(base, 1e-300)
                out[beyond] = np.where(
                    base > 0, self.tail_log10_p - np.log10(safe) / self.tail_shape, -np.inf
                )
        return out

    def score(self, raw: np.ndarray, cap: float = 100.0) -> np.ndarray:
        """Calibrated scores, 0-100 (a larger `cap` keeps extremes apart, for ensembles)."""
        return np.clip(-25.0 * self.log10_tail(raw), 0.0, cap)

    def score_one(self, raw: float, cap: float = 100.0) -> float:
        """`score` of one raw score, in plain Python: on a 1-element array numpy's calls cost
        about 15 us each, a dozen of them, four times per ensemble point. Equal to rounding."""
        if raw != raw:  # NaN, as the array path gives it
            return math.nan
        if raw > self.tail_start:
            y = (raw - self.tail_start) / self.tail_scale
            if self.tail_shape == 0.0:
                log10_p = self.tail_log10_p - y / math.log(10.0)
            else:
                base = 1.0 + self.tail_shape * y
                log10_p = (
                    self.tail_log10_p - math.log10(max(base, 1e-300)) / self.tail_shape
                    if base > 0
                    else -math.inf
                )
        else:
            log10_p = self._interp_one(raw)
        return min(max(-25.0 * log10_p, 0.0), cap)

    def _interp_one(self, raw: float) -> float:
        """np.interp(raw, knots, log10_p, left=0) for one value."""
        lists = self.__dict__.get("_lists")
        if lists is None:
            lists = self._lists = (self.knots.tolist(), self.log10_p.tolist())
        knots, log10_p = lists
        if raw < knots[0]:
            return 0.0
        i = bisect.bisect_right(knots, raw) - 1
        if i >= len(knots) - 1:
            return log10_p[-1]
        slope = (log10_p[i + 1] - log10_p[i]) / (knots[i + 1] - knots[i])
        return slope * (raw - knots[i]) + log10_p[i]

    def summary(self) -> dict:
        return {
            "held_out_rows": self.n,
            "method": "held-out scores; empirical tail, "
            + (
                f"generalized Pareto beyond the {_EMPIRICAL_MIN_COUNT}th largest"
                if self.tail_shape
                else "exponential beyond the largest"
            ),
            "tail_start_score": round(float(-25.0 * self.tail_log10_p), 2),
            "tail_shape": round(self.tail_shape, 4),
        }
