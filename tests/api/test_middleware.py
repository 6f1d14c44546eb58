"""``GzipResponseMiddleware`` sends exactly what Starlette's ``GZipMiddleware`` sends, message for message.

It hands clients that accept gzip to Starlette's middleware, and answers the others itself;
here both middlewares wrap the same app, and every response (status, content type, an encoding
or a ``Vary`` already set, a body in one message or several, around the minimum size, or a
file sent by ``pathsend``) must reach the server as the same messages.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Message, Receive, Scope, Send

from service.api.middleware import GzipResponseMiddleware

MINIMUM_SIZE = 1024

content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/problem+json",
        "text/html; charset=utf-8",
        "TEXT/CSS",
        "image/png",
        "image/svg+xml",
        "font/woff2",
        "video/mp4",
        "text/event-stream; charset=utf-8",
        "application/grpc+proto",
        "application/zip",
    ]
)
accept_encodings = st.one_of(
    st.none(),
    st.sampled_from(["identity", "br", "deflate", "*", "", "gzip", "br, gzip;q=0.5", "GZIP", "x-gzip", "gzip;q=0"]),
    st.text(st.characters(codec="latin-1"), max_size=12),
)
body_sizes = st.sampled_from([0, 1, MINIMUM_SIZE - 1, MINIMUM_SIZE, MINIMUM_SIZE + 1, 3000])


@st.composite
def responses(draw: st.DrawFn) -> list[Message]:
    """The messages an app sends: a start, then a body in one or more messages, or a ``pathsend``."""
    headers: list[tuple[bytes, bytes]] = []
    content_type = draw(content_types)
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    if draw(st.booleans()):
        headers.append((b"Content-Encoding" if draw(st.booleans()) else b"content-encoding", b"br"))
    if draw(st.booleans()):
        headers.append((b"vary", draw(st.sampled_from([b"Origin", b"Accept-Encoding", b"*"]))))
    headers.append((b"x-other", b"1"))
    start: Message = {"type": "http.response.start", "status": draw(st.sampled_from([200, 206, 404, 422, 503]))}
    if headers or draw(st.booleans()):
        start["headers"] = draw(st.permutations(headers))
    if draw(st.integers(0, 5)) == 0:
        return [start, {"type": "http.response.pathsend", "path": "/srv/file"}]
    sizes = draw(st.lists(body_sizes, min_size=1, max_size=3))
    bodies: list[Message] = [
        {"type": "http.response.body", "body": bytes([65 + i]) * size, "more_body": i < len(sizes) - 1}
        for i, size in enumerate(sizes)
    ]
    return [start, *bodies]


def sent_through(middleware: type[Any], response: list[Message], accept_encoding: str | None) -> list[Message]:
    """The messages ``middleware`` passes on to the server for ``response``, to a request with ``accept_encoding``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in copy.deepcopy(response):
            await send(message)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(copy.deepcopy(message))

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    headers = [] if accept_encoding is None else [(b"accept-encoding", accept_encoding.encode("latin-1"))]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    asyncio.run(middleware(app, minimum_size=MINIMUM_SIZE, compresslevel=6)(scope, receive, send))
    # A body message without "body" means b"" (ASGI); Starlette writes the key in, this leaves it out.
    return [{"body": b"", **m} if m["type"] == "http.response.body" else m for m in sent]


@settings(max_examples=400, deadline=None)
@given(response=responses(), accept_encoding=accept_encodings)
def test_every_response_is_sent_as_starlette_sends_it(response: list[Message], accept_encoding: str | None) -> None:
    assert sent_through(GzipResponseMiddleware, response, accept_encoding) == sent_through(
        GZipMiddleware, response, accept_encoding
    )


def test_a_large_answer_to_a_client_without_gzip_varies_on_accept_encoding() -> None:
    """The case the hot path takes, spelt out: a 3000-byte JSON answer gets ``Vary`` and is not compressed."""
    start: Message = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    body: Message = {"type": "http.response.body", "body": b"x" * 3000, "more_body": False}
    sent = sent_through(GzipResponseMiddleware, [start, body], None)
    assert sent[0]["headers"] == [(b"content-type", b"application/json"), (b"vary", b"Accept-Encoding")]
    assert sent[1] == body
    small = sent_through(GzipResponseMiddleware, [start, {**body, "body": b"x" * 10}], "identity")
    assert small[0]["headers"] == [(b"content-type", b"application/json")]
