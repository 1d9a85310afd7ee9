"""DRF's JSON parser and renderer on orjson, for the endpoints that move thousands of points.

Answers are the same as DRF's own classes give, several times faster on large bodies:
  - parsing: orjson first; on any input it refuses (bad syntax, NaN/Infinity, 1e400, a BOM,
    invalid UTF-8, ...) DRF's stdlib parser runs on the same bytes, so an accepted body gives the
    same data (orjson reads integers beyond 64 bits as floats; points become floats anyway) and a
    refused one the usual "JSON parse error - ..." naming the problem;
  - a body sent as plain `application/json` (the scoring endpoints' every request) goes to orjson
    straight from the view's request, without DRF's parser negotiation and stream (FastJSONRequest);
    anything else, or a body orjson refuses, takes DRF's path with the parser above;
  - rendering: compact UTF-8 like DRF's defaults (COMPACT_JSON, UNICODE_JSON), U+2028/U+2029
    escaped as DRF does, datetimes, decimals and other types through DRF's own encoder. An
    `indent` asked for in the Accept header goes to DRF's renderer. Values may be orjson.Fragment
    (JSON encoded earlier, copied as is).
"""

import io

import orjson
from django.conf import settings
from django.http import RawPostDataException
from django.utils.datastructures import MultiValueDict
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Empty, Request
from rest_framework.utils.encoders import JSONEncoder

from detection.api.renderers import CspAwareBrowsableAPIRenderer

_UTF8 = {"utf-8", "utf8"}
_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_SERIALIZE_NUMPY
    | orjson.OPT_PASSTHROUGH_DATETIME  # DRF writes "...Z" for UTC; its encoder does these
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


class FastJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        if encoding.lower() not in _UTF8:
            return super().parse(stream, media_type, parser_context)
        raw = stream.read()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return super().parse(io.BytesIO(raw), media_type, parser_context)


class FastJSONRenderer(JSONRenderer):
    _default = JSONEncoder().default

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        out = orjson.dumps(data, default=self._default, option=_OPTIONS)
        if self.get_indent(accepted_media_type or "", renderer_context or {}):
            # Through DRF's renderer for the layout; the round trip decodes orjson.Fragment
            # values (pre-encoded JSON), which the standard library cannot write.
            return super().render(orjson.loads(out), accepted_media_type, renderer_context)
        # As DRF: U+2028/U+2029 escaped (safe inside <script>). Both start with the byte E2,
        # which a byte search (memchr) rules out in a 5 MB ASCII answer 10x faster than the two
        # 3-byte searches.
        if b"\xe2" in out and (b"\xe2\x80\xa8" in out or b"\xe2\x80\xa9" in out):
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out


class FastJSONRequest(Request):
    """DRF's request, reading a plain `application/json` body with orjson directly when the
    view's first parser is FastJSONParser (the one DRF would pick): the same data, and 11-17 us
    less of a one-point scoring request than DRF's negotiation, stream and parser calls
    (docs/BENCHMARKS.md, 2026-12-03 midday)."""

    def _load_data_and_files(self):
        if (
            self._data is Empty
            and self.content_type == "application/json"
            and self.parsers
            and type(self.parsers[0]) is FastJSONParser
            and self.parser_context["encoding"].lower() in _UTF8
        ):
            try:
                data = orjson.loads(self._request.body)
            except (orjson.JSONDecodeError, RawPostDataException):
                pass  # an empty or refused body, or a stream read already: DRF's path answers
            else:
                self._data = self._full_data = data
                self._files = MultiValueDict()
                return
        super()._load_data_and_files()


class FastJSONMixin:
    """An APIView mixin: the default parsers and renderers with JSON on orjson."""

    parser_classes = [FastJSONParser, FormParser, MultiPartParser]
    renderer_classes = [FastJSONRenderer, CspAwareBrowsableAPIRenderer]

    def initialize_request(self, request, *args, **kwargs):
        # APIView.initialize_request, with FastJSONRequest for DRF's Request.
        return FastJSONRequest(
            request,
            parsers=self.get_parsers(),
            authenticators=self.get_authenticators(),
            negotiator=self.get_content_negotiator(),
            parser_context=self.get_parser_context(request),
        )
