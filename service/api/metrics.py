"""HTTP metrics, and the exposition of every metric, correct with one worker process or several.

With several workers, ``python -m service`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before they start; each worker writes its samples there and ``GET /metrics``
aggregates them (prometheus-client multiprocess mode). Labels are route templates, never raw
paths; the computation metrics are the service object's (``service.serving.metrics``).
"""

from __future__ import annotations

import functools
import os
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

from ..serving.metrics import LATENCY_BUCKETS

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["handler", "method", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["handler", "method"], buckets=LATENCY_BUCKETS
)


@functools.cache
def _request_series(handler: str, method: str, status: int) -> tuple[Any, Any]:
    """The labelled children, looked up once per (route, method, status) instead of per request."""
    return HTTP_REQUESTS.labels(handler, method, str(status)), HTTP_DURATION.labels(handler, method)


def count_request(handler: str, method: str, status: int, seconds: float) -> None:
    requests, duration = _request_series(handler, method, status)
    requests.inc()
    duration.observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, aggregated over workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
