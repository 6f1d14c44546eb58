"""Transport floors: bare Starlette routes that read the whole body and answer a constant.

- ``POST /floor``: reads the body, answers a small constant (``{"outputs":[]}``, 14 bytes).
  This is the floor the binary Open Inference Protocol target is measured against.
- ``POST /floor/sized?bytes=N``: reads the body, answers a constant of ``N`` bytes (built once
  per size), to show what sending the answer back costs on top of reading the request.

No FastAPI, no validation, no parsing: what uvicorn + Starlette cost to move the bytes.
Serve it as the benchmark does: ``uvicorn benchmarks.floor_app:app --no-access-log``.
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
