"""One explanation per scored point, the same shape for every detector.

Feature attribution is model-agnostic on purpose: each feature's signed deviation from its
training median, in robust spreads measured separately above and below the median (so skewed
features are judged by their own tails). This costs one vectorised pass over the batch, which
is what lets the web layer store tens of thousands of explained points per second; per-detector
attributions (path lengths, occlusion) would cost a re-scoring per feature.

Shape of an explanation (all plain JSON types)::

    {"features": [{"name", "value", "contribution", "expected", "low", "high"}, ...top 3],
     "members": {algorithm: calibrated score, ...},
     "text": "value of `cpu` 9.3 is far above its usual 2.1-3.4; Isolation Forest and ..."}

``contribution`` is the feature's signed share of the total absolute deviation (sums to 1 in
absolute value over all features); ``expected`` is the training median and ``low``-``high``
its usual band (5th-95th percentile). ``value`` is None where the input was missing.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Iterator, Sequence

import numpy as np

from .stats import robust_sigma, safe_inverse

TOP_FEATURES = 3
_Z95 = 1.6449  # standard normal 95th percentile: the band edge in sigma units
_FAR = 3.0  # deviation (in one-sided robust sigmas) called "far"
_PHRASES = (
    "is within its usual",
    "is above its usual",
    "is far above its usual",
    "is below its usual",
    "is far below its usual",
)
_SAVED = ("feature_names", "inv_up", "inv_down", "expected", "low", "high")
_WITHIN = "all values are within their usual ranges"
_WITHIN_ODD = "all values are within their usual ranges, but not in this combination"


def fmt(value: float | None) -> str:
    """A short human number: 9.3, 0.0012, 1.2e+07."""
    if value is None or value != value:
        return "missing"
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1e6 or size < 1e-3:
        return f"{value:.3g}"
    decimals = max(0, 2 - int(math.floor(math.log10(size))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _join(labels: Sequence[str]) -> str:
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.lru_cache(maxsize=256)
def _clauses(labels: tuple[str, ...], anomalous: bool) -> list[str]:
    """Agreement clause for each bitmask of members at or above the threshold."""
    out = []
    for mask in range(1 << len(labels)):
        yes = [lab for i, lab in enumerate(labels) if mask >> i & 1]
        no = [lab for i, lab in enumerate(labels) if not mask >> i & 1]
        if len(labels) < 2:
            out.append("")
        elif anomalous and not no:
            out.append(f"{_join(yes)} agree")
        elif anomalous and yes:
            out.append(f"flagged by {_join(yes)}, not by {_join(no)}")
        elif anomalous:
            out.append("no member alone is above the threshold, together they are")
        elif yes:
            out.append(f"only {_join(yes)} flag{'s' if len(yes) == 1 else ''} it")
        else:
            out.append("")
    return out


class Explainer:
    """Per-feature medians and one-sided spreads learned from the (filled) training rows."""

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.feature_names = list(feature_names)

    def fit(self, X: np.ndarray) -> Explainer:
        q05, med, q95 = np.quantile(X, [0.05, 0.5, 0.95], axis=0)
        sigma = robust_sigma(X, med)
        up = np.where(q95 > med, (q95 - med) / _Z95, sigma)
        down = np.where(med > q05, (med - q05) / _Z95, sigma)
        # Constant columns: zero influence (sigma == 0 there, so both inverses are 0).
        self.inv_up = np.where(sigma > 0, safe_inverse(up), 0.0)
        self.inv_down = np.where(sigma > 0, safe_inverse(down), 0.0)
        self.expected = med
        self.low = q05
        self.high = q95
        self._text_cache()
        return self

    def _text_cache(self) -> None:
        """Plain-Python copies used per row (rebuilt after loading, never saved)."""
        self._expected_list = self.expected.tolist()
        self._low_list, self._high_list = self.low.tolist(), self.high.tolist()
        self._inv_up_list, self._inv_down_list = self.inv_up.tolist(), self.inv_down.tolist()
        self.band_text = [
            f"{fmt(lo)}-{fmt(hi)}" if lo >= 0 else f"{fmt(lo)} to {fmt(hi)}"
            for lo, hi in zip(self.low.tolist(), self.high.tolist(), strict=True)
        ]

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "expected" in state:
            self._text_cache()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k in _SAVED}

    def deviations(self, X: np.ndarray) -> np.ndarray:
        """Signed deviation from the median in one-sided robust sigmas, shape (rows, features)."""
        diff = X - self.expected
        return np.where(diff > 0, diff * self.inv_up, diff * self.inv_down)

    def explain(
        self,
        X: np.ndarray,
        scores: np.ndarray,
        threshold: float,
        members: dict[str, np.ndarray],
        member_labels: dict[str, str],
        missing: np.ndarray | None = None,
        top: int = TOP_FEATURES,
    ) -> list[dict]:
        """Explanations for a batch of filled rows (raw units) and their calibrated scores."""
        n, d = X.shape
        z = self.deviations(X)
        if missing is not None:
            z[missing] = 0.0
        size = np.abs(z)
        total = size.sum(axis=1, keepdims=True)
        share = np.divide(z, total, out=np.zeros_like(z), where=total > 0)
        k = min(top, d)
        order = np.argsort(-size, axis=1, kind="stable")[:, :k]
        values = np.take_along_axis(X, order, axis=1)
        top_share = np.round(np.take_along_axis(share, order, axis=1), 3)
        lead = order[:, 0]
        lead_z = z[np.arange(n), lead]
        lead_value = values[:, 0]
        above = lead_value > self.high[lead]
        below = lead_value < self.low[lead]
        far = np.abs(lead_z) >= _FAR
        # 0 within the band, 1 above, 2 far above, 3 below, 4 far below
        where = np.where(above, 1 + far, np.where(below, 3 + far, 0))
        if missing is not None:
            where[missing[np.arange(n), lead]] = 0

        names = list(members)
        labels = tuple(member_labels[m] for m in names)
        member_matrix = np.round(np.vstack([members[m] for m in names]).T, 1)
        flagged = np.vstack([members[m] >= threshold for m in names]).T
        mask = flagged @ (1 << np.arange(len(names)))
        anomalous = scores >= threshold

        if missing is not None:
            values = values.astype(object)
            values[np.take_along_axis(missing, order, axis=1)] = None
        clause_yes, clause_no = _clauses(labels, True), _clauses(labels, False)
        feature_names, band_text = self.feature_names, self.band_text
        expected, low, high = self._expected_list, self._low_list, self._high_list
        out = []
        append = out.append
        with _gc_paused():  # hundreds of thousands of small dicts, no cycles: skip GC passes
            for cols, vals, shares, ms, w, m, is_anom in zip(
                order.tolist(),
                values.tolist(),
                top_share.tolist(),
                member_matrix.tolist(),
                where.tolist(),
                mask.tolist(),
                anomalous.tolist(),
                strict=True,
            ):
                features = [
                    {
                        "name": feature_names[c],
                        "value": v,
                        "contribution": s,
                        "expected": expected[c],
                        "low": low[c],
                        "high": high[c],
                    }
                    for c, v, s in zip(cols, vals, shares, strict=True)
                ]
                if w:
                    c0 = cols[0]
                    text = (
                        f"value of `{feature_names[c0]}` {fmt(vals[0])} {_PHRASES[w]} "
                        f"{band_text[c0]}"
                    )
                else:
                    text = _WITHIN_ODD if is_anom else _WITHIN
                clause = clause_yes[m] if is_anom else clause_no[m]
                if clause:
                    text = f"{text}; {clause}"
                members_out = dict(zip(names, ms, strict=True))
                append({"features": features, "members": members_out, "text": text})
        return out

    def explain_one(
        self,
        x: list[float],
        score: float,
        threshold: float,
        members: dict[str, float],
        member_labels: dict[str, str],
        missing: list[bool] | None = None,
        top: int = TOP_FEATURES,
    ) -> dict:
        """`explain` for one row in plain Python: same result, without the per-call cost of
        a dozen numpy operations on a 1-row matrix."""
        z = []
        for j, (v, med) in enumerate(zip(x, self._expected_list, strict=True)):
            if missing is not None and missing[j]:
                z.append(0.0)
            else:
                z.append((v - med) * (self._inv_up_list[j] if v > med else self._inv_down_list[j]))
        size = [abs(v) for v in z]
        total = sum(size)
        cols = sorted(range(len(x)), key=size.__getitem__, reverse=True)[: min(top, len(x))]
        # reverse=True keeps equal sizes in index order, like the stable argsort of the batch
        shares = [round((z[c] / total if total > 0 else 0.0) * 1000) / 1000 for c in cols]
        vals = [None if missing is not None and missing[c] else x[c] for c in cols]
        lead = cols[0]
        if missing is not None and missing[lead]:
            w = 0
        elif x[lead] > self._high_list[lead]:
            w = 2 if abs(z[lead]) >= _FAR else 1
        elif x[lead] < self._low_list[lead]:
            w = 4 if abs(z[lead]) >= _FAR else 3
        else:
            w = 0
        names = list(members)
        ms = [round(members[m] * 10) / 10 for m in names]
        mask = sum(1 << i for i, m in enumerate(names) if members[m] >= threshold)
        labels = tuple(member_labels[m] for m in names)
        return self._assemble(cols, vals, shares, names, ms, w, mask, score >= threshold, labels)

    def _assemble(
        self,
        cols: list[int],
        vals: list[float | None],
        shares: list[float],
        names: list[str],
        member_scores: list[float],
        where: int,
        mask: int,
        anomalous: bool,
        labels: tuple[str, ...],
    ) -> dict:
        feature_names = self.feature_names
        expected, low, high = self._expected_list, self._low_list, self._high_list
        features = [
            {
                "name": feature_names[c],
                "value": v,
                "contribution": s,
                "expected": expected[c],
                "low": low[c],
                "high": high[c],
            }
            for c, v, s in zip(cols, vals, shares, strict=True)
        ]
        if where == 0:
            text = _WITHIN_ODD if anomalous else _WITHIN
        else:
            c0 = cols[0]
            text = (
                f"value of `{feature_names[c0]}` {fmt(vals[0])} {_PHRASES[where]} "
                f"{self.band_text[c0]}"
            )
        clause = _clauses(labels, bool(anomalous))[mask]
        if clause:
            text = f"{text}; {clause}"
        members_out = dict(zip(names, member_scores, strict=True))
        return {"features": features, "members": members_out, "text": text}
