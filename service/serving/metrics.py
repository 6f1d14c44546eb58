"""The computation metrics, recorded once per computation by the service object, whatever the protocol."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from .pipeline import Computed

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LOSS_COMPUTATIONS = Counter(
    "loss_computations_total", "Loss computations by outcome and protocol", ["loss", "status", "protocol"]
)
LOSS_SECONDS = Histogram(
    "loss_compute_seconds", "Time in the engine per computation", ["loss"], buckets=LATENCY_BUCKETS
)
IN_FLIGHT = Gauge(
    "loss_requests_in_flight",
    "Requests admitted and not yet answered, over every protocol (the count max_concurrency bounds)",
    multiprocess_mode="livesum",
)
ELEMENTS = Histogram(
    "loss_request_elements",
    "Array elements per computation (all inputs together)",
    buckets=tuple(10.0**k for k in range(1, 9)),
)


@functools.cache
def _outcomes(loss: str, status: int, protocol: str) -> Any:
    """The labelled child, looked up once per (loss, status, protocol) rather than per request."""
    return LOSS_COMPUTATIONS.labels(loss, str(status), protocol)


@functools.cache
def _engine_seconds(loss: str) -> Any:
    return LOSS_SECONDS.labels(loss)


def record(computed: Iterable[Computed], protocol: str) -> None:
    """Count ``computed``, which came in ``protocol`` (a codec's ``protocol``: losses, batch, v2, grpc)."""
    for item in computed:
        _outcomes(item.loss, item.status, protocol).inc()
        if item.elements is not None:
            ELEMENTS.observe(item.elements)
        if item.seconds is not None:
            _engine_seconds(item.loss).observe(item.seconds)
