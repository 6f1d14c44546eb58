"""The small-request reference: ``POST /constant`` reads the body and answers a JSON constant of
``BENCH_CONSTANT_BYTES``
bytes (the length of the service's own answer), built once: FastAPI's routing and request handling, no work of its own.
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
