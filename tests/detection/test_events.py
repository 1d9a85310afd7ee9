"""Live events reach the groups' listeners; with none in this process, no trip to the loop."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer

from detection import events


class _Detector:
    pk, project_id = 7, 3


@pytest.fixture
def layer(monkeypatch) -> InMemoryChannelLayer:
    layer = InMemoryChannelLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    return layer


@pytest.fixture
def trips(monkeypatch) -> list:
    made = []

    def counted(function):
        made.append(function)
        return async_to_sync(function)

    monkeypatch.setattr(events, "async_to_sync", counted)
    return made


def test_a_listener_of_either_group_gets_the_event(layer, trips):
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.project_group(3), channel)
    events.send_detector_event(_Detector(), "points", {"count": 1})
    message = async_to_sync(layer.receive)(channel)
    assert message == {
        "type": "feed.event",
        "payload": {"kind": "points", "detector": 7, "count": 1},
    }
    assert len(trips) == 1


def test_without_listeners_nothing_is_sent(layer, trips):
    other = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.detector_group(8), other)  # another detector's page
    events.send_detector_event(_Detector(), "points", {"count": 1})
    assert trips == []


def test_a_payload_to_make_is_made_only_for_a_listener(layer, trips):
    made = []

    def payload():
        made.append(1)
        return {"count": 2}

    events.send_detector_event(_Detector(), "points", payload)
    assert made == [] and trips == []
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.detector_group(7), channel)
    events.send_detector_event(_Detector(), "points", payload)
    assert made == [1]
    assert async_to_sync(layer.receive)(channel)["payload"] == {
        "kind": "points",
        "detector": 7,
        "count": 2,
    }
