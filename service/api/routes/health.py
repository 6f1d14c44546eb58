"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..metrics import exposition


async def livez() -> dict[str, str]:
    return {"status": "ok"}


def is_ready(request: Request) -> bool:
    """Started, and not draining: the answer of /readyz and /v2/health/ready."""
    state = request.app.state
    return bool(getattr(state, "ready", False)) and not state.admission.draining


async def readyz(request: Request) -> JSONResponse:
    if is_ready(request):
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable"}, status_code=503, headers={"Retry-After": "1"})


async def metrics() -> Response:
    content, media_type = exposition()
    return Response(content, media_type=media_type)


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/livez", livez, methods=["GET"], tags=["health"], summary="Liveness: the process is up")
    router.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        tags=["health"],
        summary="Readiness: accepting work (503 while starting or draining)",
        responses={
            503: {"description": "starting or draining", "headers": {"Retry-After": {"schema": {"type": "integer"}}}}
        },
    )
    router.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=["health"],
        summary="Prometheus metrics (text format)",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "the metrics"}},
    )
