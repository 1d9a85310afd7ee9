from detection.routing import websocket_urlpatterns as detection_websockets

websocket_urlpatterns = [*detection_websockets]
