"""ASGI entry point: Django for HTTP, Channels consumers for WebSockets (session auth)."""

import gc
import os
from importlib import import_module

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections

from anomaly_project.memory import keep_freed_memory

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomaly_project.settings")


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain and the view run in one worker thread.

    Under ASGI Django builds an async chain, and every middleware of ours is sync underneath
    (MiddlewareMixin): each request and response hook then hops to a thread and back, 18 switches
    for one API call, which cost more than the call itself (bench/api.py). Built in sync mode,
    the chain takes one switch. Each request still runs in its own thread, as with Django's, and
    that thread closes its database connections when the response is ready.
    """

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self._respond, thread_sensitive=True)(request)

    def _respond(self, request):
        try:
            return self.get_response(request)
        finally:
            # Django closes database connections on request_finished, sent afterwards from the
            # event loop to this thread. When the client leaves before the answer, that send
            # fails ("CurrentThreadExecutor already quit") and the connection stayed open: with
            # DATABASE_POOL, out of the pool for good, until requests waited for one and failed.
            # Closed here, on the thread that owns it; request_finished then finds it closed.
            close_old_connections()


# Django must be set up before the consumers (and their models) are imported.
django.setup(set_prefix=False)
django_asgi_app = SyncChainASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from anomaly_project.routing import websocket_urlpatterns  # noqa: E402

# What is loaded at start-up lives as long as the process. Frozen, the cyclic collector no longer
# walks it at each full collection: during 10,000-point batches those came every few requests
# and took ~110 ms each (bench/api.py). URLs are imported first so views and the engine are in.
import_module(settings.ROOT_URLCONF)
gc.freeze()
keep_freed_memory()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
