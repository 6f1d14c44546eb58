"""Liveness, readiness and the metrics."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..metrics import exposition
from . import Routes


async def livez() -> dict[str, str]:
    return {"status": "ok"}


def is_ready(request: Request) -> bool:
    """Started, and not draining: the answer of /readyz and /v2/health/ready."""
    state = request.app.state
    return bool(getattr(state, "ready", False)) and not state.service.admission.draining


async def readyz(request: Request) -> JSONResponse:
    if is_ready(request):
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable"}, status_code=503, headers={"Retry-After": "1"})


async def metrics() -> Response:
    content, media_type = exposition()
    return Response(content, media_type=media_type)


def routes() -> Routes:
    served: list[APIRoute] = [
        APIRoute(
            "/livez",
            livez,
            methods=["GET"],
            tags=["health"],
            operation_id="livez",
            summary="Liveness: the process is up",
        ),
        APIRoute(
            "/readyz",
            readyz,
            methods=["GET"],
            tags=["health"],
            operation_id="readyz",
            summary="Readiness: accepting work (503 while starting or draining)",
            responses={
                503: {
                    "description": "starting or draining",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                }
            },
        ),
        APIRoute(
            "/metrics",
            metrics,
            methods=["GET"],
            tags=["health"],
            operation_id="metrics",
            summary="Prometheus metrics (text format)",
            response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "the metrics"}},
        ),
    ]
    return Routes(served=list(served), documented=list(served))
