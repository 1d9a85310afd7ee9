"""WebSocket consumers, one per kind of screen. Each checks membership on connect through
detection.access and closes with 4403 when the user may not read.

Messages are JSON: the event's payload ({"kind", "detector", ...}) as detection.events sends it,
plus `html` where the screen has a partial to swap in (the same `{% partialdef %}` the page and
its HTMX requests render, marked `hx-swap-oob`). static/js/live.js swaps the html and hands the
rest to the page's script (the chart).
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.template.loader import render_to_string

from detection import selectors
from detection.access import can_read, membership_for, projects_for
from detection.events import detector_group, project_group
from detection.models import Detector

# Close code for a refused connection (4000-4999 are free for applications); 4403 reads as "403".
CLOSE_FORBIDDEN = 4403
DETECTOR_TEMPLATE = "detection/detector_detail.html"
OVERVIEW_TEMPLATE = "detection/overview.html"


def _authenticated(scope) -> bool:
    user = scope.get("user")
    return user is not None and user.is_authenticated


def _anomaly_ids(payload: dict) -> list[int]:
    return [p["id"] for p in payload.get("points") or [] if p.get("is_anomaly")]


class ProjectFeedConsumer(AsyncJsonWebsocketConsumer):
    """Live events of one project (points, alerts, training progress) for its members: the
    project page refreshes its detector table from them."""

    async def connect(self):
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        if not _authenticated(self.scope) or not await database_sync_to_async(can_read)(
            self.scope["user"], self.project_id
        ):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = project_group(self.project_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def feed_event(self, event):
        await self.send_json(event["payload"])


class OverviewConsumer(AsyncJsonWebsocketConsumer):
    """The overview's live feed: anomalies of every project the user is a member of (as of
    connecting), pushed as feed items."""

    async def connect(self):
        if not _authenticated(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.groups_joined = [
            project_group(pk)
            for pk in await database_sync_to_async(_project_ids)(self.scope["user"])
        ]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def feed_event(self, event):
        payload = event["payload"]
        message = {k: v for k, v in payload.items() if k != "points"}
        ids = _anomaly_ids(payload) if payload.get("kind") == "points" else []
        if ids:
            message["html"] = await database_sync_to_async(_render_feed)(ids)
        await self.send_json(message)


def _project_ids(user) -> list[int]:
    return list(projects_for(user).values_list("pk", flat=True))


def _render_feed(ids: list[int]) -> str:
    points = selectors.feed_points(ids)
    return render_to_string(f"{OVERVIEW_TEMPLATE}#feed-push", {"feed": points})


class DetectorConsumer(AsyncJsonWebsocketConsumer):
    """One detector's page: points for the chart (JSON), new anomalies as table rows, label
    changes and training progress as their partials.

    The client may send {"raw": ["cpu", ...]} to get those features' raw values with each batch
    of points (the chart's "raw values" toggle), and {"raw": []} to stop.
    """

    async def connect(self):
        self.detector_id = int(self.scope["url_route"]["kwargs"]["detector_id"])
        membership = None
        if _authenticated(self.scope):
            membership = await database_sync_to_async(_detector_membership)(
                self.scope["user"], self.detector_id
            )
        if membership is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.can_write = membership.can_write
        self.raw: list[str] = []
        self.group = detector_group(self.detector_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and isinstance(content.get("raw"), list):
            wanted = [name for name in content["raw"] if isinstance(name, str)]
            features = await database_sync_to_async(_detector_features)(self.detector_id)
            self.raw = [name for name in wanted if name in features][: selectors.RAW_FEATURES]

    async def feed_event(self, event):
        payload = event["payload"]
        if self._has_more(payload):  # most batches of points are plain JSON: no thread hop
            extra = await database_sync_to_async(self._extra)(payload)
            payload = {**payload, **extra}
        await self.send_json(payload)

    def _has_more(self, payload: dict) -> bool:
        kind = payload.get("kind")
        if kind == "points":
            return bool(self.raw or payload.get("anomalies"))
        return kind in ("label", "training")

    def _extra(self, payload: dict) -> dict:
        kind = payload.get("kind")
        extra: dict = {}
        if kind == "points":
            ids = _anomaly_ids(payload)
            if ids:
                extra["html"] = render_to_string(
                    f"{DETECTOR_TEMPLATE}#anomaly-push",
                    {
                        "anomalies": selectors.feed_points(ids),
                        "can_write": self.can_write,
                    },
                )
            if self.raw:
                ids = [p["id"] for p in payload.get("points") or []]
                extra["values"] = {
                    str(pk): values for pk, values in selectors.point_values(ids, self.raw).items()
                }
                extra["raw"] = self.raw
        elif kind == "label":
            points = selectors.feed_points([payload["point"]])
            if points and points[0].is_anomaly:
                extra["html"] = render_to_string(
                    f"{DETECTOR_TEMPLATE}#anomaly-row",
                    {
                        "point": points[0],
                        "push": True,
                        "can_write": self.can_write,
                    },
                )
        elif kind == "training":
            detector = (
                Detector.objects.select_related("active_version")
                .filter(pk=self.detector_id)
                .first()
            )
            if detector is not None:
                extra["html"] = render_to_string(
                    f"{DETECTOR_TEMPLATE}#versions-update",
                    {
                        **selectors.versions_context(detector, self.can_write),
                        "oob": True,
                        "push": True,
                    },
                )
        return extra


def _detector_membership(user, detector_id: int):
    project_id = (
        Detector.objects.filter(pk=detector_id).values_list("project_id", flat=True).first()
    )
    return None if project_id is None else membership_for(user, project_id)


def _detector_features(detector_id: int) -> list[str]:
    return Detector.objects.filter(pk=detector_id).values_list("features", flat=True).first() or []
