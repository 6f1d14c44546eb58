"""The OpenAPI document and its browsable pages (Swagger UI, ReDoc)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from . import OperationRoute, Routes

TITLE = "Loss service"


def routes(openapi: Callable[[], dict[str, Any]]) -> Routes:
    async def document(request: Request) -> JSONResponse:
        return JSONResponse(openapi())

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + "/openapi.json",
            title=f"{TITLE} - Swagger UI",
            oauth2_redirect_url=root + "/docs/oauth2-redirect",
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(openapi_url=root + "/openapi.json", title=f"{TITLE} - ReDoc")

    return Routes(
        served=[
            OperationRoute("/openapi.json", document),
            OperationRoute("/docs", swagger_ui),
            OperationRoute("/docs/oauth2-redirect", swagger_ui_redirect),
            OperationRoute("/redoc", redoc),
        ]
    )
