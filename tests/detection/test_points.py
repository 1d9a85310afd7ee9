"""points_matrix: a lone point's shortcut gives what the general path gives, value or error."""

import math

import numpy as np
import pytest
from rest_framework.exceptions import ValidationError

from detection.services import points
from detection.services.points import points_matrix

FEATURES = ["temp", "pressure", "flow"]


def _outcome(call):
    try:
        return "ok", call().tolist()
    except ValidationError as error:
        return "error", error.detail


@pytest.mark.parametrize("allow_missing", [False, True])
@pytest.mark.parametrize(
    "point",
    [
        {"temp": 20.5, "pressure": 1000, "flow": -5e-3},
        {"flow": 1.0, "temp": 2.0, "pressure": 3.0},  # any key order
        [20.5, 1000, -0.005],
        [1, 2, 3],
        [2**1000, 1.0, 2.0],  # an int at the edge: the general path converts it
        [10**400, 1.0, 2.0],  # beyond the float range
        [math.inf, 1.0, 2.0],
        [-math.inf, 1.0, 2.0],
        [math.nan, 1.0, 2.0],
        [True, 1.0, 2.0],
        ["1.5", 1.0, 2.0],
        [None, 1.0, 2.0],
        [1.0, 2.0],
        [1.0, 2.0, 3.0, 4.0],
        {"temp": 1.0, "pressure": 2.0},
        {"temp": 1.0, "pressure": 2.0, "flow": 3.0, "speed": 4.0},
        {"temp": 1.0, "pressure": 2.0, "speed": 4.0},
        {"temp": 1.0, "pressure": None, "flow": 3.0},
        "1,2,3",
        None,
    ],
)
def test_a_lone_point_gets_the_general_answer(point, allow_missing):
    # With two points the general path runs; its first answer is the lone point's.
    lone = _outcome(lambda: points_matrix([point], FEATURES, allow_missing=allow_missing))
    pair = _outcome(lambda: points_matrix([point, point], FEATURES, allow_missing=allow_missing))
    if pair[0] == "ok":
        pair = ("ok", pair[1][:1])
    assert lone[0] == pair[0]
    if lone[0] == "ok":
        np.testing.assert_array_equal(np.array(lone[1]), np.array(pair[1]))
    else:
        assert lone[1] == pair[1]


def test_a_plain_lone_point_skips_the_general_checks(monkeypatch):
    def general(*args):
        raise AssertionError("the general path ran")

    monkeypatch.setattr(points, "_row_from_object", general)
    monkeypatch.setattr(points, "chain", general)
    matrix = points_matrix(
        [{"temp": 1.0, "pressure": 2, "flow": 3.5}], FEATURES, allow_missing=False
    )
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[1.0, 2.0, 3.5]]
