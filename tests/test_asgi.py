"""HTTP through the ASGI application that uvicorn serves: every middleware still runs, in one
thread switch for the whole request (Django's own handler switches twice per middleware), on
request threads that are kept for later requests."""

import asyncio
import io
import json
import os
import threading
from pathlib import Path

import pytest
from asgiref import sync
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.conf import settings
from django.core.signals import request_started
from django.db import connection

from anomaly_project import asgi
from anomaly_project.asgi import application
from detection import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def switches(monkeypatch) -> list[str]:
    """The functions that each sync_to_async call runs, by name."""
    names: list[str] = []
    original = sync.SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        names.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    return names


def _token(user) -> str:
    try:
        return services.api_token_create(user=user).key
    finally:
        connection.close()  # sync_to_async's thread outlives the test, and so would its connection


async def test_it_answers_an_api_call_through_every_middleware(alice, project, switches):
    key = await sync_to_async(_token)(alice)
    response = await HttpCommunicator(
        application,
        "GET",
        "/api/v1/projects/",
        headers=[(b"host", b"localhost"), (b"authorization", f"Token {key}".encode())],
    ).get_response()
    assert response["status"] == 200
    assert [p["name"] for p in json.loads(response["body"])] == ["Alice's plant"]
    headers = {name.lower(): value for name, value in response["headers"]}
    assert headers[b"x-frame-options"] == b"DENY"  # XFrameOptionsMiddleware
    assert b"content-security-policy" in headers  # ContentSecurityPolicyMiddleware
    assert headers[b"vary"]  # HtmxMiddleware, CORS and auth vary the response
    # request_started, the chain and response.close, all in one switch
    assert switches[1:] == ["SyncChainASGIHandler._respond"], switches  # [0]: _token


def _get(path: str, key: str | None = None) -> HttpCommunicator:
    headers = [(b"host", b"localhost")]
    if key:
        headers.append((b"authorization", f"Token {key}".encode()))
    return HttpCommunicator(application, "GET", path, headers=headers)


@pytest.fixture
def request_threads():
    """The thread each request's sync work starts in, in the order the requests start."""
    threads: list[threading.Thread] = []

    def started(**kwargs):
        threads.append(threading.current_thread())

    request_started.connect(started)
    yield threads
    request_started.disconnect(started)


async def test_later_requests_run_on_a_kept_thread(alice, project, request_threads):
    # Django starts a thread per request, and each new thread opens a new database connection.
    key = await sync_to_async(_token)(alice)
    for _ in range(3):
        assert (await _get("/api/v1/projects/", key).get_response())["status"] == 200
    assert len(request_threads) == 3
    assert len(set(request_threads)) == 1, request_threads
    assert request_threads[0] is not threading.current_thread()  # not the event loop's


async def test_requests_at_the_same_time_run_on_threads_of_their_own(request_threads, monkeypatch):
    # Each request waits in request_started until the other has started too: run one after
    # the other on a shared thread, the first would wait in vain.
    both_started = threading.Barrier(2, timeout=10)
    monkeypatch.setattr(asgi, "KEEP_THREADS", 1)
    handler = application.application_mapping["http"]
    handler._idle_threads.clear()

    def wait_for_the_other(**kwargs):
        both_started.wait()

    request_started.connect(wait_for_the_other)
    try:
        first, second = await asyncio.gather(
            _get("/login/").get_response(timeout=15), _get("/login/").get_response(timeout=15)
        )
    finally:
        request_started.disconnect(wait_for_the_other)
    assert (first["status"], second["status"]) == (200, 200)
    assert len(set(request_threads)) == 2
    # One thread is kept; the other (past KEEP_THREADS) ends after its request.
    assert len(handler._idle_threads) == 1
    await asyncio.sleep(0.5)
    assert sum(thread.is_alive() for thread in request_threads) == 1


async def test_a_streamed_answer_is_sent_whole(request_threads):
    # A static file is a FileResponse: streamed after the switch, then closed.
    path = "vendor/htmx-2.0.11/htmx.min.js"
    communicator = _get(settings.STATIC_URL + path)  # its get_response() wants a body each time
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(10)
    body, more = b"", True
    while more:
        message = await communicator.receive_output(10)
        body += message.get("body", b"")
        more = message.get("more_body", False)
    assert start["status"] == 200
    assert body == (Path(settings.STATICFILES_DIRS[0]) / path).read_bytes()
    assert len(request_threads) == 1



@pytest.mark.skipif(
    os.environ.get("TEST_TIER") != "scale",
    reason="Django never closes the in-memory SQLite database of the tests",
)
async def test_it_closes_the_request_threads_database_connection_with_the_answer(alice, project):
    # Django closes connections on request_finished, sent after the answer from the event loop.
    # A client that leaves early makes that send fail ("CurrentThreadExecutor already quit")
    # now and then, and each time a pooled connection was lost until the pool ran dry (seen
    # as 500s in bench/api.py after wrk runs). The request's own thread now closes them.
    key = await sync_to_async(_token)(alice)
    handler = application.application_mapping["http"]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/projects/",
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"authorization", f"Token {key}".encode())],
    }
    used = []

    def answer_in_a_new_thread():
        response = handler._respond(scope, io.BytesIO())
        used.append((response.status_code, connection.connection))

    thread = threading.Thread(target=answer_in_a_new_thread)
    thread.start()
    thread.join(10)
    assert used and used[0] == (200, None), "the request's connection stayed open"


def test_the_young_generation_is_collected_less_often():
    # Set when the application is imported (as uvicorn does): see anomaly_project/asgi.py.
    import gc

    assert gc.get_threshold()[0] == asgi.YOUNG_GC_THRESHOLD > 700
