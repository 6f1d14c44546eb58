"""The ASGI middleware every request passes: request ids, admission, gzip bodies, metrics, the log line.

Pure ASGI (no ``BaseHTTPMiddleware``), so that it adds microseconds, not a task per request.
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
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from starlette.routing import BaseRoute, Match

from ..settings import Settings
from .metrics import count_request
from .problems import ProblemError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("service.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


@dataclass
class Admission:
    """What the server is willing to take on: shared by the middleware, /readyz and the drain hook."""

    in_flight: int = 0
    draining: bool = False
    admitted: int = 0  # every request admitted so far: how busy the worker has been lately


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
        admission.draining = True
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


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, admission: Admission, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.settings = settings
        self.admission = admission
        self.routes = routes  # the app's routes, to label requests refused before routing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only the two headers this layer reads; no dict of them all on every request.
        incoming, encoding = "", "identity"
        for key, value in scope["headers"]:
            lowered = key.lower()
            if lowered == b"x-request-id":
                incoming = value.decode("latin-1")
            elif lowered == b"content-encoding":
                encoding = value.decode("latin-1").strip().lower()
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        outcome = {"status": 500, "bytes": 0, "recorded": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                outcome["bytes"] += len(message.get("body", b""))
                if not message.get("more_body", False):  # counted before the client can see the answer
                    self._record(scope, request_id, outcome, time.perf_counter() - start)
            await send(message)

        admitted = False
        try:
            if scope["method"] == "POST":
                self._admit()
                admitted = True
                receive = await self._decoded(scope, encoding, receive)
            await self.app(scope, receive, send_with_id)
        except ProblemError as problem:  # refused here, before routing: label it with its route anyway
            problem.instance = request_id
            scope.setdefault("route", self._route_of(scope))
            await problem.response()(scope, receive, send_with_id)
        finally:
            if admitted:
                self.admission.in_flight -= 1
            if not outcome["recorded"]:  # no complete answer went out (the client left, or a bug)
                self._record(scope, request_id, outcome, time.perf_counter() - start)

    def _route_of(self, scope: Scope) -> BaseRoute | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route
        return None

    def _admit(self) -> None:
        """503 with Retry-After while draining or when every computation slot is taken."""
        retry = {"Retry-After": str(self.settings.retry_after_seconds)}
        if self.admission.draining:
            raise ProblemError(503, "draining", "the server is shutting down; retry on another instance", headers=retry)
        if self.admission.in_flight >= self.settings.max_concurrency:
            raise ProblemError(
                503,
                "overloaded",
                f"the server is computing {self.admission.in_flight} requests, its limit; retry shortly",
                headers=retry,
            )
        self.admission.in_flight += 1
        self.admission.admitted += 1

    async def _decoded(self, scope: Scope, encoding: str, receive: Receive) -> Receive:
        """For ``Content-Encoding: gzip``, the decompressed body, capped at the body limit (413)."""
        if encoding == "identity":
            return receive
        if encoding != "gzip":
            raise ProblemError(415, "unsupported-media-type", f"Content-Encoding {encoding!r}: send gzip or identity")
        try:
            async with asyncio.timeout(self.settings.request_timeout_seconds):
                body = await self._inflate(receive)
        except TimeoutError:
            raise ProblemError(
                408, "request-timeout", f"the body did not arrive within {self.settings.request_timeout_seconds} s"
            ) from None
        scope["headers"] = [
            (k, v) for k, v in scope["headers"] if k.lower() not in (b"content-encoding", b"content-length")
        ] + [(b"content-length", str(len(body)).encode())]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _inflate(self, receive: Receive) -> bytes:
        limit = self.settings.max_body_bytes
        decompressor = zlib.decompressobj(wbits=31)
        parts: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ProblemError(400, "malformed-body", "the client went away before sending the whole body")
            more = message.get("more_body", False)
            chunk = message.get("body", b"")
            try:
                # max_length caps what one chunk may inflate to: a zip bomb never reaches memory.
                data = decompressor.decompress(chunk, limit + 1 - size)
            except zlib.error as error:
                raise ProblemError(400, "malformed-body", f"the gzip body is corrupt: {error}") from None
            size += len(data)
            if size > limit or decompressor.unconsumed_tail:
                raise ProblemError(
                    413, "body-too-large", f"the decompressed body is larger than this server's limit of {limit} bytes"
                )
            parts.append(data)
        if not decompressor.eof:
            raise ProblemError(400, "malformed-body", "the gzip body is truncated")
        return b"".join(parts)

    def _record(self, scope: Scope, request_id: str, outcome: dict[str, Any], seconds: float) -> None:
        outcome["recorded"] = True
        route = scope.get("route")
        handler = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        count_request(handler, method, outcome["status"], seconds)
        if self.settings.access_log:
            client = scope.get("client")
            line = {
                "request_id": request_id,
                "method": method,
                "path": scope["path"],
                "handler": handler,
                "status": outcome["status"],
                "duration_ms": round(seconds * 1000, 3),
                "response_bytes": outcome["bytes"],
                "client": client[0] if client else None,
            }
            access_log.info("request", extra={"fields": line})
