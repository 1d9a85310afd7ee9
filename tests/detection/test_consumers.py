"""The project feed over a real WebSocket handshake through the ASGI application."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from anomaly_project.asgi import application
from detection.consumers import CLOSE_FORBIDDEN, project_group

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


async def _connect(path: str, user=None) -> tuple[WebsocketCommunicator, bool, int | None]:
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(_session_cookie)(user)))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_it_refuses_anonymous_connections(project):
    communicator, connected, code = await _connect(f"/ws/projects/{project.pk}/")
    assert not connected
    assert code == CLOSE_FORBIDDEN


async def test_it_refuses_non_members(project, charlie):
    communicator, connected, code = await _connect(f"/ws/projects/{project.pk}/", charlie)
    assert not connected
    assert code == CLOSE_FORBIDDEN


async def test_it_refuses_a_foreign_origin(project, alice):
    cookie = await sync_to_async(_session_cookie)(alice)
    communicator = WebsocketCommunicator(
        application,
        f"/ws/projects/{project.pk}/",
        headers=[(b"origin", b"http://evil.example"), (b"cookie", cookie)],
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_it_delivers_project_events_to_members_only(project, alice, bob):
    alice_socket, alice_connected, _ = await _connect(f"/ws/projects/{project.pk}/", alice)
    bob_socket, bob_connected, _ = await _connect(f"/ws/projects/{project.pk}/", bob)
    assert alice_connected and bob_connected

    payload = {"kind": "hello", "project": project.pk}
    await get_channel_layer().group_send(
        project_group(project.pk), {"type": "feed.event", "payload": payload}
    )
    assert await alice_socket.receive_json_from(timeout=2) == payload
    assert await bob_socket.receive_json_from(timeout=2) == payload

    await get_channel_layer().group_send(
        project_group(project.pk + 1000), {"type": "feed.event", "payload": {"kind": "other"}}
    )
    assert await alice_socket.receive_nothing(timeout=0.2)
    await alice_socket.disconnect()
    await bob_socket.disconnect()
