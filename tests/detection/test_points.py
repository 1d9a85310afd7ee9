"""points_matrix: its shortcuts (a lone point, a batch of plain arrays) give what the general path
gives, value or error."""

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


POINTS = [
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
    [[1.0], 2.0, 3.0],
]


def _general(points_list, allow_missing, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(points, "_plain_matrix", lambda rows, d: None)
        return _outcome(lambda: points_matrix(points_list, FEATURES, allow_missing=allow_missing))


@pytest.mark.parametrize("allow_missing", [False, True])
@pytest.mark.parametrize("point", POINTS)
def test_a_lone_point_gets_the_general_answer(point, allow_missing, monkeypatch):
    # With two points the general path runs; its first answer is the lone point's.
    lone = _outcome(lambda: points_matrix([point], FEATURES, allow_missing=allow_missing))
    pair = _general([point, point], allow_missing, monkeypatch)
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


@pytest.mark.parametrize("allow_missing", [False, True])
@pytest.mark.parametrize("point", POINTS)
def test_a_batch_gets_the_general_answer(point, allow_missing, monkeypatch):
    batch = [[20.5, 1000, -0.005], point, [1, 2, 3]]
    got = _outcome(lambda: points_matrix(batch, FEATURES, allow_missing=allow_missing))
    general = _general(batch, allow_missing, monkeypatch)
    assert got[0] == general[0]
    if got[0] == "ok":  # NaN marks a missing value: equal here, not in a list's ==
        np.testing.assert_array_equal(np.array(got[1]), np.array(general[1]))
    else:
        assert got[1] == general[1]


def test_a_batch_of_plain_arrays_skips_the_general_checks(monkeypatch):
    def general(*args, **kwargs):
        raise AssertionError("the general path ran")

    monkeypatch.setattr(points.np, "array", general)
    monkeypatch.setattr(points, "_value_problem", general)
    matrix = points_matrix([[1.0, 2, 3.5], [4, 5.5, 6]], FEATURES, allow_missing=False)
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[1.0, 2.0, 3.5], [4.0, 5.5, 6.0]]
