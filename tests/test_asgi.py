"""HTTP through the ASGI application that uvicorn serves: every middleware still runs, in one
thread switch for the whole chain (Django's own handler switches twice per middleware)."""

import json
import os
import threading

import pytest
from asgiref import sync
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.db import connection
from django.test import RequestFactory

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
    assert not [name for name in switches if "process_" in name], switches
    assert len(switches) <= 3, switches  # request_started, the chain, response.close



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
    request = RequestFactory().get(
        "/api/v1/projects/", headers={"authorization": f"Token {key}"}
    )
    used = []

    def answer_in_a_new_thread():
        response = handler._respond(request)
        used.append((response.status_code, connection.connection))

    thread = threading.Thread(target=answer_in_a_new_thread)
    thread.start()
    thread.join(10)
    assert used and used[0] == (200, None), "the request's connection stayed open"
