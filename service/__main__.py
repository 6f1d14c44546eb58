"""``python -m service``: serve the API with uvicorn, and the Open Inference Protocol over gRPC.

``--host``, ``--port``, ``--grpc-port`` and ``--workers`` override the ``LOSS_SERVICE_*``
environment variables. Each worker process serves both ports: uvicorn's workers share its HTTP
socket, and each worker binds the gRPC port with ``SO_REUSEPORT`` (``service/rpc/server.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile

import uvicorn
from pydantic import ValidationError

from .logs import uvicorn_log_config
from .settings import GRACEFUL_SHUTDOWN_SECONDS, Settings


def main(argv: list[str] | None = None) -> None:
    try:
        defaults = Settings()
    except ValidationError as error:  # fail fast, and say which variable is wrong
        sys.exit(f"invalid LOSS_SERVICE_* setting:\n{error}")
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=defaults.host, help=f"interface to bind (default {defaults.host})")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"TCP port (default {defaults.port})")
    parser.add_argument(
        "--grpc-port", type=int, default=defaults.grpc_port, help=f"gRPC port, 0: none (default {defaults.grpc_port})"
    )
    parser.add_argument("--workers", type=int, default=defaults.workers, help=f"processes (default {defaults.workers})")
    args = parser.parse_args(argv)
    # Workers import the app afresh and read their settings from the environment.
    os.environ.update(
        LOSS_SERVICE_HOST=args.host,
        LOSS_SERVICE_PORT=str(args.port),
        LOSS_SERVICE_GRPC_PORT=str(args.grpc_port),
        LOSS_SERVICE_WORKERS=str(args.workers),
    )
    try:
        settings = Settings()
    except ValidationError as error:
        sys.exit(f"invalid option:\n{error}")
    if settings.workers > 1 and settings.grpc_port:
        taken = _taken(settings.host, settings.grpc_port)
        if taken:
            sys.exit(taken)
    metrics_dir = None
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # given: make sure it exists before workers write to it
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    elif settings.workers > 1:
        # Each worker writes its metrics here; GET /metrics (in any worker) adds them up.
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="loss-service-metrics-")
    # uvicorn re-raises the SIGTERM it drained on once it is done; with this handler in place
    # that ends the process with status 0, a clean exit, rather than death by signal (143).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        _serve(settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _taken(host: str, port: int) -> str | None:
    """Why the gRPC port cannot be bound, or None.

    With several workers each binds it with ``SO_REUSEPORT``, which would also join a port that
    another server holds the same way, sharing its connections; one exclusive bind here, before
    the workers start, fails instead (a single worker binds exclusively itself).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc does: TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError as error:
            return f"cannot serve gRPC on {host}:{port}: {error.strerror}"
    return None


def _serve(settings: Settings) -> None:
    uvicorn.run(
        "service.app:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=uvicorn_log_config(settings.log_level),
        access_log=False,  # the service logs its own JSON line per request (LOSS_SERVICE_ACCESS_LOG)
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


if __name__ == "__main__":
    main()
