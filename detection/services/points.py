"""Turning request payloads into a matrix of feature values, with errors that name the point.

Points arrive as arrays in feature order or as objects keyed by feature name. Numbers are ints or
floats (JSON booleans and strings are refused, never coerced); null is a missing value, allowed
only where the detector imputes. Every message says which point (counted from 0, as in the
request's list) and which feature.
"""

from datetime import UTC, datetime
from itertools import chain

import numpy as np
from django.utils import timezone
from rest_framework.exceptions import ValidationError

_NUMBER_TYPES = {int, float}


def _invalid(message: str, field: str = "points") -> ValidationError:
    return ValidationError({field: [message]})


def _value_problem(value) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} is a boolean, not a number"
    if isinstance(value, str):
        return f"{value!r} is a string, not a number"
    if value is None:
        return "the value is missing (null)"
    return f"{type(value).__name__} {value!r} is not a number"


def points_matrix(points, features: list[str], *, allow_missing: bool) -> np.ndarray:
    """An (n, d) float64 matrix from a list of points; NaN marks a missing value."""
    if not isinstance(points, list):
        raise _invalid("expected a list of points")
    if not points:
        raise _invalid("the list of points is empty")
    if len(points) == 1:
        row = _plain_row(points[0], features)
        if row is not None:
            return np.array([row], dtype=np.float64)
    d = len(features)
    kinds = None  # the values' types, once known
    if set(map(type, points)) == {list} and set(map(len, points)) == {d}:
        kinds = set(map(type, chain.from_iterable(points)))
        matrix = _plain_matrix(points, d) if kinds <= _NUMBER_TYPES else None
        if matrix is not None:
            return matrix
    rows = (
        points
        if all(type(p) is list for p in points)
        else [
            _row_from_object(i, p, features, allow_missing) if type(p) is dict else p
            for i, p in enumerate(points)
        ]
    )
    for i, row in enumerate(rows):
        if type(row) is not list:
            raise _invalid(
                f"point {i}: expected an array of {d} numbers or an object keyed by feature "
                f"name, got {_describe(row)}"
            )
        if len(row) != d:
            raise _invalid(
                f"point {i} has {len(row)} values; the detector expects {d} ({', '.join(features)})"
            )

    if kinds is None:
        kinds = set(map(type, chain.from_iterable(rows)))
    if not kinds <= _NUMBER_TYPES:
        allowed = _NUMBER_TYPES | ({type(None)} if allow_missing else set())
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if type(value) not in allowed:
                    problem = _value_problem(value)
                    if value is None:
                        problem += "; this detector rejects missing values"
                    raise _invalid(f"point {i}, feature `{features[j]}`: {problem}")
    try:
        matrix = np.array(rows, dtype=np.float64)
    except OverflowError:
        raise _invalid("a value is too large for a 64-bit float") from None
    if not np.isfinite(matrix).all() and np.isinf(matrix).any():  # NaN is a missing value
        i, j = np.argwhere(np.isinf(matrix))[0]
        raise _invalid(f"point {i}, feature `{features[j]}`: the value is infinite")
    return matrix


def _plain_matrix(rows: list[list], d: int) -> np.ndarray | None:
    """The matrix of rows that are all lists of d ints and floats, when every value is finite
    and within the float range; else None, and the general path names the problem. Reading the
    values straight into the matrix (np.fromiter) took half of np.array's time for 10,000 points
    (docs/BENCHMARKS.md); it would also take strings and booleans: the caller checks the types.
    """
    try:
        matrix = np.fromiter(chain.from_iterable(rows), np.float64, count=len(rows) * d)
    except OverflowError:
        return None
    if not np.isfinite(matrix).all():
        return None
    return matrix.reshape(len(rows), d)


# Integers beyond this go through the checks below (one beyond the float range is refused there).
_PLAIN_INT = 2**1000


def _plain_row(point, features: list[str]) -> list | None:
    """A lone point's values when they need none of the checks below: every feature present once
    and every value a finite float or an int well within the float range. Else None, and the
    general path takes the point and names any problem. (Per request, that path's set
    operations and numpy checks cost more than the point's row: docs/BENCHMARKS.md.)"""
    d = len(features)
    if type(point) is dict:
        if len(point) != d:
            return None
        point = [point.get(name) for name in features]  # an unknown name leaves a None
    elif type(point) is not list or len(point) != d:
        return None
    for value in point:
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # inf or NaN
                return None
        elif kind is not int or not -_PLAIN_INT < value < _PLAIN_INT:
            return None
    return point


def _row_from_object(i: int, point: dict, features: list[str], allow_missing: bool) -> list:
    if point.keys() != set(features):
        unknown = sorted(point.keys() - set(features))
        if unknown:
            raise _invalid(
                f"point {i}: unknown feature name(s) {', '.join(map(repr, unknown))}; "
                f"the detector's features are {', '.join(features)}"
            )
        if not allow_missing:
            missing = [f for f in features if f not in point]
            raise _invalid(
                f"point {i}: missing feature(s) {', '.join(map(repr, missing))}; "
                "this detector rejects missing values"
            )
    return [point.get(name) for name in features]


def _describe(value) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a string" if isinstance(value, str) else "a number"


def parse_event_time(value, index: int):
    """An event time from ISO 8601 text or Unix seconds; naive times are taken as UTC."""
    if value is None:
        return timezone.now()
    if isinstance(value, bool):
        raise _invalid(f"point {index}: time must be ISO 8601 text or Unix seconds, not a boolean")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _invalid(f"point {index}: time {value!r} is out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _invalid(
                f"point {index}: time {value!r} is not ISO 8601 (e.g. 2026-11-25T12:00:00Z)"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise _invalid(f"point {index}: time must be ISO 8601 text or Unix seconds")
