from django.urls import path

from detection import consumers

websocket_urlpatterns = [
    path("ws/projects/<int:project_id>/", consumers.ProjectFeedConsumer.as_asgi()),
]
