"""Transport floors, bare Starlette: ``POST /floor`` reads the body and answers 14 bytes (``{"outputs":[]}``);
``POST /floor/sized?bytes=N`` answers N bytes (built once per size). What uvicorn + Starlette cost to move the bytes.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SMALL = b'{"outputs":[]}'
_SIZED: dict[int, bytes] = {}


async def floor(request: Request) -> Response:
    await request.body()
    return Response(SMALL, media_type="application/json")


async def sized(request: Request) -> Response:
    await request.body()
    size = min(int(request.query_params.get("bytes", "0")), 256 * 2**20)
    if size not in _SIZED:
        _SIZED[size] = b"0" * size
    return Response(_SIZED[size], media_type="application/octet-stream")


app = Starlette(routes=[Route("/floor", floor, methods=["POST"]), Route("/floor/sized", sized, methods=["POST"])])
