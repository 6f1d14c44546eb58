"""Reading a request body: content type and size are checked before a byte is parsed.

These read the ASGI scope and ``receive`` directly: the computations' endpoints are plain ASGI
apps, with no ``Request`` object between them and the server.
"""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope

from .problems import ProblemError


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the request header ``name`` (given in lower case, as ASGI servers send names), or None."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def require_json(scope: Scope) -> None:
    """415 unless the body is declared JSON (``application/json`` or ``application/*+json``)."""
    media_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json")):
        return
    declared = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
    raise ProblemError(
        415, "unsupported-media-type", f"send the body as JSON with Content-Type: application/json (got {declared})"
    )


async def read_body(scope: Scope, receive: Receive, limit: int, timeout: float | None = None) -> bytes | bytearray:
    """The whole body, or 413 as soon as it (or its ``Content-Length``) passes ``limit`` bytes.

    A client that has not sent it all within ``timeout`` seconds gets 408: a trickling body
    must not hold a connection and its buffer forever. A body in one message is that message's
    bytes; the chunks of a longer one are appended to one ``bytearray`` (grown in place, where
    the allocator can), not joined at the end, which would hold the body twice.
    """
    declared = header(scope, b"content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    parts = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ProblemError(400, "malformed-body", "the client went away before sending the whole body")
                chunk = message.get("body", b"")
                if len(parts) + len(chunk) > limit:
                    raise _too_large(limit)
                if not message.get("more_body", False):
                    if not parts:  # the whole body in one message: no copy
                        return chunk
                    parts += chunk
                    return parts
                parts += chunk
    except TimeoutError:
        raise ProblemError(408, "request-timeout", f"the body did not arrive within {timeout} s") from None


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, "body-too-large", f"the request body is larger than this server's limit of {limit} bytes")
