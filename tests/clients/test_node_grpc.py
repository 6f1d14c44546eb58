"""``tests/clients/grpc_client.mjs``, a Node.js gRPC client on @grpc/grpc-js and @grpc/proto-loader, live.

It loads the service's ``grpc_predict_v2.proto`` and checks metadata, FP64 and FP32 ``ModelInfer``
(raw and typed contents) against its own maths and ``POST /losses/mse``, and the error statuses.
Here it must exit 0 against the live server, and 1 (with a message) against a server that answers
a wrong loss, or none. The npm packages are pinned in ``tests/clients/package-lock.json``;
``npm ci --prefix tests/clients`` installs them (``.ci/run`` does).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from tests.support.http import ServerProcess, free_port, running_servers
from tests.support.require import skip_unless_available

CLIENTS = Path(__file__).resolve().parent
CLIENT = CLIENTS / "grpc_client.mjs"
TIMEOUT = 60

NODE = shutil.which("node")
if NODE is None:
    skip_unless_available("node", "node (Node.js 20) is not on PATH")
if not (CLIENTS / "node_modules" / "@grpc" / "grpc-js").is_dir():
    skip_unless_available("node", "the client's npm packages are not installed: npm ci --prefix tests/clients")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_servers() as running:
        yield running


def run_client(*args: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, str(CLIENT), *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_node_grpc_client_against_the_live_server(server: ServerProcess) -> None:
    done = run_client(server.url, server.grpc)
    report = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, report
    for mark in ("ok (a)", "ok (b)", "ok (c)", "ok (d)", "ok (e)", "all checks passed"):
        assert mark in done.stdout, report
    assert "FP64 raw_input_contents" in done.stdout and "FP32 raw_input_contents" in done.stdout


def test_node_grpc_client_without_addresses_exits_1() -> None:
    done = run_client()
    assert done.returncode == 1
    assert "usage" in done.stderr


def wrong_loss_server() -> tuple[Any, int]:
    """A gRPC server that answers the metadata right and ModelInfer with a plausible but wrong loss."""
    from service.rpc import protocol as pb

    def model_infer(data: bytes, context: Any) -> bytes:
        request = pb.ModelInferRequest.FromString(data)
        response = pb.ModelInferResponse(model_name="mse", model_version="1", id=request.id)
        response.outputs.add(name="loss", datatype="FP64", shape=[])
        response.outputs.add(name="grad_y_pred", datatype="FP64", shape=[2, 3])
        response.raw_output_contents.extend([np.float64(0.5).tobytes(), np.zeros(6).tobytes()])
        return bytes(response.SerializeToString())

    metadata = pb.ModelMetadataResponse(
        name="mse",
        versions=["1"],
        platform="fake",
        inputs=[{"name": "y_true", "datatype": "FP64", "shape": [-1, -1]}, {"name": "y_pred", "datatype": "FP64"}],
        outputs=[{"name": "loss", "datatype": "FP64"}, {"name": "grad_y_pred", "datatype": "FP64"}],
    )
    answers = {
        "ServerLive": pb.ServerLiveResponse(live=True),
        "ServerReady": pb.ServerReadyResponse(ready=True),
        "ServerMetadata": pb.ServerMetadataResponse(name="loss-service", version="0"),
        "ModelMetadata": metadata,
    }
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(lambda data, context, answer=answer: answer.SerializeToString())
        for name, answer in answers.items()
    }
    handlers["ModelInfer"] = grpc.unary_unary_rpc_method_handler(model_infer)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(pb.SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_node_grpc_client_fails_on_a_wrong_answer() -> None:
    server, port = wrong_loss_server()
    try:
        done = run_client(f"http://127.0.0.1:{free_port()}", f"127.0.0.1:{port}")
    finally:
        server.stop(grace=None)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ok (a)" in done.stdout
    assert "FAILED" in done.stderr and "FP64 loss: got 0.5" in done.stderr, done.stderr


def test_node_grpc_client_fails_when_nothing_listens() -> None:
    done = run_client(f"http://127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "FAILED" in done.stderr
