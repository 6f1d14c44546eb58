"""The gRPC server of one worker process: ``inference.GRPCInferenceService`` and ``grpc.health.v1.Health``.

It runs with ``grpc.aio`` on the worker's own event loop, started and stopped by the app's
lifespan, so its calls and the HTTP requests share one service object and one ``Admission``
(whose count is not thread-safe, and needs none on one loop). ``ModelInfer`` is admitted when
the call arrives, its message read within the admission (at most ``request_timeout_seconds``),
and computed by ``LossService.answer`` with the gRPC codec; the other methods answer from the
catalog and the server's state, as their HTTP routes do.

The port: ``grpc_port`` on ``host``; the message size limit is ``max_body_bytes``. With one
worker the port is bound exclusively (a port already taken fails the start-up). With several,
every worker binds it with ``SO_REUSEPORT`` and the kernel spreads new connections over them, as
uvicorn's workers share the HTTP socket; a gRPC channel is one long-lived connection, so one
client's calls go to one worker.

Draining: from the moment the signal arrives the health service answers ``NOT_SERVING``,
``ServerReady`` false and new ``ModelInfer`` calls ``UNAVAILABLE`` (the admission refuses them);
calls in flight finish. At the lifespan's end (once uvicorn has drained HTTP) the server stops,
giving its calls what is left of the graceful-shutdown time counted from the signal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

from .. import __version__
from ..api.codecs.inference import SERVER_NAME, V2Error, model_metadata, model_or_404
from ..engine import LossSpec
from ..serving import Answer, Body, LossService, Refused
from ..settings import GRACEFUL_SHUTDOWN_SECONDS, Settings
from . import protocol as pb
from .calls import REQUEST_ID, Calls, abort
from .codec import MESSAGE, GrpcInferCodec

HEALTH_SERVICE = "grpc.health.v1.Health"
#: The server's protocol extensions (the same list as ``GET /v2``).
EXTENSIONS = ["binary_tensor_data"]


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcServer:
    def __init__(self, service: LossService, settings: Settings, ready: Callable[[], bool]) -> None:
        self.service = service
        self.admission = service.admission
        self.settings = settings
        self.ready = ready  # started and not draining: ServerReady
        self.codec = GrpcInferCodec()
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._stop_listening: Callable[[], None] | None = None
        self._drain_started: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Bind and serve; the port bound (``RuntimeError`` when it cannot be bound)."""
        settings = self.settings
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", settings.max_body_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            ]
        )
        calls = Calls(settings.access_log)
        unary = {
            "ServerLive": (self.server_live, pb.ServerLiveRequest, pb.ServerLiveResponse),
            "ServerReady": (self.server_ready, pb.ServerReadyRequest, pb.ServerReadyResponse),
            "ModelReady": (self.model_ready, pb.ModelReadyRequest, pb.ModelReadyResponse),
            "ServerMetadata": (self.server_metadata, pb.ServerMetadataRequest, pb.ServerMetadataResponse),
            "ModelMetadata": (self.model_metadata, pb.ModelMetadataRequest, pb.ModelMetadataResponse),
        }
        inference = {name: calls.unary(pb.SERVICE, name, *parts) for name, parts in unary.items()}
        inference["ModelInfer"] = calls.client_streaming(pb.SERVICE, "ModelInfer", self.model_infer)
        check = (health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse)
        checks = {
            "Check": calls.unary(HEALTH_SERVICE, "Check", self.health.Check, *check),
            "Watch": calls.server_streaming(self.health.Watch, *check),
        }
        for name, handlers in ((pb.SERVICE, inference), (HEALTH_SERVICE, checks)):
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
            server.add_registered_method_handlers(name, handlers)
        self.port = server.add_insecure_port(address(settings.host, settings.grpc_port))
        await self.health.set(pb.SERVICE, health_pb2.HealthCheckResponse.SERVING)  # "" is SERVING already
        await server.start()
        self._server = server
        loop = asyncio.get_running_loop()

        def drained() -> None:  # in a signal handler: only schedule
            loop.call_soon_threadsafe(self._drain)

        self._stop_listening = self.admission.on_drain(drained)
        return self.port

    def _drain(self) -> None:
        """Draining began (a signal, or the lifespan's end): the health service says NOT_SERVING from now on."""
        self._drain_started = time.monotonic()
        task = asyncio.get_running_loop().create_task(self.health.enter_graceful_shutdown())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop taking calls and let those in flight finish, within the graceful-shutdown time left."""
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        server, self._server = self._server, None
        if server is None:
            return
        started = self._drain_started if self._drain_started is not None else time.monotonic()
        await server.stop(max(1.0, GRACEFUL_SHUTDOWN_SECONDS - (time.monotonic() - started)))
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- inference.GRPCInferenceService ----------------------------------------------------------

    async def server_live(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerReadyResponse(ready=self.ready())

    async def model_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._model(request.name, request.version, context)
        return pb.ModelReadyResponse(ready=True)  # as GET /v2/models/{name}/ready: a known model is ready

    async def server_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=EXTENSIONS)

    async def model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        document = model_metadata(await self._model(request.name, request.version, context))
        return pb.ModelMetadataResponse(**document)

    async def model_infer(self, requests: Any, context: grpc.aio.ServicerContext) -> bytes:
        try:
            self.admission.admit()
        except Refused as refused:
            await abort(context, refused.status, refused.detail, refused.retry_after)
        try:
            answer = await self.service.answer(
                self.codec, None, lambda: self._read(context), {"request_id": REQUEST_ID.get()}
            )
        except V2Error as error:  # the message did not come
            answer = Answer(error.status, error.message.encode(), MESSAGE)
        finally:
            self.admission.release()
        if answer.status != 200:
            await abort(context, answer.status, answer.content.decode(), self.settings.retry_after_seconds)
        return answer.content

    async def _read(self, context: grpc.aio.ServicerContext) -> Body:
        """The call's one request message, as it arrived (the size limit is grpc's)."""
        timeout = self.settings.request_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                message = await context.read()
        except TimeoutError:
            raise V2Error(408, f"the request message did not arrive within {timeout} s") from None
        if message is grpc.aio.EOF:
            raise V2Error(400, "the call ended without a request message")
        return Body(message)

    async def _model(self, name: str, version: str, context: grpc.aio.ServicerContext) -> LossSpec:
        try:
            return model_or_404(name, version)
        except V2Error as error:
            await abort(context, error.status, error.message)
