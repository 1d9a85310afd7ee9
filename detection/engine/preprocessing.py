"""Input checks and robust scaling, fitted on training data.

Missing values: each pipeline has a policy. "reject" raises an InputError naming the column and
row of the first NaN; "impute" fills NaN with the training median of the column. Infinite
values are rejected under both policies: an infinity is a broken reading or a parse error, not
an unknown value, and filling it in would hide that from the user.

Scaling: (x - median) / robust sigma per column, so distance-based detectors weigh features
alike. Constant columns are kept (the width stays what the user declared) but get a zero
inverse scale: they have no influence and nothing is divided by zero.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .errors import ConfigError, InputError
from .stats import robust_sigma, safe_inverse

MISSING_POLICIES = ("reject", "impute")
# Scaled values beyond this are clipped so huge inputs cannot overflow inside a detector.
_SCALED_LIMIT = 1e12


def _first_cell(mask: np.ndarray) -> tuple[int, int]:
    flat = int(np.argmax(mask.ravel()))
    return divmod(flat, mask.shape[1])


def _object_to_float(X: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Object arrays (e.g. from JSON) may hold numbers and None; anything else is an error."""
    out = np.empty(X.shape, dtype=np.float64)
    for (r, c), value in np.ndenumerate(X):
        if value is None:
            out[r, c] = np.nan
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            out[r, c] = float(value)
        else:
            column = names[c] if c < len(names) else str(c)
            raise InputError(
                f"non-numeric value {value!r} in column `{column}` at row {r}",
                column=column,
                row=r,
            )
    return out


def as_matrix(X, names: Sequence[str], *, action: str = "score") -> np.ndarray:
    """X as a 2-D float64 array of the declared width; raises InputError naming the problem.

    Finiteness is not checked here (that depends on the missing-value policy).
    """
    try:
        arr = np.asarray(X)
    except ValueError as exc:  # ragged nested lists
        raise InputError(f"rows must all have {len(names)} values ({exc})") from exc
    if arr.ndim == 1 and arr.size == 0:
        raise InputError(f"no rows to {action}: the input is empty")
    if arr.ndim != 2:
        hint = " (use score_one for a single row)" if arr.ndim == 1 else ""
        raise InputError(
            f"expected a 2-D array of rows x {len(names)} features, got {arr.ndim}-D "
            f"shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0:
        raise InputError(f"no rows to {action}: the input is empty")
    if arr.shape[1] != len(names):
        listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise InputError(f"expected {len(names)} feature columns ({listed}), got {arr.shape[1]}")
    kind = arr.dtype.kind
    if kind in "iuf":
        return arr.astype(np.float64, copy=False)
    if kind == "b":
        raise InputError(
            f"column `{names[0]}` holds booleans; convert them to numbers (0/1) first",
            column=names[0],
        )
    if kind == "O":
        return _object_to_float(arr, names)
    r, c = 0, 0
    what = {"U": "text", "S": "text", "c": "a complex number", "M": "a date", "m": "a duration"}
    raise InputError(
        f"non-numeric value {arr[r, c].item()!r} ({what.get(kind, arr.dtype.name)}) in column "
        f"`{names[c]}` at row {r}",
        column=names[c],
        row=r,
    )


class Preprocessor:
    """Missing-value policy and robust scaling learned from the training rows."""

    def __init__(self, feature_names: Sequence[str], missing: str) -> None:
        if missing not in MISSING_POLICIES:
            raise ConfigError(
                f"unknown missing-value policy {missing!r}: use 'reject' or 'impute'",
                param="missing",
            )
        self.feature_names = list(feature_names)
        self.missing = missing

    def _handle_missing(self, X: np.ndarray, fill: np.ndarray | None) -> np.ndarray | None:
        """Raise for inf (always) and NaN (under "reject"); return the NaN mask or None."""
        bad = ~np.isfinite(X)
        if not bad.any():
            return None
        infinite = np.isinf(X)
        if infinite.any():
            r, c = _first_cell(infinite)
            name = self.feature_names[c]
            raise InputError(
                f"infinite value in column `{name}` at row {r}; infinite values are always "
                "rejected (send a finite number, or leave the value empty to mark it missing)",
                column=name,
                row=r,
            )
        if self.missing == "reject":
            r, c = _first_cell(bad)
            name = self.feature_names[c]
            raise InputError(
                f"missing value (NaN) in column `{name}` at row {r}; this detector's "
                "missing-value policy is 'reject' (choose 'impute' to fill in the training "
                "median)",
                column=name,
                row=r,
            )
        if fill is not None:
            np.copyto(X, np.broadcast_to(fill, X.shape), where=bad)
        return bad

    def fit(self, X: np.ndarray) -> np.ndarray:
        """Learn medians and scales from checked training data; return it filled (raw units)."""
        X = np.array(X, dtype=np.float64)  # own copy: imputation writes into it
        self._handle_missing(X, None)
        if self.missing == "impute":
            empty = np.isnan(X).all(axis=0)
            if empty.any():
                name = self.feature_names[int(np.argmax(empty))]
                raise InputError(
                    f"column `{name}` has no values to learn from (all missing)", column=name
                )
            self.fill = np.nanmedian(X, axis=0)
            np.copyto(X, np.broadcast_to(self.fill, X.shape), where=np.isnan(X))
        else:
            self.fill = np.median(X, axis=0)
        self.center = np.median(X, axis=0)
        self.sigma = robust_sigma(X, self.center)
        self.inv_scale = safe_inverse(self.sigma)
        self.constant = self.sigma == 0
        return X

    def fill_missing(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Apply the policy to checked data; returns (filled copy or X, NaN mask or None)."""
        if np.isfinite(X).all():
            return X, None
        X = np.array(X, dtype=np.float64)
        mask = self._handle_missing(X, self.fill)
        return X, mask

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Robust-scale filled data; constant columns become 0."""
        out = (X - self.center) * self.inv_scale
        np.clip(out, -_SCALED_LIMIT, _SCALED_LIMIT, out=out)
        return out

    def scale_one(self, x: list[float]) -> np.ndarray:
        """`scale` of one filled row, as a 1-row matrix: the same operations in plain Python,
        where numpy's calls on d values cost more than the work (the more so inside a request,
        whose other code has evicted numpy's from the caches)."""
        lists = self.__dict__.get("_lists")
        if lists is None:
            lists = self._lists = (self.center.tolist(), self.inv_scale.tolist())
        center, inv_scale = lists
        limit = _SCALED_LIMIT
        rows = zip(x, center, inv_scale, strict=True)
        return np.array([[min(max((v - c) * s, -limit), limit) for v, c, s in rows]])

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_lists", None)  # derived on first use, never saved
        return state
