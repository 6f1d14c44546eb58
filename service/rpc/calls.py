"""What every gRPC call goes through around its method: the request id, the request's parse, metrics, the log line.

The gRPC counterpart of the HTTP middleware (``service.api.middleware``), applied where the
methods are registered rather than by an interceptor, so a call pays no per-call handler lookup:

- the request id is the client's ``x-request-id`` metadata when valid (the HTTP rule), else a new
  one; it is returned in the trailing metadata and is in the call's log line;
- every method takes its request as bytes and parses it itself, so a malformed message is
  ``INVALID_ARGUMENT``: with a deserializer registered, grpc answers ``UNKNOWN`` ("Unexpected
  DecodeError") before any code of the service runs;
- ``grpc_server_handled_total{grpc_service,grpc_method,grpc_code}`` and
  ``grpc_server_handling_seconds`` (the names of the usual gRPC Prometheus middleware) count and
  time every unary call, and one JSON line per call goes to the access log;
- an exception no client can cause is logged with the request id and answered ``INTERNAL``.

Errors are ``abort``-ed with the status HTTP would answer, mapped by ``code_of``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError
from prometheus_client import Counter, Histogram

from ..api.middleware import request_id_or_new
from ..serving.metrics import LATENCY_BUCKETS

access_log = logging.getLogger("service.access")
errors_log = logging.getLogger("service.rpc")

#: The current call's request id (each call runs in a task of its own).
REQUEST_ID: ContextVar[str] = ContextVar("grpc_request_id", default="")

GRPC_HANDLED = Counter("grpc_server_handled_total", "gRPC calls answered", ["grpc_service", "grpc_method", "grpc_code"])
GRPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time to answer a gRPC call",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)

#: The gRPC status of each HTTP status the service's codecs answer (API.md section 7).
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
#: Most bytes of a status message: it travels percent-encoded in a header, and clients refuse
#: headers past 8 KiB by default (a message about a huge shape or name could pass that).
MESSAGE_BYTES = 2048


def code_of(status: int) -> grpc.StatusCode:
    return CODES.get(status, grpc.StatusCode.INTERNAL if status >= 500 else grpc.StatusCode.INVALID_ARGUMENT)


def status_message(text: str) -> str:
    data = text.encode()
    return text if len(data) <= MESSAGE_BYTES else data[: MESSAGE_BYTES - 3].decode(errors="ignore") + "..."


async def abort(
    context: grpc.aio.ServicerContext, status: int, message: str, retry_after: int | None = None
) -> NoReturn:
    """End the call with the gRPC status of HTTP ``status``; ``UNAVAILABLE`` carries ``retry-after`` (seconds)."""
    code = code_of(status)
    trailing = [("x-request-id", REQUEST_ID.get())]
    if code is grpc.StatusCode.UNAVAILABLE and retry_after is not None:
        trailing.append(("retry-after", str(retry_after)))
    await context.abort(code, status_message(message), tuple(trailing))
    raise AssertionError("context.abort returned")  # it raises


Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class Calls:
    """Builds the method handlers of one server, each wrapped as the module says."""

    def __init__(self, access_log: bool) -> None:
        self.log = access_log

    def unary(self, service: str, method: str, behaviour: Behaviour, request_type: Any, response_type: Any) -> Any:
        """A unary method taking ``request_type``, parsed here, and answering ``response_type``."""
        parse = _parser(request_type)

        async def call(data: bytes, context: grpc.aio.ServicerContext) -> Any:
            return await behaviour(await parse(data, context), context)

        return grpc.unary_unary_rpc_method_handler(
            self._observed(service, method, call), response_serializer=response_type.SerializeToString
        )

    def client_streaming(self, service: str, method: str, behaviour: Behaviour) -> Any:
        """A method that reads its request bytes itself (``context.read()``) and answers bytes.

        On the wire a unary call is a client-streaming call with one message, so unary clients call
        it as usual; the server runs it as soon as the call arrives, before its message, as HTTP
        runs a request's middleware before reading its body.
        """
        return grpc.stream_unary_rpc_method_handler(self._observed(service, method, behaviour))

    def server_streaming(self, behaviour: Behaviour, request_type: Any, response_type: Any) -> Any:
        """A streaming answer (the health service's ``Watch``): its request parsed here; not counted
        or logged, as it lasts as long as the client watches."""
        parse = _parser(request_type)

        async def call(data: bytes, context: grpc.aio.ServicerContext) -> None:
            await behaviour(await parse(data, context), context)

        return grpc.unary_stream_rpc_method_handler(call, response_serializer=response_type.SerializeToString)

    def _observed(self, service: str, method: str, call: Behaviour) -> Behaviour:
        path = f"/{service}/{method}"
        duration = GRPC_SECONDS.labels(service, method)

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            request_id = request_id_or_new(_metadata(context, "x-request-id"))
            REQUEST_ID.set(request_id)
            context.set_trailing_metadata((("x-request-id", request_id),))
            code, sent = grpc.StatusCode.OK, 0
            try:
                response = await call(request, context)
                sent = len(response) if isinstance(response, bytes) else response.ByteSize()
                return response
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                errors_log.exception("unhandled error in gRPC %s (request %s)", path, request_id)
                await context.abort(code, "internal error; it has been logged with the request id")
            finally:
                seconds = time.perf_counter() - start
                _handled(service, method, code.name).inc()
                duration.observe(seconds)
                if self.log:
                    line = {
                        "request_id": request_id,
                        "protocol": "grpc",
                        "path": path,
                        "handler": path,
                        "grpc_code": code.name,
                        "duration_ms": round(seconds * 1000, 3),
                        "response_bytes": sent,
                        "client": _client(context.peer()),
                    }
                    access_log.info("request", extra={"fields": line})

        return observed


@functools.cache
def _handled(service: str, method: str, code: str) -> Any:
    return GRPC_HANDLED.labels(service, method, code)


def _parser(request_type: Any) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]:
    name = request_type.DESCRIPTOR.name

    async def parse(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            return request_type.FromString(data)
        except DecodeError as error:
            await abort(context, 400, f"the message is not a {name}: {error}")

    return parse


def _metadata(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else None
    return None


def _client(peer: str | None) -> str | None:
    """The client's address from grpc's peer (``ipv4:127.0.0.1:5555``, ``ipv6:[::1]:5555``, ``unix:...``)."""
    if not peer:
        return None
    kind, _, address = peer.partition(":")
    if kind == "ipv4":
        return address.rpartition(":")[0]
    if kind == "ipv6":
        return address.rpartition(":")[0].strip("[]")
    return peer
