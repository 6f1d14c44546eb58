"""The OpenAPI document and its browsable pages (Swagger UI, ReDoc), with their assets served here.

The pages' scripts and styles come from the ``fastapi-offline`` package (Swagger UI's and ReDoc's
own bundles) and are served by the service itself under ``/docs/assets``: the pages work where no
other host is reachable. Nothing else is fetched: no web fonts, no validator badge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from . import OperationRoute, Routes

TITLE = "Loss service"
ASSETS = "/docs/assets"
#: The pages may load only what this service serves: the browser does not even try another host
#: (ReDoc's footer links an image on its CDN; offline it would only fail, here it is never asked for).
#: Swagger UI's and ReDoc's pages start them with an inline script and style themselves inline.
SELF_ONLY = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
}


def self_only(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(SELF_ONLY)
    return page


class AssetsMount(Mount):
    """Static files that, like the operations, name their route in the scope (for the metrics' label)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def routes(openapi: Callable[[], dict[str, Any]]) -> Routes:
    async def document(request: Request) -> JSONResponse:
        return JSONResponse(openapi())

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return self_only(
            get_swagger_ui_html(
                openapi_url=root + "/openapi.json",
                title=f"{TITLE} - Swagger UI",
                oauth2_redirect_url=root + "/docs/oauth2-redirect",
                swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
                swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
            )
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return self_only(
            get_redoc_html(
                openapi_url=root + "/openapi.json",
                title=f"{TITLE} - ReDoc",
                redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
                with_google_fonts=False,
            )
        )

    return Routes(
        served=[
            OperationRoute("/openapi.json", document),
            OperationRoute("/docs", swagger_ui),
            OperationRoute("/docs/oauth2-redirect", swagger_ui_redirect),
            OperationRoute("/redoc", redoc),
            AssetsMount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets"),
        ]
    )
