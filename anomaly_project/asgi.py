"""ASGI entry point: Django for HTTP, Channels consumers for WebSockets (session auth)."""

import asyncio
import gc
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from importlib import import_module

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections, connections
from django.http import FileResponse
from django.urls import set_script_prefix

from anomaly_project.memory import keep_freed_memory

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomaly_project.settings")


YOUNG_GC_THRESHOLD = 10_000

# Request threads kept for the next requests, per process; beyond this many at once, a thread
# closes its database connections and ends with its request.
KEEP_THREADS = 8


class RequestProcessed(Exception):
    """Raised when the answer is sent, to stop listening for the client leaving."""


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with all of a request's sync work done in one switch to a thread
    that is kept for later requests.

    Django's handler builds an async middleware chain, and every middleware of ours is sync
    underneath (MiddlewareMixin): each request and response hook then hops to a thread and back,
    18 switches for one API call, which cost more than the call itself (bench/api.py). Built in
    sync mode, the chain takes one switch, and request_started and (for an answer already in
    memory) response.close() run in it too instead of a switch each. Django also starts a new
    thread per request, which opens its own database connection; the threads here are kept, so
    are their connections (CONN_MAX_AGE), and one request at a time runs on each.
    """

    def __init__(self):
        super().__init__()
        self._idle_threads: list[ThreadPoolExecutor] = []

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP here, not {scope['type']}.")
        thread = (
            self._idle_threads.pop()
            if self._idle_threads
            else ThreadPoolExecutor(1, thread_name_prefix="request")
        )
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            if len(self._idle_threads) < KEEP_THREADS:
                self._idle_threads.append(thread)
            else:
                thread.submit(connections.close_all)
                thread.shutdown(wait=False)

    async def handle(self, scope, receive, send):
        """Django's ASGIHandler.handle, with the sync parts in one call to `_respond`."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            response = await sync_to_async(self._respond, thread_sensitive=True)(
                scope, body_file
            )
            try:
                try:
                    async with asyncio.TaskGroup() as tasks:
                        tasks.create_task(self.listen_for_disconnect(receive))
                        await self.send_response(response, send)
                        raise RequestProcessed
                except* (RequestProcessed, RequestAborted):
                    pass
            except BaseExceptionGroup as group:
                if len(group.exceptions) == 1:
                    raise group.exceptions[0] from None
                raise
            if response.streaming:  # its content was read while it was sent
                await sync_to_async(response.close, thread_sensitive=True)()

    def _respond(self, scope, body_file):
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        try:
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
            if not response.streaming:
                response.close()  # request_finished, from the thread that owns the connections
            return response
        finally:
            # request_finished closes connections that are too old, on the thread that owns
            # them. Also after a failure, or with a streaming answer still to send: a connection
            # lost that way stays out of DATABASE_POOL for good, until requests wait for one
            # and fail (seen as 500s in bench/api.py after clients left mid-request).
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
# A request's objects die by reference counting; the young generation's collections only walk
# what happens to be alive then. At Python's 700 allocations one came every 2-3 one-point
# requests and cost 0.5 ms; at 10,000 a one-point scoring request takes about 5% less time.
gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
keep_freed_memory()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
