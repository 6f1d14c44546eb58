"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse


async def livez() -> dict[str, str]:
    return {"status": "ok"}


async def readyz(request: Request) -> JSONResponse:
    if getattr(request.app.state, "ready", False):
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable"}, status_code=503, headers={"Retry-After": "1"})


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
