"""Reading a request body: content type and size are checked before a byte is parsed."""

from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.requests import ClientDisconnect

from .problems import ProblemError


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON (``application/json`` or ``application/*+json``)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json")):
        return
    declared = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
    raise ProblemError(
        415, "unsupported-media-type", f"send the body as JSON with Content-Type: application/json (got {declared})"
    )


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytearray:
    """The whole body, or 413 as soon as it (or its ``Content-Length``) passes ``limit`` bytes.

    A client that has not sent it all within ``timeout`` seconds gets 408: a trickling body
    must not hold a connection and its buffer forever. The chunks are appended to one
    ``bytearray`` (grown in place, where the allocator can), not joined at the end, which
    would hold the body twice.
    """
    too_large = ProblemError(
        413, "body-too-large", f"the request body is larger than this server's limit of {limit} bytes"
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                if len(body) + len(chunk) > limit:
                    raise too_large
                body += chunk
    except TimeoutError:
        raise ProblemError(408, "request-timeout", f"the body did not arrive within {timeout} s") from None
    except ClientDisconnect:
        raise ProblemError(400, "malformed-body", "the client went away before sending the whole body") from None
    return body
