"""Routes by resource, one per operation.

Each module's ``routes`` gives the routes the app serves and the operations the OpenAPI
document describes: the document has one operation per loss (each with its own request and
response schema, generated from the catalog) though a single route serves them all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from ...serving import Answer, Body
from ...settings import Settings
from ..body import read_body

Handler = Callable[[Scope, Receive], Awaitable[Answer]]
"""A computation's endpoint: the answer to the request in the scope, its body read from ``receive``."""


class Operation:
    """A computation's endpoint as a plain ASGI app, which is how Starlette's ``Route`` calls anything
    but a function: no ``Request`` object and no second exception wrapper per request. What it
    raises reaches the app's exception handlers (``ExceptionMiddleware``) as a function's would."""

    __slots__ = ("handle",)

    def __init__(self, handle: Handler) -> None:
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await response(await self.handle(scope, receive))(scope, receive, send)


class OperationRoute(Route):
    """A Starlette route that names itself in the scope when it matches, as FastAPI's own routes do:
    the metrics label it by its path template and a 405 lists its path's methods."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


@dataclass
class Routes:
    served: list[BaseRoute] = field(default_factory=list)
    documented: list[BaseRoute] = field(default_factory=list)


def allow_methods(routes: Iterable[BaseRoute]) -> None:
    """Give each route the methods its path offers across routes, for a 405's ``Allow`` (Starlette names only
    the matched route's own)."""
    routes = list(routes)
    methods: dict[str, set[str]] = defaultdict(set)
    for route in routes:
        if isinstance(route, Route) and route.methods:
            methods[route.path] |= route.methods
    for route in routes:
        if isinstance(route, Route):
            route.allowed = sorted(methods[route.path])  # type: ignore[attr-defined]


def body_reader(scope: Scope, receive: Receive, settings: Settings) -> Callable[[], Awaitable[Body]]:
    """The request's body, read when the service asks for it (413, 408 as ``read_body`` says)."""

    async def read() -> Body:
        return Body(await read_body(scope, receive, settings.max_body_bytes, settings.request_timeout_seconds))

    return read


def response(answer: Answer) -> Response:
    return Response(answer.content, answer.status, answer.headers, media_type=answer.media_type)
