"""Where the work runs (``service/serving/placement.py``): a helper process answers what the worker answers.

The threshold is lowered to 1 KiB so that small test bodies go to the helpers, and every answer is
compared with the same request computed in the worker (helpers off): same status, same bytes.
Metrics count each computation once, in the worker; a helper dying during a request costs that request a
503 and the next gets a fresh one, one that died between requests costs none; shared memory segments
do not outlive their request.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.serving import Body, Meta, Refused
from service.serving.placement import Helpers
from service.settings import Settings

JSON = {"content-type": "application/json"}


@contextmanager
def another_request_in_flight(app: Any) -> Iterator[None]:
    """Helpers take a large body only while the worker has other requests in flight: pretend one is."""
    app.state.service.admission.in_flight += 1
    try:
        yield
    finally:
        app.state.service.admission.in_flight -= 1


def helper_pids(app: Any) -> set[int]:
    executor = app.state.service.placement.helpers._executor
    return set() if executor is None else set(executor._processes)


def segments() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("psm_*")}


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


def v2(**tensors: list[list[float]]) -> bytes:
    inputs = [{"name": k, "shape": [40, 5], "datatype": "FP64", "data": v} for k, v in tensors.items()]
    return orjson.dumps({"id": "x", "parameters": {"return_grad": True}, "inputs": inputs})


REQUESTS: list[tuple[str, bytes]] = [
    # the answers
    ("/losses/mse", body(y_true=rows(1), y_pred=rows(2), return_grad=True)),
    (
        "/losses/binary_crossentropy",
        body(y_true=probabilities(3), y_pred=rows(4), params={"from_logits": True}, reduction="sum", return_grad=True),
    ),
    ("/batch", orjson.dumps({"items": [{"loss": "mse", "y_true": rows(5), "y_pred": rows(6)}, {"loss": "nope"}]})),
    ("/v2/models/mse/infer", v2(y_true=rows(7), y_pred=rows(8))),
    # the problems: ragged (422 with a pointer), not JSON (400), unknown field (422), float32 overflow (422)
    ("/losses/mse", body(y_true=rows(5), y_pred=[*rows(6)[:-1], [1.0]])),
    ("/losses/mse", body(y_true=rows(7), y_pred=rows(7)).replace(b"]]}", b", NaN]]}")),
    ("/losses/mse", body(y_true=rows(8), y_pred=rows(9), colour="blue")),
    ("/losses/mse", body(y_true=[[1e300] * 5] * 40, y_pred=rows(10), dtype="float32")),
    ("/v2/models/mse/infer", v2(y_true=rows(7), y_pred=rows(8))[:-2]),
    # what the simdjson path declines: a byte order mark (400), a repeated key (the last wins), a NUL in a key
    ("/losses/mse", b"\xef\xbb\xbf" + body(y_true=rows(11), y_pred=rows(12))),
    ("/losses/mse", body(y_true=rows(13), y_pred=rows(14))[:-1] + b', "y_pred": ' + orjson.dumps(rows(15)) + b"}"),
    ("/losses/mse", body(y_true=rows(13), y_pred=rows(14))[:-1] + b', "y_pred\\u0000": 1}'),
]


@pytest.mark.parametrize(("path", "content"), REQUESTS)
def test_a_helper_answers_what_the_worker_answers(
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


def test_the_work_happens_in_another_process_and_leaves_no_shared_memory(
    clients: tuple[TestClient, TestClient, Any],
) -> None:
    far, _, app = clients
    before = segments()
    for path, content in REQUESTS:
        far.post(path, content=content, headers=JSON)
    pids = helper_pids(app)
    assert pids and os.getpid() not in pids
    assert segments() <= before


def metric(client: TestClient, name: str, labels: str) -> float:
    found = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", client.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def test_each_computation_is_counted_once_in_the_worker(clients: tuple[TestClient, TestClient, Any]) -> None:
    far, _, _ = clients
    names = [
        ("loss_computations_total", 'loss="mse",protocol="losses",status="200"'),
        ("loss_computations_total", 'loss="mse",protocol="losses",status="422"'),
        ("loss_compute_seconds_count", 'loss="mse"'),
    ]
    before = [metric(far, *name) for name in names]
    assert far.post("/losses/mse", content=REQUESTS[0][1], headers=JSON).status_code == 200
    assert far.post("/losses/mse", content=REQUESTS[4][1], headers=JSON).status_code == 422
    after = [metric(far, *name) for name in names]
    assert after == [before[0] + 1, before[1] + 1, before[2] + 1]


def test_alone_a_large_body_is_computed_in_the_worker() -> None:
    app = create_app(Settings(process_offload_bytes=1024, offload_processes=1))
    with TestClient(app) as client:
        assert client.post("/losses/mse", content=REQUESTS[0][1], headers=JSON).status_code == 200
        assert not helper_pids(app)


def test_a_helper_dead_between_requests_costs_no_request() -> None:
    """The pool broke while idle (the helper was killed): the next request gets a new pool and its answer."""
    app = create_app(Settings(process_offload_bytes=1024, offload_processes=1))
    with TestClient(app) as client, another_request_in_flight(app):
        assert client.post("/losses/mse", content=REQUESTS[0][1], headers=JSON).status_code == 200
        dead = helper_pids(app)
        for pid in dead:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30  # the pool has seen it once it has reaped the process
        while any(Path(f"/proc/{pid}").exists() for pid in dead) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.post("/losses/mse", content=REQUESTS[0][1], headers=JSON).status_code == 200
        assert helper_pids(app) and not helper_pids(app) & dead


@dataclass(frozen=True)
class DyingCodec:
    """A codec whose decode kills the process it runs in: a helper dying in the middle of a request."""

    def parses_json(self, meta: Meta) -> bool:
        return True

    def decode(self, loss: str | None, body: Body, meta: Meta) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    def failure(self, error: Exception, meta: Meta) -> Any:
        raise error


def test_a_helper_dying_during_a_request_is_a_503_and_then_replaced() -> None:
    from service.api.codecs import LossesCodec

    helpers = Helpers(1, retry_after_seconds=3)
    try:
        with pytest.raises(Refused) as caught:
            asyncio.run(helpers.respond(DyingCodec(), "mse", Body(b"{}"), {}, 100))  # type: ignore[arg-type]
        assert (caught.value.status, caught.value.kind, caught.value.retry_after) == (503, "overloaded", 3)
        assert "ended before answering" in caught.value.detail
        answer = asyncio.run(helpers.respond(LossesCodec(), "mse", Body(REQUESTS[0][1]), {}, 10_000))
        assert answer.status == 200 and orjson.loads(answer.content)["name"] == "mse"
    finally:
        helpers.close()


@dataclass(frozen=True)
class FailingCodec:
    """A codec with a bug: its decode raises what no codec answers."""

    def parses_json(self, meta: Meta) -> bool:
        return True

    def decode(self, loss: str | None, body: Body, meta: Meta) -> Any:
        raise RuntimeError(f"a bug, in process {os.getpid()}")

    def failure(self, error: Exception, meta: Meta) -> Any:
        raise error


def test_a_bug_in_a_helper_is_raised_in_the_worker_and_the_helper_lives_on() -> None:
    helpers = Helpers(1, retry_after_seconds=1)
    try:
        with pytest.raises(RuntimeError, match="a bug, in process") as caught:
            asyncio.run(helpers.respond(FailingCodec(), "mse", Body(b"{}"), {}, 100))  # type: ignore[arg-type]
        assert str(os.getpid()) not in str(caught.value)
        from service.api.codecs import LossesCodec

        answer = asyncio.run(helpers.respond(LossesCodec(), "mse", Body(REQUESTS[0][1]), {}, 10_000))
        assert answer.status == 200 and orjson.loads(answer.content)["name"] == "mse"
    finally:
        helpers.close()
