from django.urls import path

from detection import consumers

websocket_urlpatterns = [
    path("ws/overview/", consumers.OverviewConsumer.as_asgi()),
    path("ws/projects/<int:project_id>/", consumers.ProjectFeedConsumer.as_asgi()),
    path("ws/detectors/<int:detector_id>/", consumers.DetectorConsumer.as_asgi()),
]
