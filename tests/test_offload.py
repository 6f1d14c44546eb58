"""Large JSON bodies computed in an offload process (``service/api/offload.py``).

The threshold is lowered to 1 KiB so that small test bodies take that path, and every answer
is compared with the same request computed in the worker (offload off): same status, same
bytes. Metrics count each computation once, in the worker; a dead offload process costs its
requests a 503 and the next request gets a fresh process.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

JSON = {"content-type": "application/json"}


@contextmanager
def another_request_in_flight(app: Any) -> Iterator[None]:
    """Helpers take a large body only while the worker has other requests in flight: pretend one is."""
    app.state.admission.in_flight += 1
    try:
        yield
    finally:
        app.state.admission.in_flight -= 1


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[TestClient, TestClient, Any]]:
    offloading = create_app(Settings(process_offload_bytes=1024, offload_processes=1))
    local = create_app(Settings(offload_processes=0))
    with TestClient(offloading) as far, TestClient(local) as near, another_request_in_flight(offloading):
        yield far, near, offloading


def rows(seed: int, shape: tuple[int, int] = (40, 5)) -> list[list[float]]:
    return np.random.default_rng(seed).standard_normal(shape).tolist()


def probabilities(seed: int) -> list[list[float]]:
    return np.random.default_rng(seed).random((40, 5)).tolist()


def body(**fields: Any) -> bytes:
    return orjson.dumps(fields)


BODIES: list[bytes] = [
    # the answers
    body(y_true=rows(1), y_pred=rows(2), return_grad=True),
    body(y_true=probabilities(3), y_pred=rows(4), params={"from_logits": True}, reduction="sum", return_grad=True),
    # the problems: ragged (422 with a pointer), not JSON (400), unknown field (422), float32 overflow (422)
    body(y_true=rows(5), y_pred=[*rows(6)[:-1], [1.0]]),
    body(y_true=rows(7), y_pred=rows(7)).replace(b"]]}", b", NaN]]}"),
    body(y_true=rows(8), y_pred=rows(9), colour="blue"),
    body(y_true=[[1e300] * 5] * 40, y_pred=rows(10), dtype="float32"),
    # what the simdjson path declines, read from the helper's shared memory: a byte order mark (400), a
    # repeated key (the last wins)
    b"\xef\xbb\xbf" + body(y_true=rows(11), y_pred=rows(12)),
    body(y_true=rows(13), y_pred=rows(14))[:-1] + b', "y_pred": ' + orjson.dumps(rows(15)) + b"}",
]
PATHS = ["/losses/mse", "/losses/binary_crossentropy", *["/losses/mse"] * 6]


@pytest.mark.parametrize(("path", "content"), list(zip(PATHS, BODIES, strict=True)))
def test_offloaded_answers_are_the_workers_answers(
    clients: tuple[TestClient, TestClient, Any], path: str, content: bytes
) -> None:
    far, near, _ = clients
    assert len(content) >= 1024
    headers = {**JSON, "x-request-id": "same"}
    offloaded = far.post(path, content=content, headers=headers)
    local = near.post(path, content=content, headers=headers)
    assert offloaded.status_code == local.status_code
    assert offloaded.headers["content-type"] == local.headers["content-type"]
    assert offloaded.content == local.content


def test_the_work_happens_in_another_process(clients: tuple[TestClient, TestClient, Any]) -> None:
    far, _, app = clients
    assert far.post("/losses/mse", content=BODIES[0], headers=JSON).status_code == 200
    helpers = app.state.offload._helpers
    assert helpers
    assert all(helper.process.is_alive() and helper.process.pid != os.getpid() for helper in helpers)


def metric(client: TestClient, name: str, labels: str) -> float:
    found = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", client.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def test_each_computation_is_counted_once_in_the_worker(clients: tuple[TestClient, TestClient, Any]) -> None:
    far, _, _ = clients
    ok = 'loss="mse",status="200"'
    bad = 'loss="mse",status="422"'
    before = (
        metric(far, "loss_computations_total", ok),
        metric(far, "loss_computations_total", bad),
        metric(far, "loss_compute_seconds_count", 'loss="mse"'),
    )
    assert far.post("/losses/mse", content=BODIES[0], headers=JSON).status_code == 200
    assert far.post("/losses/mse", content=BODIES[2], headers=JSON).status_code == 422
    after = (
        metric(far, "loss_computations_total", ok),
        metric(far, "loss_computations_total", bad),
        metric(far, "loss_compute_seconds_count", 'loss="mse"'),
    )
    assert after == (before[0] + 1, before[1] + 1, before[2] + 1)


def test_alone_a_large_body_is_computed_in_the_worker() -> None:
    app = create_app(Settings(process_offload_bytes=1024, offload_processes=1))
    with TestClient(app) as client:
        assert client.post("/losses/mse", content=BODIES[0], headers=JSON).status_code == 200
        assert not app.state.offload._helpers


def test_a_dead_offload_process_is_a_503_and_then_replaced() -> None:
    app = create_app(Settings(process_offload_bytes=1024, offload_processes=1))
    with TestClient(app) as client, another_request_in_flight(app):
        assert client.post("/losses/mse", content=BODIES[0], headers=JSON).status_code == 200
        for helper in list(app.state.offload._helpers):
            os.kill(helper.process.pid, signal.SIGKILL)
            helper.process.join(timeout=10)
        refused = client.post("/losses/mse", content=BODIES[0], headers=JSON)
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        assert refused.json()["type"].endswith(":overloaded")
        assert client.post("/losses/mse", content=BODIES[0], headers=JSON).status_code == 200


def test_a_bug_in_the_helper_is_raised_in_the_worker_and_the_helper_lives_on() -> None:
    """A request the helper cannot even map (it claims more bytes than its memory file holds) is a bug report."""
    from multiprocessing import reduction

    from service.api.offload import _Helper, _share

    helper = _Helper(1 << 20)
    try:
        shared = _share(b"{}", "test")
        helper.connection.send_bytes(orjson.dumps({"name": "mse", "size": 1 << 20}))
        reduction.send_handle(helper.connection, shared, helper.process.pid or 0)
        os.close(shared)
        outcome = orjson.loads(helper.connection.recv_bytes())
        assert "Traceback" in outcome["bug"]
        outcome, content = helper.exchange("mse", [bytearray(BODIES[0])])
        assert "ok" in outcome
        assert orjson.loads(content)["name"] == "mse"
    finally:
        helper.close()
