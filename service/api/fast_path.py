"""The hot operations straight to their endpoints, past FastAPI's routing and dependency layers.

``POST /losses/<loss>`` and ``POST /v2/models/<loss>/infer`` are most of a busy server's
requests. Through the router each one is matched against every route in turn (~90 of them),
then passes FastAPI's request-handling and dependency machinery, though its endpoint takes
nothing but the ``Request``: skipping both took a small MSE request from ~225 to ~150 µs of
CPU, with its ASGI app called in process. Here a dict keyed by (method, path) sends it to the very same endpoint
function the router would; the route object is still put in the scope, so metrics and
logs label it as before, and the app's own exception handlers answer its errors. Every
other request, and every path not in the table, goes to the app unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorHandler = Callable[[Request, Exception], Response | Awaitable[Response]]


@dataclass(frozen=True)
class DirectRoute:
    """A concrete path's endpoint, and the route the router would have matched (for labels)."""

    route: BaseRoute
    endpoint: Callable[[Request], Awaitable[Response]]


class FastPath:
    """ASGI middleware: requests whose (method, path) is in ``table`` skip the router.

    ``table`` may be filled after the middleware is added (routes are added after the
    middleware stack is declared); it is read on every request. ``error_handlers`` are the
    app's exception handlers for the errors endpoints raise on purpose (anything else
    propagates, as it would from the router, to the server-error handler).
    """

    def __init__(
        self,
        app: ASGIApp,
        table: Mapping[tuple[str, str], DirectRoute],
        error_handlers: Mapping[type[Exception], ErrorHandler],
    ) -> None:
        self.app = app
        self.table = table
        self.error_handlers = error_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = self.table.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if direct is None or scope.get("root_path"):  # under a prefix, the router knows how to strip it
            await self.app(scope, receive, send)
            return
        scope["route"] = direct.route
        scope["path_params"] = {}
        request = Request(scope, receive, send)
        try:
            response = await direct.endpoint(request)
        except Exception as error:
            handler = self._handler_for(error)
            if handler is None:
                raise
            answer = handler(request, error)
            response = answer if isinstance(answer, Response) else await answer
        await response(scope, receive, send)

    def _handler_for(self, error: Exception) -> ErrorHandler | None:
        for kind in type(error).__mro__:
            if kind is Exception:  # a bug: the server-error layer logs it and answers 500
                return None
            handler = self.error_handlers.get(kind)
            if handler is not None:
                return handler
        return None
