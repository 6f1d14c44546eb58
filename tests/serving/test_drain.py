"""Graceful drain: on SIGTERM in-flight requests finish, new work is refused, /readyz turns 503.

The same for gRPC: a ModelInfer call in flight finishes, new ones are UNAVAILABLE, the health
service answers NOT_SERVING (then, once the gRPC server has stopped, nothing: UNAVAILABLE).

The live test holds a large MSE request in flight on a real server (its body is released only
after the signal, so the whole computation happens during the drain), signals the server, and
checks what clients see. The in-process test raises the real signal in this (main) thread, where
the app's lifespan installs its handler, so that /readyz can be watched turning 503
deterministically; on a real server the window in which an idle keep-alive connection can still
ask is at most one uvicorn tick (0.1 s) before uvicorn closes idle connections.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.app import create_app
from service.rpc import protocol as pb
from service.settings import Settings
from tests.support.http import ServerProcess, free_port, read_response
from tests.support.rpc import INFER, call, held_call, in_flight, wait_until

JSON = {"content-type": "application/json"}
PROBLEM_JSON = "application/problem+json"
ELEMENTS = 1_000_000  # per input: 2e6 numbers in the body
EXPECTED_SUM = 312_500.0  # y_true alternates 0 and 1, y_pred is 0.25: (0.0625 + 0.5625) / 2 per element


def big_mse_body() -> bytes:
    y_true = ",".join(["0,1"] * (ELEMENTS // 2))
    y_pred = ",".join(["0.25"] * ELEMENTS)
    return f'{{"y_true":[{y_true}],"y_pred":[{y_pred}],"reduction":"sum"}}'.encode()


def get(sock: socket.socket, path: str) -> tuple[int, dict[str, str], bytes] | None:
    """GET on an open keep-alive connection; None if the server has closed it."""
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    except OSError:
        return None
    return read_response(sock)


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as running:
        yield running


def test_sigterm_lets_the_in_flight_request_finish_and_refuses_new_ones(server: ServerProcess) -> None:
    body = big_mse_body()
    first_part, rest = body[:65536], body[65536:]
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def chunks() -> Iterator[bytes]:
        yield first_part
        started.set()  # httpx has sent the headers and the first chunk
        release.wait(timeout=30)
        for i in range(0, len(rest), 2**20):
            yield rest[i : i + 2**20]

    def send_big_request() -> None:
        try:
            with httpx.Client(timeout=60) as http:
                outcome["response"] = http.post(f"{server.url}/losses/mse", content=chunks(), headers=JSON)
        except Exception as error:  # reported by the assertions below
            outcome["error"] = error

    # An idle keep-alive connection, opened before the signal, to ask /readyz during the drain.
    keep_alive = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sender = threading.Thread(target=send_big_request, daemon=True)
    try:
        assert (answer := get(keep_alive, "/readyz")) is not None and answer[0] == 200
        sender.start()
        assert started.wait(timeout=10), "the large request did not start"
        time.sleep(0.5)  # let the server read its headers: the request is in flight
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)

        # /readyz on the open connection: 200 until the signal is handled, then 503 until uvicorn
        # closes idle connections, one tick (<= 0.1 s) later. The first probe after the signal got
        # 503 in every run so far; a close is accepted too, as a slow machine may miss the window.
        readiness: list[int] = []
        closed = False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            answer = get(keep_alive, "/readyz")
            if answer is None:
                closed = True
                break
            readiness.append(answer[0])
            if answer[0] != 200:
                assert answer[0] == 503, answer
                assert answer[1]["retry-after"] == "1"
                assert json.loads(answer[2]) == {"status": "unavailable"}
                break
        assert closed or readiness[-1:] == [503], f"/readyz answered {readiness} for 5 s after SIGTERM"

        # The signal is handled: a new connection is refused once uvicorn has closed its socket,
        # and until then a new computation is refused with 503.
        refused = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with httpx.Client(timeout=5) as fresh:
                    response = fresh.post(f"{server.url}/losses/mse", json={"y_true": [1.0], "y_pred": [1.0]})
            except httpx.TransportError:
                refused = True
                break
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.json()["type"] == "urn:loss-service:problem:draining"
            time.sleep(0.02)
        assert refused, "new connections were still accepted 10 s after SIGTERM"

        # The in-flight request is computed during the drain and answered in full.
        release.set()
        sender.join(timeout=60)
        assert not sender.is_alive(), "the in-flight request did not finish"
        assert "error" not in outcome, outcome.get("error")
        response = outcome["response"]
        assert response.status_code == 200, response.text
        assert response.json() == {"name": "mse", "reduction": "sum", "dtype": "float64", "loss": EXPECTED_SUM}

        returncode = server.process.wait(timeout=30)
    finally:
        release.set()
        keep_alive.close()
        sender.join(timeout=5)
    # Graceful: uvicorn finished (lifespan shutdown ran) and exited on its own. A single-worker
    # uvicorn re-raises SIGTERM once done, so the exit is 0 or "terminated by SIGTERM" (see below).
    assert returncode in (0, -signal.SIGTERM), returncode
    records = server.log_records()
    messages = [record.get("message", "") for record in records]
    assert "Application shutdown complete." in messages
    assert any(message.startswith("Finished server process") for message in messages)
    big = [r for r in records if r.get("path") == "/losses/mse" and r.get("status") == 200]
    assert len(big) == 1
    assert big[0]["request_id"] == response.headers["x-request-id"]


def test_exit_code_is_zero_after_a_graceful_sigterm(server: ServerProcess) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0


def grpc_mse_message(elements: int, reduction: str = "sum") -> bytes:
    """ModelInfer for MSE with y_true alternating 0 and 1, y_pred 0.25 (as ``big_mse_body``), raw FP64."""
    request = pb.ModelInferRequest(model_name="mse")
    request.parameters["reduction"].string_param = reduction
    y_true, y_pred = np.tile([0.0, 1.0], elements // 2), np.full(elements, 0.25)
    for name, array in (("y_true", y_true), ("y_pred", y_pred)):
        request.inputs.add(name=name, datatype="FP64", shape=[elements])
        request.raw_input_contents.append(array.tobytes())
    return bytes(request.SerializeToString())


def grpc_loss(response: bytes) -> float:
    parsed = pb.ModelInferResponse.FromString(response)
    assert [o.name for o in parsed.outputs] == ["loss"]
    return float(np.frombuffer(parsed.raw_output_contents[0], dtype=np.float64)[0])


def test_sigterm_lets_the_grpc_call_in_flight_finish_and_refuses_new_ones(server: ServerProcess) -> None:
    small = grpc_mse_message(2)
    with grpc.insecure_channel(server.grpc) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        # A call admitted before the signal whose 16 MB message arrives only after it: computed during the drain.
        thread, release, outcome = held_call(channel, grpc_mse_message(ELEMENTS))
        try:
            assert wait_until(lambda: in_flight(server) == 1), "the held call was not admitted"
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)

            # Health: SERVING until the signal is handled, then NOT_SERVING until the gRPC server stops
            # (right away here: no HTTP request is in flight for uvicorn to wait for), then no answer.
            seen: list[str] = []

            def not_serving() -> bool:
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                    seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
                except grpc.RpcError as error:
                    seen.append(error.code().name)
                return seen[-1] != "SERVING"

            assert wait_until(not_serving), f"health answered {seen[-3:]} for 10 s after SIGTERM"
            assert seen[-1] in ("NOT_SERVING", "UNAVAILABLE"), seen
            # New calls are refused: by the admission while the server drains, then by grpc as it stops.
            code, details, _, _ = call(channel, small)
            assert code == grpc.StatusCode.UNAVAILABLE, f"{code}: {details}"
        finally:
            release.set()
            thread.join(timeout=60)
        assert not thread.is_alive(), "the call in flight did not finish"
        assert "error" not in outcome, outcome.get("error")
        assert grpc_loss(outcome["response"]) == EXPECTED_SUM
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    messages = [record.get("message", "") for record in server.log_records()]
    assert "Application shutdown complete." in messages
    infers = [r for r in server.log_records() if r.get("path") == INFER]
    assert [r["grpc_code"] for r in infers if r["grpc_code"] == "OK"] == ["OK"]  # the call in flight


# --- in-process: the real signal handler, driven in this thread ---------------------------------


async def _drain_scenario(app: Any, sig: signal.Signals) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    release = asyncio.Event()
    body = json.dumps({"y_true": [0.0, 1.0], "y_pred": [1.0, 1.0], "reduction": "sum"}).encode()

    async def held_body() -> AsyncIterator[bytes]:
        yield body[:8]
        await asyncio.wait_for(release.wait(), timeout=20)
        yield body[8:]

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
            seen["ready_before"] = await http.get("/readyz")
            held = asyncio.create_task(http.post("/losses/mse", content=held_body(), headers=JSON))
            try:
                for _ in range(2000):
                    if app.state.service.admission.in_flight == 1:
                        break
                    await asyncio.sleep(0.005)
                assert app.state.service.admission.in_flight == 1
                signal.raise_signal(sig)  # handled here, in the main thread, before the next line
                seen["readyz"] = await http.get("/readyz")
                seen["v2_ready"] = await http.get("/v2/health/ready")
                seen["post"] = await http.post("/losses/mse", json={"y_true": [1.0], "y_pred": [1.0]})
                seen["v2_infer"] = await http.post("/v2/models/mse/infer", json={"inputs": []})
                seen["livez"] = await http.get("/livez")
                seen["metrics"] = await http.get("/metrics")
            finally:
                release.set()
            seen["held"] = await asyncio.wait_for(held, timeout=20)
    return seen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_turns_readyz_503_and_refuses_new_work_in_process(sig: signal.Signals) -> None:
    received: list[int] = []

    def stand_in_for_uvicorn(signum: int, frame: object) -> None:
        received.append(signum)  # uvicorn's handler, which the app's handler chains to

    previous = signal.signal(sig, stand_in_for_uvicorn)
    try:
        app = create_app(Settings(retry_after_seconds=3))
        seen = asyncio.run(_drain_scenario(app, sig))
        assert signal.getsignal(sig) is stand_in_for_uvicorn  # the lifespan put the handler back
    finally:
        signal.signal(sig, previous)

    assert received == [sig]
    assert seen["ready_before"].status_code == 200
    readyz = seen["readyz"]
    assert readyz.status_code == 503
    assert readyz.json() == {"status": "unavailable"}
    assert "retry-after" in readyz.headers
    assert seen["v2_ready"].status_code == 503
    for name in ("post", "v2_infer"):
        refused = seen[name]
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "3"
    assert seen["post"].headers["content-type"] == PROBLEM_JSON
    assert seen["post"].json()["type"] == "urn:loss-service:problem:draining"
    # The inference protocol's own error form: {"error": message}
    assert seen["v2_infer"].headers["content-type"] == "application/json"
    assert "shutting down" in seen["v2_infer"].json()["error"]
    assert seen["livez"].status_code == 200
    assert seen["metrics"].status_code == 200
    held = seen["held"]  # in flight when the signal came: finished
    assert held.status_code == 200
    assert held.json()["loss"] == 1.0


async def _grpc_drain_scenario(app: Any, port: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    small = grpc_mse_message(2)
    async with app.router.lifespan_context(app), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        ready = channel.unary_unary("/inference.GRPCInferenceService/ServerReady")
        live = channel.unary_unary("/inference.GRPCInferenceService/ServerLive")
        infer = channel.unary_unary(INFER)
        seen["health_before"] = (await health.Check(health_pb2.HealthCheckRequest())).status
        seen["ready_before"] = pb.ServerReadyResponse.FromString(await ready(b"")).ready
        seen["infer_before"] = grpc_loss(await infer(small))
        signal.raise_signal(signal.SIGTERM)  # handled here, in the main thread, before the next line
        seen["health"] = (await health.Check(health_pb2.HealthCheckRequest())).status
        seen["service_health"] = (await health.Check(health_pb2.HealthCheckRequest(service=pb.SERVICE))).status
        seen["ready"] = pb.ServerReadyResponse.FromString(await ready(b"")).ready
        seen["live"] = pb.ServerLiveResponse.FromString(await live(b"")).live
        try:
            await infer(small)
        except grpc.aio.AioRpcError as error:
            seen["infer"] = (error.code(), error.details(), dict(error.trailing_metadata() or ()))
    return seen


def test_signal_turns_grpc_health_not_serving_and_refuses_new_calls_in_process() -> None:
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        port = free_port()
        app = create_app(Settings(grpc_port=port, retry_after_seconds=3, access_log=False))
        seen = asyncio.run(_grpc_drain_scenario(app, port))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]
    assert seen["health_before"] == health_pb2.HealthCheckResponse.SERVING
    assert seen["ready_before"] is True
    assert seen["infer_before"] == 0.625  # (0.25^2 + 0.75^2) summed
    assert seen["health"] == seen["service_health"] == health_pb2.HealthCheckResponse.NOT_SERVING
    assert seen["ready"] is False
    assert seen["live"] is True
    code, details, trailing = seen["infer"]
    assert code == grpc.StatusCode.UNAVAILABLE
    assert details == "the server is shutting down; retry on another instance"
    assert trailing["retry-after"] == "3"
