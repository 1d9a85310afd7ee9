"""The live feeds over real WebSocket handshakes through the ASGI application: who may connect,
and where a point ingested through the API goes (and where it does not)."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from anomaly_project.asgi import application
from detection import services
from detection.consumers import CLOSE_FORBIDDEN, project_group
from tests.detection.conftest import FEATURES, readings_csv

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")
NORMAL = {"temp": 20.1, "pressure": 1000.3, "flow": 5.0}
HOT = {"temp": 45.0, "pressure": 1000.3, "flow": 5.0}


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


def _trained(project, user, name: str):
    """A detector with a quick algorithm, trained in this process."""
    dataset = services.dataset_create(
        project=project,
        user=user,
        uploaded_file=SimpleUploadedFile("plant.csv", readings_csv(), content_type="text/csv"),
    )
    detector = services.detector_create(
        project=project,
        user=user,
        name=name,
        dataset=dataset,
        features=FEATURES,
        algorithm="robust_z",
    )
    version = services.detector_train(detector=detector, enqueue=False)
    services.model_version_run(version_id=version.pk)
    detector.refresh_from_db()
    return detector


@pytest.fixture
def hall(project, alice, media, eager_celery):
    return _trained(project, alice, "Hall 3")


@pytest.fixture
def charlies_line(charlie, media, eager_celery):
    project = services.project_create(owner=charlie, name="Charlie's line")
    return _trained(project, charlie, "Line 1")


def _stream(user, detector, *points) -> dict:
    """Points ingested through the API, as a script would send them (the broadcast runs on
    commit: these tests run outside a transaction)."""
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("api-stream", args=[detector.pk]),
        {"points": [{"values": values} for values in points]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


stream = sync_to_async(_stream)


# --- Who may connect ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["projects", "detectors", "overview"])
async def test_it_refuses_anonymous_connections(kind, hall):
    path = "/ws/overview/" if kind == "overview" else f"/ws/{kind}/{hall.project_id}/"
    if kind == "detectors":
        path = f"/ws/detectors/{hall.pk}/"
    communicator, connected, code = await _connect(path)
    assert not connected
    assert code == CLOSE_FORBIDDEN


@pytest.mark.parametrize("kind", ["projects", "detectors"])
async def test_it_refuses_non_members(kind, hall, charlie):
    target = hall.project_id if kind == "projects" else hall.pk
    communicator, connected, code = await _connect(f"/ws/{kind}/{target}/", charlie)
    assert not connected
    assert code == CLOSE_FORBIDDEN


async def test_it_refuses_a_detector_that_does_not_exist(alice):
    communicator, connected, code = await _connect("/ws/detectors/999999/", alice)
    assert not connected and code == CLOSE_FORBIDDEN


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


# --- Where an ingested point goes --------------------------------------------------------------


async def test_it_pushes_a_point_ingested_through_the_api_to_the_detector_page(
    hall, alice, bob, charlies_line, charlie
):
    alice_socket, connected, _ = await _connect(f"/ws/detectors/{hall.pk}/", alice)
    bob_socket, bob_connected, _ = await _connect(f"/ws/detectors/{hall.pk}/", bob)
    charlie_socket, charlie_connected, _ = await _connect(
        f"/ws/detectors/{charlies_line.pk}/", charlie
    )
    assert connected and bob_connected and charlie_connected

    answer = await stream(alice, hall, NORMAL, HOT)
    hot_id = answer["results"][1]["id"]
    message = await alice_socket.receive_json_from(timeout=2)
    assert message["kind"] == "points" and message["detector"] == hall.pk
    assert message["count"] == 2 and message["anomalies"] == 1
    assert [p["id"] for p in message["points"]] == [r["id"] for r in answer["results"]]
    assert message["points"][1]["is_anomaly"] is True
    # The new anomaly comes as the table's row partial, to put on top of the table.
    html = message["html"]
    assert 'hx-swap-oob="afterbegin:#anomaly-rows"' in html
    assert f'<tr id="point-{hot_id}" class="anomaly-row">' in html
    assert "<code>temp</code>" in html
    assert "disabled" not in html  # alice may label
    bob_message = await bob_socket.receive_json_from(timeout=2)
    assert bob_message["points"] == message["points"]
    assert 'aria-pressed="false" disabled' in bob_message["html"]  # bob may not

    # Charlie's own detector hears nothing of alice's points ...
    assert await charlie_socket.receive_nothing(timeout=0.2)
    # ... and alice's page nothing of his.
    await stream(charlie, charlies_line, HOT)
    assert (await charlie_socket.receive_json_from(timeout=2))["detector"] == charlies_line.pk
    assert await alice_socket.receive_nothing(timeout=0.2)
    for socket in (alice_socket, bob_socket, charlie_socket):
        await socket.disconnect()


async def test_it_sends_raw_values_when_the_page_asks(hall, alice):
    socket, connected, _ = await _connect(f"/ws/detectors/{hall.pk}/", alice)
    assert connected
    await socket.send_json_to({"raw": ["flow", "temp", "not-a-feature"]})
    await socket.receive_nothing(timeout=0.1)  # let the consumer take it in
    answer = await stream(alice, hall, NORMAL)
    message = await socket.receive_json_from(timeout=2)
    assert message["raw"] == ["flow", "temp"]
    assert message["values"] == {str(answer["results"][0]["id"]): [5.0, 20.1]}
    assert "html" not in message  # no anomaly, no row
    await socket.disconnect()


async def test_it_pushes_a_label_to_the_other_viewers(hall, alice, bob):
    answer = await stream(alice, hall, HOT)
    point_id = answer["results"][0]["id"]
    socket, connected, _ = await _connect(f"/ws/detectors/{hall.pk}/", bob)
    assert connected

    def label():
        client = Client()
        client.force_login(alice)
        url = reverse("point-label", args=[point_id])
        response = client.post(url, {"label": "anomaly"}, headers={"HX-Request": "true"})
        assert response.status_code == 200

    await sync_to_async(label)()
    message = await socket.receive_json_from(timeout=2)
    assert message["kind"] == "label" and message["label"] == "anomaly"
    assert f'<tr id="point-{point_id}" class="anomaly-row" hx-swap-oob="true">' in message["html"]
    assert 'class="label-anomaly" aria-pressed="true" disabled' in message["html"]
    await socket.disconnect()


async def test_it_pushes_training_progress_as_the_versions_partial(hall, alice):
    socket, connected, _ = await _connect(f"/ws/detectors/{hall.pk}/", alice)
    assert connected

    def train():
        version = services.detector_train(detector=hall, enqueue=False)
        services.model_version_run(version_id=version.pk)

    await sync_to_async(train)()
    seen = []
    while True:
        message = await socket.receive_json_from(timeout=2)
        assert message["kind"] == "training"
        seen.append(message["status"])
        if message["status"] == "ready":
            break
    assert '<section class="card" id="versions"' in message["html"]
    assert 'hx-swap-oob="true"' in message["html"]
    assert 'id="detector-state" hx-swap-oob="true">Ready (v2)' in message["html"]
    await socket.disconnect()


async def test_it_feeds_the_overview_with_anomalies_of_the_users_projects(
    hall, alice, charlies_line, charlie
):
    alice_socket, connected, _ = await _connect("/ws/overview/", alice)
    charlie_socket, charlie_connected, _ = await _connect("/ws/overview/", charlie)
    assert connected and charlie_connected

    answer = await stream(alice, hall, NORMAL, HOT)
    message = await alice_socket.receive_json_from(timeout=2)
    assert message["kind"] == "points" and message["anomalies"] == 1
    assert "points" not in message  # the overview has no chart
    assert 'hx-swap-oob="afterbegin:#anomaly-feed"' in message["html"]
    assert f'id="feed-{answer["results"][1]["id"]}"' in message["html"]
    assert "Hall 3" in message["html"]
    assert await charlie_socket.receive_nothing(timeout=0.2)

    await stream(alice, hall, NORMAL)
    quiet = await alice_socket.receive_json_from(timeout=2)
    assert quiet["anomalies"] == 0 and "html" not in quiet
    await alice_socket.disconnect()
    await charlie_socket.disconnect()


async def test_it_reaches_the_project_feed_of_members_only(hall, alice, charlies_line, charlie):
    alice_socket, connected, _ = await _connect(f"/ws/projects/{hall.project_id}/", alice)
    assert connected
    await stream(charlie, charlies_line, HOT)
    assert await alice_socket.receive_nothing(timeout=0.2)
    await stream(alice, hall, HOT)
    message = await alice_socket.receive_json_from(timeout=2)
    assert message["kind"] == "points" and message["detector"] == hall.pk
    await alice_socket.disconnect()
