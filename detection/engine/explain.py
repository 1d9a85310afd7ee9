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
absolute value over all features, rounded to 3 decimals); ``expected`` is the training median and
``low``-``high`` its usual band (5th-95th percentile), rounded to 4 significant digits (they are
estimates, and the web layer stores this dict with every point: 2.7, not 2.6999999999999997);
``value`` is the input as given, None where it was missing. Member scores have 1 decimal.

Speed: a batch is one vectorised pass, and its explanations are written straight as JSON text
(`explain_json`, through jsontext): the web layer stores that text with every point and sends it
back in the answer, so per-row dicts would only be built to be encoded. Every part that repeats
(a feature's name and rounded expected/low/high, each rounded contribution and member score, the
text around a value) is encoded once per model or once per batch, and each row is one join of
those pieces: about 1.6 ms per 1,000 rows, against 6 ms for building the dicts and encoding them.
ScoreBatch.explanations parses that text when dicts are wanted, so both forms agree.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Iterator, Sequence

import numpy as np

from . import jsontext
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
_SHOWN_DIGITS = 4  # significant digits of expected, low and high in an explanation
# Every rounded contribution (3 decimals in [-1, 1]) and member score (1 decimal in [0, 100]) as
# JSON text, encoded once. The values equal np.round's (i / 1000 is what rint(x * 1000) / 1000
# gives).
_SHARES = jsontext.table([jsontext.number(i / 1000) for i in range(-1000, 1001)])
_MEMBER_SCORES = jsontext.table([jsontext.number(i / 10) for i in range(1001)])
_WITHIN = "all values are within their usual ranges"
_WITHIN_ODD = "all values are within their usual ranges, but not in this combination"


# 10**k for k = -3..6 as the doubles both number formatters compare with (see _decimals).
_POWERS = [10.0**k for k in range(-3, 7)]
_SPECS = [f".{d}f" for d in range(6)]


def _decimals(size: float) -> int:
    """Decimals shown for a value of this size in [1e-3, 1e6): 3 significant digits, at least 0.
    The exponent is floor(log10), corrected against exact powers of ten so that it agrees with
    the vectorised version in `_format_many` at the boundaries."""
    exponent = min(max(math.floor(math.log10(size)), -3), 5)
    if size >= _POWERS[exponent + 4]:
        exponent += 1
    elif size < _POWERS[exponent + 3]:
        exponent -= 1
    return max(0, 2 - exponent)


def fmt(value: float | None) -> str:
    """A short human number: 9.3, 0.0012, 1.2e+07."""
    if value is None or value != value:
        return "missing"
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1e6 or size < 1e-3:
        return f"{value:.3g}"
    decimals = _decimals(size)
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _format_many(values: np.ndarray) -> list[str]:
    """`fmt` of many finite numbers, the same strings: the decimals are worked out for all values
    at once and each group is formatted with one constant spec (half the time of `fmt` per value).
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(values.size, dtype=object)
    size = np.abs(values)
    regular = (size >= 1e-3) & (size < 1e6)
    exponent = np.zeros(values.size, dtype=np.intp)
    if regular.any():
        guess = np.floor(np.log10(size[regular])).astype(np.intp).clip(-3, 5)
        powers = np.array(_POWERS)
        guess += size[regular] >= powers[guess + 4]
        guess -= size[regular] < powers[guess + 3]
        exponent[regular] = guess
    decimals = np.where(regular, np.maximum(0, 2 - exponent), -1)
    for d in np.unique(decimals).tolist():
        at = np.flatnonzero(decimals == d)
        chosen = values[at].tolist()
        if d < 0:
            texts = ["0" if v == 0 else format(v, ".3g") for v in chosen]
        elif d == 0:
            texts = [format(v, ".0f") for v in chosen]
        else:
            spec = _SPECS[d]
            texts = [format(v, spec).rstrip("0").rstrip(".") for v in chosen]
        out[at] = texts
    return out.tolist()


def _shown(value: float) -> float:
    """A training statistic as shown: 4 significant digits (a float, so it stays a number)."""
    return float(f"{value:.{_SHOWN_DIGITS}g}")


def _top_columns(size: np.ndarray, k: int) -> np.ndarray:
    """Columns of the k largest values per row, largest first, ties to the lower column (the
    order of a stable argsort of -size). k passes of argmax are cheaper than sorting rows."""
    if k * 3 > size.shape[1]:
        return np.argsort(-size, axis=1, kind="stable")[:, :k]
    work = size.copy()
    rows = np.arange(size.shape[0])
    order = np.empty((size.shape[0], k), dtype=np.intp)
    for i in range(k):
        order[:, i] = best = work.argmax(axis=1)
        work[rows, best] = -1.0  # sizes are >= 0
    return order


def _join(labels: Sequence[str]) -> str:
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
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
        self._expected_list = [_shown(v) for v in self.expected.tolist()]
        self._low_list = [_shown(v) for v in self.low.tolist()]
        self._high_list = [_shown(v) for v in self.high.tolist()]
        self._inv_up_list, self._inv_down_list = self.inv_up.tolist(), self.inv_down.tolist()
        self._raw_expected_list = self.expected.tolist()
        self._raw_low_list, self._raw_high_list = self.low.tolist(), self.high.tolist()
        self.band_text = [
            f"{fmt(lo)}-{fmt(hi)}" if lo >= 0 else f"{fmt(lo)} to {fmt(hi)}"
            for lo, hi in zip(self.low.tolist(), self.high.tolist(), strict=True)
        ]
        # A feature's entry in JSON around its two per-row parts (key order is the documented
        # one): '{"name":..,"value":' + value + ',"contribution":' + share + tail.
        self._json_heads = jsontext.table(
            [f'{{"name":{jsontext.string(name)},"value":' for name in self.feature_names]
        )
        self._json_tails = jsontext.table(
            [
                f',"expected":{jsontext.number(e)},"low":{jsontext.number(lo)},'
                f'"high":{jsontext.number(hi)}}}'
                for e, lo, hi in zip(
                    self._expected_list, self._low_list, self._high_list, strict=True
                )
            ]
        )
        # The sentence around a lead value, escaped for JSON: prefix by feature, suffix by
        # (feature, phrase).
        self._text_prefix = [jsontext.inner(f"value of `{name}` ") for name in self.feature_names]
        self._text_suffix = [
            [jsontext.inner(f" {phrase} {band}") for phrase in _PHRASES] for band in self.band_text
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

    def explain_json(
        self,
        X: np.ndarray,
        scores: np.ndarray,
        threshold: float,
        members: dict[str, np.ndarray],
        member_labels: dict[str, str],
        missing: np.ndarray | None = None,
        top: int = TOP_FEATURES,
    ) -> list[str]:
        """Explanations for a batch of filled rows (raw units) and their calibrated scores, each
        as the JSON text of the dict (what orjson would write for it)."""
        n, d = X.shape
        if n == 0:
            return []
        z = self.deviations(X)
        if missing is not None:
            z[missing] = 0.0
        size = np.abs(z)
        total = size.sum(axis=1)
        k = min(top, d)
        order = _top_columns(size, k)
        rows = np.arange(n)[:, None]
        top_z = z[rows, order]
        values = X[rows, order]
        share = np.divide(top_z, total[:, None], out=np.zeros_like(top_z), where=total[:, None] > 0)
        share_index = np.rint(share * 1000.0).astype(np.intp) + 1000
        lead = order[:, 0]
        lead_value = values[:, 0]
        above = lead_value > self.high[lead]
        below = lead_value < self.low[lead]
        far = np.abs(top_z[:, 0]) >= _FAR
        # 0 within the band, 1 above, 2 far above, 3 below, 4 far below
        where = np.where(above, 1 + far, np.where(below, 3 + far, 0))
        if missing is not None:
            where[missing[rows[:, 0], lead]] = 0

        names = list(members)
        labels = tuple(member_labels[m] for m in names)
        stacked = np.column_stack([members[m] for m in names])
        member_index = np.rint(stacked * 10.0).astype(np.intp)
        mask = (stacked >= threshold) @ (1 << np.arange(len(names)))
        anomalous = scores >= threshold

        if missing is not None:
            values = values.astype(object)
            values[missing[rows, order]] = None
        # Tens of thousands of strings and no cycles: without the pause, the cyclic GC would run
        # over everything alive several times (tolist alone triggers it).
        with gc_paused():
            texts = self._texts(lead, lead_value, where, mask, anomalous, labels)
            pieces: list[str | list[str]] = ['{"features":[']
            for i in range(k):
                pieces += [
                    "," if i else "",
                    self._json_heads[order[:, i]].tolist(),
                    jsontext.numbers(values[:, i]),
                    ',"contribution":',
                    _SHARES[share_index[:, i]].tolist(),
                    self._json_tails[order[:, i]].tolist(),
                ]
            pieces.append('],"members":{')
            for j, name in enumerate(names):
                pieces += [
                    ("," if j else "") + jsontext.string(name) + ":",
                    _MEMBER_SCORES[member_index[:, j]].tolist(),
                ]
            pieces += ['},"text":"', texts, '"}']
            return jsontext.join_rows(pieces)

    def _texts(
        self,
        lead: np.ndarray,
        lead_value: np.ndarray,
        where: np.ndarray,
        mask: np.ndarray,
        anomalous: np.ndarray,
        labels: tuple[str, ...],
    ) -> list[str]:
        """The one-sentence text of every row of a batch, escaped for a JSON string."""
        # "; <which members agree>" by (anomalous, member bitmask)
        endings = [
            [jsontext.inner(f"; {c}") if c else "" for c in _clauses(labels, flag)]
            for flag in (False, True)
        ]
        # Rows whose lead value is within its band share one string per (anomalous, mask).
        plain = jsontext.table(
            [jsontext.inner(_WITHIN) + e for e in endings[0]]
            + [jsontext.inner(_WITHIN_ODD) + e for e in endings[1]]
        )
        texts = plain[anomalous * len(endings[0]) + mask].tolist()
        told = np.flatnonzero(where)
        if told.size:
            # Each distinct lead value is formatted once.
            distinct, inverse = np.unique(lead_value[told], return_inverse=True)
            shown = _format_many(distinct)
            prefix, suffix = self._text_prefix, self._text_suffix
            for i, c, w, u, a, m in zip(
                told.tolist(),
                lead[told].tolist(),
                where[told].tolist(),
                inverse.tolist(),
                anomalous[told].tolist(),
                mask[told].tolist(),
                strict=True,
            ):
                texts[i] = f"{prefix[c]}{shown[u]}{suffix[c][w]}{endings[a][m]}"
        return texts

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
        """`explain_json` for one row in plain Python, as a dict: the same result, without the
        per-call cost of a dozen numpy operations on a 1-row matrix."""
        z = []
        for j, (v, med) in enumerate(zip(x, self._raw_expected_list, strict=True)):
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
        elif x[lead] > self._raw_high_list[lead]:
            w = 2 if abs(z[lead]) >= _FAR else 1
        elif x[lead] < self._raw_low_list[lead]:
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
