"""WebSocket consumers. Each checks membership on connect through detection.access."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from detection.access import can_read
from detection.events import project_group

# Close code for a refused connection (4000-4999 are free for applications); 4403 reads as "403".
CLOSE_FORBIDDEN = 4403


class ProjectFeedConsumer(AsyncJsonWebsocketConsumer):
    """Live events of one project (points, alerts, training progress) for its members."""

    async def connect(self):
        user = self.scope.get("user")
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not await database_sync_to_async(can_read)(user, self.project_id):
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
