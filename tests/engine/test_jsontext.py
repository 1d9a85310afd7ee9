"""Rows of JSON text built column by column are what orjson writes for the same dicts."""

import numpy as np
import orjson
import pytest

from detection.engine import jsontext


def test_it_encodes_each_item_of_a_column_as_orjson_would():
    column = np.array([0.1, -0.0, 1e-7, 123456789.125, 1e300, 20.0, -3.5], dtype=object)
    column[2] = None
    texts = jsontext.numbers(column)
    assert texts == [orjson.dumps(v).decode() for v in column.tolist()]
    assert jsontext.numbers(np.array([True, False])) == ["true", "false"]
    assert jsontext.numbers(np.array([], dtype=float)) == []


def test_it_builds_objects_equal_to_orjson_dicts():
    keys = ["plain", 'with "quotes"', "back\\slash", "new\nline", "température"]
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(50, len(keys))) * 10.0 ** rng.integers(-5, 8, size=(50, 1))
    rows = jsontext.objects(keys, [jsontext.numbers(matrix[:, j]) for j in range(len(keys))])
    expected = [orjson.dumps(dict(zip(keys, row, strict=True))).decode() for row in matrix.tolist()]
    assert rows == expected
    assert [orjson.loads(r) for r in rows] == [
        dict(zip(keys, row, strict=True)) for row in matrix.tolist()
    ]


def test_it_refuses_columns_of_different_lengths():
    with pytest.raises(ValueError, match="different lengths"):
        jsontext.join_rows(["[", ["1", "2"], ",", ["3"], "]"])
    with pytest.raises(ValueError, match="2 keys for 1 columns"):
        jsontext.objects(["a", "b"], [["1"]])


def test_escaped_pieces_join_into_one_string():
    parts = ['value of `a"b` ', "9.3", " is far above\\ its usual"]
    joined = '"' + "".join(jsontext.inner(p) for p in parts) + '"'
    assert orjson.loads(joined) == "".join(parts)
