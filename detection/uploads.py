"""Uploads streamed to a temporary file on disk, with the size limit enforced while they arrive.

A view installs `LimitedUploadHandler` before the request body is parsed (see `limit_upload`), reads
`request.data`, then calls `raise_if_too_large`. An upload whose Content-Length already says it is
too big is not read at all; one without a trustworthy length is cut off at the first chunk past the
limit and its temporary file removed. Either way the client gets a 413 naming the limit.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from rest_framework import status
from rest_framework.exceptions import APIException

# Room for the multipart boundaries, part headers and the small form fields next to the file.
FORM_ALLOWANCE = 64 * 1024


def human_size(size: int) -> str:
    """1536 -> '1.5 KB', 200 MiB -> '200 MB' (binary units, as DATASET_MAX_UPLOAD_MB counts)."""
    if size < 1024:
        return f"{size} bytes"
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            value = f"{size / scale:.1f}".removesuffix(".0")
            return f"{value} {unit}"
    raise AssertionError("unreachable")


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The file is too large."


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Write each uploaded file to a temporary file; stop once it passes `limit` bytes."""

    def __init__(self, request: HttpRequest | None = None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.too_large = False
        # The whole request's length (FileUploadHandler keeps the file part's as content_length).
        self.request_length: int | None = None
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.request_length = content_length
        if content_length is not None and content_length > self.limit + FORM_ALLOWANCE:
            # Refuse without reading a byte of the body.
            self.too_large = True
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def new_file(self, *args, **kwargs):
        self.received = 0
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large = True
            # The parser closes (and so deletes) the temporary file and reads no further.
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)

    def message(self) -> str:
        if self.request_length:
            size = human_size(self.request_length)
        else:
            size = f"larger than {human_size(self.limit)}"
        return f"The file is {size}; the limit is {human_size(self.limit)} (DATASET_MAX_UPLOAD_MB)."


def limit_upload(request: HttpRequest, limit: int | None = None) -> LimitedUploadHandler:
    """Install the handler on a Django request whose body has not been parsed yet."""
    handler = LimitedUploadHandler(request, limit=limit or settings.DATASET_MAX_UPLOAD_BYTES)
    request.upload_handlers = [handler]
    return handler


def raise_if_too_large(request) -> None:
    """After `request.data` (or `request.FILES`) was read: a 413 if the upload passed the limit."""
    for handler in request.upload_handlers:
        if isinstance(handler, LimitedUploadHandler) and handler.too_large:
            raise UploadTooLarge(handler.message())


@contextmanager
def local_path(uploaded_file: File) -> Iterator[str]:
    """A path on local disk holding the file's bytes: the upload's own temporary file when it has
    one, the file itself when it is a local file, else a copy made chunk by chunk."""
    if hasattr(uploaded_file, "temporary_file_path"):
        yield uploaded_file.temporary_file_path()
        return
    raw_name = getattr(getattr(uploaded_file, "file", None), "name", None)
    if isinstance(raw_name, str) and os.path.isfile(raw_name):
        yield raw_name
        return
    suffix = Path(uploaded_file.name or "").suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy:
        for chunk in uploaded_file.chunks():
            copy.write(chunk)
        copy.flush()
        yield copy.name
