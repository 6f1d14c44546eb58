"""The ASGI application, built by ``create_app()``; ``service.app:app`` is what uvicorn serves."""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.middleware import Middleware

from . import __version__
from .api.middleware import (
    AccessMiddleware,
    AdmissionMiddleware,
    GzipRequestMiddleware,
    GzipResponseMiddleware,
    RequestIdMiddleware,
    drain_on_signals,
)
from .api.openapi import build_openapi
from .api.problems import install_problem_handlers
from .api.routes import allow_methods, batch, docs, explorer, health, losses, v2
from .api.schemas import batch_models, request_model_of, response_model_of
from .engine import CATALOG
from .logs import start_access_log
from .serving import LossService
from .settings import Settings

if TYPE_CHECKING:
    from .rpc import GrpcServer

logger = logging.getLogger("service")
TITLE = "Loss service"
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
    service: LossService = app.state.service
    settings: Settings = app.state.settings
    service.admission.draining = False  # an app started again (a second TestClient) serves again

    def draining() -> bool:
        return service.admission.draining

    stop_access_log = start_access_log()
    grpc_server: GrpcServer | None = None
    if settings.grpc_port:
        from .rpc import GrpcServer  # grpcio and protobuf are loaded only where gRPC is served
        from .rpc.server import address

        grpc_server = GrpcServer(service, settings, ready=lambda: bool(app.state.ready) and not draining())
    try:
        if grpc_server is not None:  # on this worker's event loop; a port it cannot bind fails the start-up
            port = await grpc_server.start()
            logger.info("gRPC (Open Inference Protocol) on %s", address(settings.host, port))
        restore_signals = drain_on_signals(service.admission)
        app.state.ready = True
        try:
            yield
        finally:
            service.admission.drain()  # /readyz answers 503 and gRPC health NOT_SERVING from here on
            app.state.ready = False
            restore_signals()
    finally:
        if grpc_server is not None:
            await grpc_server.stop()  # its calls in flight finish (uvicorn has waited for HTTP's)
        service.close()
        stop_access_log()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    service = LossService(settings)
    parts = {
        "losses": losses.routes(service, settings),
        "v2": v2.routes(service, settings),
        "batch": batch.routes(service, settings),
        "health": health.routes(),
    }
    # The document in the order people read it: health, the losses, batch, the protocol.
    documented = [route for name in ("health", "losses", "batch", "v2") for route in parts[name].documented]
    models = [
        *map(request_model_of, CATALOG),
        *map(response_model_of, CATALOG),
        *batch_models({name: request_model_of(name) for name in CATALOG}),
        *v2.V2_MODELS,
    ]

    @functools.cache
    def openapi() -> dict[str, Any]:
        return build_openapi(TITLE, __version__, DESCRIPTION, documented, models)

    parts["docs"] = docs.routes(openapi)
    parts["explorer"] = explorer.routes()
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(AccessMiddleware, access_log=settings.access_log),
        Middleware(AdmissionMiddleware, admission=service.admission),
        Middleware(GzipRequestMiddleware, settings=settings),
    ]
    if settings.gzip_level:  # inside AccessMiddleware, which counts the bytes actually sent
        middleware.append(Middleware(GzipResponseMiddleware, minimum_size=1024, compresslevel=settings.gzip_level))
    app = FastAPI(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        middleware=middleware,
        # The hot operations first (POST /losses/{name}, /v2 infer): the router tries routes in order.
        routes=[route for part in parts.values() for route in part.served],
        redirect_slashes=False,  # /losses/mse/ is a 404 problem that names /losses/mse, not a bare 307
        openapi_url=None,  # served by routes.docs, with the document built from the catalog
        docs_url=None,
        redoc_url=None,
        # FastAPI's OpenTelemetry hooks look up the global providers on every request, and the image
        # ships no OpenTelemetry SDK; the service's metrics are Prometheus's (GET /metrics), its logs its own.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    allow_methods(app.router.routes)
    app.state.settings = settings
    app.state.service = service
    app.state.ready = False
    app.openapi = openapi  # type: ignore[method-assign]
    install_problem_handlers(app)
    app.add_exception_handler(v2.V2Error, v2.v2_error_response)
    return app


app = create_app()
