"""The orjson parser and renderer of the scoring endpoints answer as DRF's own JSON classes do."""

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import orjson
import pytest
from django.test import RequestFactory
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.renderers import JSONRenderer

from detection.api.fastjson import FastJSONParser, FastJSONRenderer, FastJSONRequest

CONTEXT = {"encoding": "utf-8"}


def parse(parser, raw: bytes):
    return parser.parse(io.BytesIO(raw), "application/json", CONTEXT)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"point": [20.5, 1000, -5e-3], "persist": true}',
        b'{"points": [{"temp": null}], "x": "caf\xc3\xa9 \\u2028"}',
        b'{"a": 1, "a": 2}',
        b"[1e400, 123456789012345678901234567890]",  # orjson refuses both: stdlib answers
        b'["\\ud800"]',
    ],
)
def test_it_reads_what_drf_reads(raw):
    assert parse(FastJSONParser(), raw) == parse(JSONParser(), raw)


@pytest.mark.parametrize(
    "raw",
    [b'{"point": [NaN, 1, 2]}', b'{"point": [Infinity]}', b'{"point": [1, 2', b"\xff\xfe"],
)
def test_it_refuses_with_drfs_message(raw):
    with pytest.raises(ParseError) as ours:
        parse(FastJSONParser(), raw)
    with pytest.raises(ParseError) as drfs:
        parse(JSONParser(), raw)
    assert str(ours.value.detail) == str(drfs.value.detail)
    assert str(ours.value.detail).startswith("JSON parse error - ")


def test_it_writes_what_drf_writes():
    data = {
        "results": [{"score": 71.234, "band": "major", "is_anomaly": True, "id": 7}],
        "when": datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC),
        "day": date(2026, 3, 1),
        "amount": Decimal("1.50"),
        "array": np.array([1.5, 2.0]),
        "line separator": "a\u2028b\u2029c",
        1: "integer key",
        "empty": None,
    }
    ours, drfs = FastJSONRenderer().render(data), JSONRenderer().render(data)
    assert json.loads(ours) == json.loads(drfs)
    assert b"\\u2028" in ours and b"\\u2029" in ours
    assert b'"2026-03-01T10:00:00.123456Z"' in ours
    assert FastJSONRenderer().render(None) == b""


def test_it_leaves_indented_output_to_drf():
    rendered = FastJSONRenderer().render({"a": [1]}, "application/json; indent=2")
    assert rendered == JSONRenderer().render({"a": [1]}, "application/json; indent=2")


def test_it_copies_pre_encoded_json_compact_and_indented():
    # The scoring answers carry each explanation encoded once, for the database and the answer.
    explanation = {"text": "value of `temp` 45 is far above its usual 18-22", "features": []}
    data = {"results": [{"score": 99.0, "explanation": orjson.Fragment(orjson.dumps(explanation))}]}
    plain = {"results": [{"score": 99.0, "explanation": explanation}]}
    assert FastJSONRenderer().render(data) == JSONRenderer().render(plain)
    indented = FastJSONRenderer().render(data, "application/json; indent=2")
    assert indented == JSONRenderer().render(plain, "application/json; indent=2")


def _request(body: bytes, content_type: str, parsers=None) -> FastJSONRequest:
    django_request = RequestFactory().post("/", data=body, content_type=content_type)
    return FastJSONRequest(django_request, parsers=parsers or [FastJSONParser(), FormParser()])


@pytest.mark.parametrize(
    "raw",
    [b'{"point": [20.5, 1000, -5e-3], "persist": true}', b'{"a": 1, "a": 2}', b"[1, 2]"],
)
def test_a_plain_json_body_is_read_without_the_parser(raw, monkeypatch):
    expected = parse(JSONParser(), raw)
    monkeypatch.setattr(FastJSONParser, "parse", _no_parser_call)
    request = _request(raw, "application/json")
    assert request.data == expected
    assert not request.FILES


def _no_parser_call(*args, **kwargs):
    raise AssertionError("the parser was called")


@pytest.mark.parametrize("raw", [b'{"point": [NaN]}', b'{"point": [1, 2', b"\xff\xfe"])
def test_a_refused_body_gets_drfs_message(raw):
    with pytest.raises(ParseError) as ours:
        _ = _request(raw, "application/json").data
    with pytest.raises(ParseError) as drfs:
        parse(JSONParser(), raw)
    assert str(ours.value.detail) == str(drfs.value.detail)


def test_an_empty_body_is_an_empty_object_as_in_drf():
    assert _request(b"", "application/json").data == {}


def test_other_bodies_take_drfs_negotiation(monkeypatch):
    # A charset parameter, or a view whose first parser is not ours: DRF picks the parser.
    calls = []
    original = FastJSONParser.parse
    monkeypatch.setattr(
        FastJSONParser, "parse", lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
    )
    assert _request(b'{"a": 1}', "application/json; charset=utf-8").data == {"a": 1}
    assert calls == [1]
    with pytest.raises(UnsupportedMediaType):
        _ = _request(b'{"a": 1}', "application/json", parsers=[FormParser()]).data
