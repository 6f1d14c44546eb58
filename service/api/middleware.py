"""The middleware every HTTP request passes, one concern each, declared as a list in the app factory.

Pure ASGI (``starlette.types``), no ``BaseHTTPMiddleware``: each adds microseconds, not a task.
Outermost first: the request id, metrics and the access log, admission, gzip request bodies, gzip
responses.
A middleware that refuses a request answers the problem itself, with the request id.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import signal
import threading
import time
import zlib
from collections.abc import Callable
from types import FrameType

from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..serving import Admission, Refused
from ..settings import Settings
from .body import header
from .codecs import V2Error
from .metrics import count_request
from .problems import ProblemError, as_problem

access_log = logging.getLogger("service.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id_or_new(incoming: str | None) -> str:
    """The client's request id when it is a valid one (``X-Request-ID``, or gRPC's ``x-request-id``), else a new one."""
    return incoming if incoming is not None and _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)


async def answer_problem(scope: Scope, receive: Receive, send: Send, error: Exception) -> None:
    """Send ``error``'s problem, its ``instance`` the request id; under ``/v2/`` in that protocol's own
    ``{"error": message}`` form, as its routes answer."""
    problem = as_problem(error)
    if scope["path"].startswith("/v2/"):
        document = V2Error(problem.status, problem.detail).document()
        response = Response(document, problem.status, problem.headers, media_type="application/json")
    else:
        problem.instance = scope.get("state", {}).get("request_id")
        response = problem.response()
    await response(scope, receive, send)


class RequestIdMiddleware:
    """Keep a valid ``X-Request-ID`` (else make one), put it in the scope's state and on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_or_new(header(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        await self.app(scope, receive, send_with_id)


class AccessMiddleware:
    """Count and time every request by its route, and write its access-log line.

    The route label is the matched route's path template (``/losses/{name}``), ``unmatched`` for
    a request refused before routing or sent to no route. The line is queued to a background
    thread (``logs.start_access_log``), so a request does not wait for the write.
    """

    def __init__(self, app: ASGIApp, access_log: bool) -> None:
        self.app = app
        self.log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, sent, recorded = 500, 0, False

        async def send_counted(message: Message) -> None:
            nonlocal status, sent, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body", False):  # counted before the client can see the answer
                    recorded = True
                    self._record(scope, status, sent, time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            if not recorded:  # no complete answer went out (the client left, or a bug)
                self._record(scope, status, sent, time.perf_counter() - start)

    def _record(self, scope: Scope, status: int, sent: int, seconds: float) -> None:
        handler = getattr(scope.get("route"), "path", None) or "unmatched"
        count_request(handler, scope["method"], status, seconds)
        if self.log:
            client = scope.get("client")
            line = {
                "request_id": scope.get("state", {}).get("request_id"),
                "method": scope["method"],
                "path": scope["path"],
                "handler": handler,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "response_bytes": sent,
                "client": client[0] if client else None,
            }
            access_log.info("request", extra={"fields": line})


class AdmissionMiddleware:
    """POSTs are computations: admitted while a slot is free and the server is not draining, else 503."""

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            self.admission.admit()
        except Refused as refused:
            await answer_problem(scope, receive, send, refused)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release()


class GzipRequestMiddleware:
    """``Content-Encoding: gzip`` POST bodies, inflated with the body limit applied to what they inflate to.

    A zip bomb gets 413 after at most ``max_body_bytes`` inflated bytes; a body that does not
    arrive within the request timeout gets 408; an encoding other than gzip or identity 415.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limit = settings.max_body_bytes
        self.timeout = settings.request_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        posted = scope["type"] == "http" and scope["method"] == "POST"  # only a computation's body is read
        encoding = (header(scope, b"content-encoding") or "identity").strip().lower() if posted else ""
        if encoding in ("", "identity"):
            await self.app(scope, receive, send)
            return
        try:
            if encoding != "gzip":
                raise ProblemError(
                    415, "unsupported-media-type", f"Content-Encoding {encoding!r}: send gzip or identity"
                )
            try:
                async with asyncio.timeout(self.timeout):
                    body = await self._inflate(receive)
            except TimeoutError:
                raise ProblemError(408, "request-timeout", f"the body did not arrive within {self.timeout} s") from None
        except ProblemError as problem:
            await answer_problem(scope, receive, send, problem)
            return
        scope["headers"] = [
            (k, v) for k, v in scope["headers"] if k.lower() not in (b"content-encoding", b"content-length")
        ] + [(b"content-length", str(len(body)).encode())]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _inflate(self, receive: Receive) -> bytes:
        decompressor = zlib.decompressobj(wbits=31)
        parts: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ProblemError(400, "malformed-body", "the client went away before sending the whole body")
            more = message.get("more_body", False)
            try:
                # max_length caps what one chunk may inflate to: a zip bomb never reaches memory.
                data = decompressor.decompress(message.get("body", b""), self.limit + 1 - size)
            except zlib.error as error:
                raise ProblemError(400, "malformed-body", f"the gzip body is corrupt: {error}") from None
            size += len(data)
            if size > self.limit or decompressor.unconsumed_tail:
                raise ProblemError(
                    413,
                    "body-too-large",
                    f"the decompressed body is larger than this server's limit of {self.limit} bytes",
                )
            parts.append(data)
        if not decompressor.eof:
            raise ProblemError(400, "malformed-body", "the gzip body is truncated")
        return b"".join(parts)


class GzipResponseMiddleware:
    """Gzip responses for clients that accept it: Starlette's ``GZipMiddleware``, and for the others its
    answer made without its cost.

    To a client that does not accept gzip (most API clients), Starlette's middleware sends the
    response unchanged but for ``Vary: Accept-Encoding``, added when the response could have been
    compressed. To decide that, its identity responder parses the headers into ``Headers`` objects
    and re-normalises the excluded content types on every request, one of the larger costs of a
    small request. This sends the very same messages, ``Vary`` by Starlette's own
    ``add_vary_header`` where Starlette adds it (tests/api/test_middleware.py checks it against
    Starlette, message for message).
    """

    def __init__(self, app: ASGIApp, minimum_size: int, compresslevel: int) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)
        self.minimum_size = minimum_size
        self.excluded = frozenset(self.gzip.exclude_content_types)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's own test: "gzip" anywhere in the first Accept-Encoding.
        if scope["type"] != "http" or "gzip" in (header(scope, b"accept-encoding") or ""):
            await self.gzip(scope, receive, send)
            return
        held: Message | None = None  # the response's start, until its first body says whether it varies

        async def send_varied(message: Message) -> None:
            nonlocal held
            kind = message["type"]
            if kind == "http.response.start" and self._compressible(message):
                held = message
                return
            if held is not None and kind in ("http.response.body", "http.response.pathsend"):
                start, held = held, None
                body = message.get("body", b"")
                if kind == "http.response.body" and (len(body) >= self.minimum_size or message.get("more_body", False)):
                    MutableHeaders(raw=start["headers"]).add_vary_header("Accept-Encoding")
                await send(start)
            await send(message)

        await self.app(scope, receive, send_varied)

    def _compressible(self, start: Message) -> bool:
        """Whether gzip could have applied: not a partial answer, not already encoded, not an excluded type."""
        headers = start.setdefault("headers", [])
        if start["status"] == 206:
            return False
        media_type: str | None = None
        for key, value in headers:  # names as Starlette's Headers reads them: as sent, which ASGI has lower case
            if key == b"content-encoding":
                return False
            if key == b"content-type" and media_type is None:
                media_type = value.decode("latin-1").partition(";")[0].strip().lower()
        media_type = media_type or ""
        types = {media_type, media_type.partition("/")[0] + "/*"}
        if media_type.startswith("application/grpc+"):
            types.add("application/grpc")
        return types.isdisjoint(self.excluded)


def drain_on_signals(admission: Admission) -> Callable[[], None]:
    """Mark the server draining as soon as SIGTERM or SIGINT arrives, then let uvicorn shut down.

    uvicorn stops accepting connections and lets in-flight requests finish; meanwhile
    ``/readyz`` answers 503 (so a load balancer stops sending) and new computations on open
    connections are refused with 503. Returns the function that restores the previous handlers.
    """
    if threading.current_thread() is not threading.main_thread():  # signals belong to the main thread
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(sig: int, frame: FrameType | None) -> None:
        sig = signal.Signals(sig)
        admission.drain()
        chained = previous[sig]
        if callable(chained):
            chained(sig, frame)
        elif sig == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(128 + sig)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, chained in previous.items():
            signal.signal(sig, chained)

    return restore
