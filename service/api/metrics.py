"""Prometheus metrics, correct with one worker process or several (prometheus-client multiprocess mode).

With several workers, ``python -m service`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before they start; each worker writes its samples there and ``GET /metrics``
aggregates them. Labels are route templates and loss names, never raw paths.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["handler", "method", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["handler", "method"], buckets=_LATENCY_BUCKETS
)
LOSS_COMPUTATIONS = Counter("loss_computations_total", "Loss computations by outcome", ["loss", "status"])
LOSS_SECONDS = Histogram(
    "loss_compute_seconds", "Time in the engine per computation", ["loss"], buckets=_LATENCY_BUCKETS
)
ELEMENTS = Histogram(
    "loss_request_elements",
    "Array elements per computation (all inputs together)",
    buckets=tuple(10.0**k for k in range(1, 9)),
)


@functools.cache
def _request_series(handler: str, method: str, status: int) -> tuple[Any, Any]:
    """The labelled children, looked up once per (route, method, status) instead of per request."""
    return HTTP_REQUESTS.labels(handler, method, str(status)), HTTP_DURATION.labels(handler, method)


def count_request(handler: str, method: str, status: int, seconds: float) -> None:
    requests, duration = _request_series(handler, method, status)
    requests.inc()
    duration.observe(seconds)


@functools.cache
def _computations(loss: str, status: str) -> Any:
    return LOSS_COMPUTATIONS.labels(loss, status)


@functools.cache
def _engine_seconds(loss: str) -> Any:
    return LOSS_SECONDS.labels(loss)


class count_computation:
    """Count one request to compute ``loss`` by its outcome: 200, or the status of the error raised.

    A class rather than ``@contextmanager``: it is entered on every request, and a generator
    costs microseconds more.
    """

    __slots__ = ("loss",)

    def __init__(self, loss: str) -> None:
        self.loss = loss

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        if error is None:
            _computations(self.loss, "200").inc()
        elif isinstance(error, Exception):  # not a cancellation or an exit
            _computations(self.loss, str(getattr(error, "status", 500))).inc()


def record_engine(loss: str, elements: int, seconds: float) -> None:
    """One engine run of ``loss`` on ``elements`` array elements that took ``seconds``."""
    ELEMENTS.observe(elements)
    _engine_seconds(loss).observe(seconds)


class time_engine:
    """Time the engine on ``loss`` and record the request's element count."""

    __slots__ = ("loss", "start")

    def __init__(self, loss: str, elements: int) -> None:
        ELEMENTS.observe(elements)
        self.loss = loss
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        if error is None:
            _engine_seconds(self.loss).observe(time.perf_counter() - self.start)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, aggregated over workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
