"""The small-request reference: a FastAPI route that reads the body and returns a constant.

``POST /constant`` answers a fixed JSON document of ``BENCH_CONSTANT_BYTES`` bytes (default
2600, set by the benchmark to the length of the service's own answer to the same request),
built once at import, as a ``Response`` of bytes: FastAPI's routing and request handling with
no work of its own. Served with the same uvicorn settings as the service (workers, no access log).
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI(title="Constant")

_SIZE = max(int(os.environ.get("BENCH_CONSTANT_BYTES", "2600")), 40)
_HEAD = b'{"name":"mse","loss":0.0,"pad":"'
CONSTANT = _HEAD + b"0" * (_SIZE - len(_HEAD) - 2) + b'"}'


@app.post("/constant")
async def constant(request: Request) -> Response:
    await request.body()
    return Response(CONSTANT, media_type="application/json")
