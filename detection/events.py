"""Live events to the dashboard through the channel layer.

Groups: one per detector and one per project. Senders call these after their data is committed
(directly from autocommit code, or through `on_commit`). On the embedded tier the in-memory layer
reaches only consumers in this same process; a worker's events reach pages through the database.
"""

import logging
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def detector_group(detector_id: int) -> str:
    return f"detector-{detector_id}"


def project_group(project_id: int) -> str:
    return f"project-{project_id}"


def send_detector_event(detector, kind: str, payload: dict | Callable[[], dict]) -> None:
    """Send {"kind", "detector", ...payload} to the detector's and the project's groups. A
    callable payload is made only when the event is sent."""
    layer = get_channel_layer()
    if layer is None:
        return
    groups = (detector_group(detector.pk), project_group(detector.project_id))
    if _nobody_listens(layer, groups):
        return
    if callable(payload):
        payload = payload()
    message = {"type": "feed.event", "payload": {"kind": kind, "detector": detector.pk, **payload}}
    try:
        async_to_sync(_group_send_all)(layer, groups, message)
    except Exception:  # a live update must never break the write that caused it
        logger.warning(
            "could not send a %s event for detector %s", kind, detector.pk, exc_info=True
        )


def _nobody_listens(layer, groups: tuple[str, ...]) -> bool:
    """The in-memory layer's listeners are all in this process, so it knows when there are none,
    and the trip to the event loop (a third of a stored point's own time) can be left out."""
    return isinstance(layer, InMemoryChannelLayer) and not any(
        layer.groups.get(group) for group in groups
    )


async def _group_send_all(layer, groups: tuple[str, ...], message: dict) -> None:
    # One trip from sync code to the event loop for all groups: each trip costs a thread hop.
    for group in groups:
        await layer.group_send(group, message)


def send_detector_event_on_commit(
    detector, kind: str, payload: dict | Callable[[], dict]
) -> None:
    transaction.on_commit(lambda: send_detector_event(detector, kind, payload))
