"""Reading a request body: content type and size are checked before a byte is parsed."""

from __future__ import annotations

from fastapi import Request

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


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it (or its ``Content-Length``) passes ``limit`` bytes."""
    too_large = ProblemError(
        413, "body-too-large", f"the request body is larger than this server's limit of {limit} bytes"
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
