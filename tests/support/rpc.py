"""Raw gRPC calls for the tests: one call's outcome, a call held in flight, the server's in-flight count."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx

from tests.support.http import ServerProcess
from tests.support.metrics import sample, scrape

INFER = "/inference.GRPCInferenceService/ModelInfer"


def call(channel: Any, data: bytes, path: str = INFER, metadata: Any = None) -> tuple[Any, str, Any, Any]:
    """(code, details, trailing metadata, response bytes) of one raw call."""
    method = channel.unary_unary(path)
    try:
        response, status = method.with_call(data, timeout=30, metadata=metadata)
    except grpc.RpcError as error:
        return error.code(), error.details(), error.trailing_metadata(), None
    return grpc.StatusCode.OK, "", status.trailing_metadata(), response


def held_call(channel: Any, data: bytes) -> tuple[threading.Thread, threading.Event, dict[str, Any]]:
    """A ModelInfer call whose message is held back until the event is set (a client-streaming call with
    one message: on the wire, a unary call whose message is slow to arrive)."""
    release, outcome = threading.Event(), {}

    def one_message() -> Iterator[bytes]:
        release.wait(timeout=30)
        yield data

    def run() -> None:
        try:
            outcome["response"] = channel.stream_unary(INFER)(one_message(), timeout=60)
        except grpc.RpcError as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, release, outcome


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def in_flight(server: ServerProcess) -> float:
    """``loss_requests_in_flight``: the requests the server has admitted and not yet answered."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        return sample(scrape(http), "loss_requests_in_flight")
