"""The ASGI application, built by ``create_app()``; ``service.app:app`` is what uvicorn serves."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from . import __version__
from .api.dispatch import Dispatcher
from .api.fast_path import DirectRoute, FastPath
from .api.middleware import Admission, ServiceMiddleware, drain_on_signals
from .api.offload import ProcessOffload
from .api.openapi import build_openapi
from .api.problems import install_problem_handlers
from .api.routes import batch, health, losses, v2
from .api.schemas import batch_models
from .engine import CATALOG
from .settings import Settings

DESCRIPTION = """\
Loss values and gradients, exactly as PyTorch and Keras compute them, for clients in any language.

POST a batch to `/losses/{name}`; `GET /losses` lists the losses with their inputs and parameters.
Errors are `application/problem+json` (RFC 9457) with JSON pointers into the request.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Objects made at start-up live for the process: freezing them keeps the collector
    # from re-scanning them on every large request's millions of list items.
    gc.collect()
    gc.freeze()
    admission: Admission = app.state.admission
    offload: ProcessOffload = app.state.offload
    admission.draining = False  # an app started again (a second TestClient) serves again
    restore_signals = drain_on_signals(admission)
    app.state.ready = True
    try:
        yield
    finally:
        admission.draining = True  # /readyz answers 503 from here on
        app.state.ready = False
        restore_signals()
        offload.close()  # in-flight requests are done: uvicorn waited for them


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="Loss service", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.ready = False
    app.state.admission = admission = Admission()
    install_problem_handlers(app)
    # Innermost of the middleware (added first): the hot operations' endpoints, filled in below.
    direct_routes: dict[tuple[str, str], DirectRoute] = {}
    app.add_middleware(FastPath, table=direct_routes, error_handlers=app.exception_handlers)
    if settings.gzip_level:  # inside ServiceMiddleware, which counts the bytes actually sent
        app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=settings.gzip_level)
    app.add_middleware(ServiceMiddleware, settings=settings, admission=admission, routes=app.router.routes)
    # Routes go on the app's own router (not included sub-routers), so that a 405's Allow
    # header can list every method a path offers.
    dispatcher = Dispatcher(CATALOG, settings.max_elements)
    app.state.offload = offload = ProcessOffload(settings, admission)
    health.add_routes(app.router)
    direct_routes.update(losses.add_routes(app.router, dispatcher, settings, offload))
    batch.add_routes(app.router, dispatcher, settings)
    direct_routes.update(v2.add_routes(app.router, dispatcher, settings))
    app.add_exception_handler(v2.V2Error, lambda request, error: error.response())  # type: ignore[arg-type, return-value]
    models = [
        *dispatcher.requests.values(),
        *dispatcher.results.values(),
        *batch_models(dispatcher.requests),
        *v2.V2_MODELS,
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, models)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
