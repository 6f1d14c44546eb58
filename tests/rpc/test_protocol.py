"""The gRPC front end against hostile and odd messages, its limits, admission, health, metrics, log and workers.

Malformed ``ModelInferRequest``s are built with Triton's message classes (``tritonclient.grpc``) or
as raw bytes and sent to a live server (``python -m service``); each must be ``INVALID_ARGUMENT``
(``NOT_FOUND`` for a model that does not exist), never ``INTERNAL`` or ``UNKNOWN``, with the message
``/v2`` over HTTP gives for the same request where the two protocols can say the same thing, and
the server must answer the next good request. The unit tests at the end check the response encoder
against protobuf's own serialization and the committed descriptor against the ``.proto``.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.http import ServerProcess
from tests.support.metrics import counts_by_worker, delta, multiproc_dir, sample, scrape
from tests.support.require import skip_unless_available
from tests.support.rpc import INFER, call, held_call, in_flight, wait_until

try:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from tritonclient.grpc import service_pb2
except ImportError as error:  # pragma: no cover - depends on the environment
    skip_unless_available("tritonclient", f"tritonclient[grpc] cannot be imported ({error})")

MAX_BODY = 65536
MAX_ELEMENTS = 4096
GOOD = np.array([[0.5, 0.5], [0.25, 0.75]])  # y_pred; y_true is ZERO: MSE 0.28125
ZERO = np.zeros((2, 2))
CONTENTS = {"FP64": "fp64_contents", "FP32": "fp32_contents", "INT64": "int64_contents", "INT32": "int_contents"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = {
        "LOSS_SERVICE_MAX_BODY_BYTES": str(MAX_BODY),
        "LOSS_SERVICE_MAX_ELEMENTS": str(MAX_ELEMENTS),
        "LOSS_SERVICE_REQUEST_TIMEOUT_SECONDS": "2",
    }
    with ServerProcess(env=env) as running:
        yield running


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[Any]:
    with grpc.insecure_channel(server.grpc) as opened:
        yield opened


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def tensor(name: str, array: Any, datatype: str = "FP64", **extra: Any) -> dict[str, Any]:
    array = np.asarray(array)
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "values": array, **extra}


def message(
    tensors: list[dict[str, Any]],
    *,
    model: str = "mse",
    raw: bool = True,
    parameters: dict[str, Any] | None = None,
    raw_contents: list[bytes] | None = None,
) -> bytes:
    """A serialized ``ModelInferRequest``: each tensor's values raw (little-endian) or typed, as told.

    A tensor's ``shape`` may disagree with its values; ``field`` puts typed values in another
    contents field; ``raw_contents`` replaces the raw bytes (with ``raw=False``: adds them).
    """
    request = service_pb2.ModelInferRequest(model_name=model)
    blobs = []
    for spec in tensors:
        added = request.inputs.add(name=spec["name"], datatype=spec["datatype"], shape=spec["shape"])
        for key, value in spec.get("parameters", {}).items():
            added.parameters[key].string_param = value
        values = np.asarray(spec["values"])
        if raw:
            dtype = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4"}.get(spec["datatype"], "<f8")
            blobs.append(values.astype(dtype).tobytes())
        elif values.size or "field" in spec:
            field = spec.get("field", CONTENTS.get(spec["datatype"], "fp64_contents"))
            getattr(added.contents, field).extend(values.reshape(-1).tolist())
    request.raw_input_contents.extend(blobs if raw_contents is None else raw_contents)
    for key, value in (parameters or {}).items():
        if value is None:
            request.parameters[key].SetInParent()  # a parameter with no value
        else:
            kind = {bool: "bool_param", int: "int64_param", float: "double_param", str: "string_param"}[type(value)]
            setattr(request.parameters[key], kind, value)
    return bytes(request.SerializeToString())


GOOD_MESSAGE = message([tensor("y_true", ZERO), tensor("y_pred", GOOD)])


def loss_of(response: bytes) -> float:
    parsed = service_pb2.ModelInferResponse.FromString(response)
    index = [o.name for o in parsed.outputs].index("loss")
    return float(np.frombuffer(parsed.raw_output_contents[index], dtype=np.float64)[0])


def assert_still_serving(channel: Any) -> None:
    code, details, _, response = call(channel, GOOD_MESSAGE)
    assert code == grpc.StatusCode.OK, details
    assert loss_of(response) == 0.28125


def http_tensor(name: str, array: Any, datatype: str = "FP64", shape: list[int] | None = None) -> dict[str, Any]:
    array = np.asarray(array)
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(array.shape) if shape is None else shape,
        "data": array.reshape(-1).tolist(),
    }


def http_message(http: httpx.Client, model: str, inputs: list[dict[str, Any]], parameters: Any = None) -> str:
    document: dict[str, Any] = {"inputs": inputs}
    if parameters:
        document["parameters"] = parameters
    response = http.post(f"/v2/models/{model}/infer", json=document)
    assert response.status_code in (400, 404, 413), response.text
    return str(response.json()["error"])


HUGE = [2**62, 2**62]
GOOD_Y_PRED = tensor("y_pred", GOOD)

# (message, the same request as /v2 JSON (model, inputs) or None, fragments of the message)
MALFORMED: dict[str, tuple[bytes, tuple[str, list[dict[str, Any]]] | None, tuple[str, ...]]] = {
    "not protobuf": (b"\xff\xff\xff\xff", None, ("not a ModelInferRequest",)),
    "truncated": (GOOD_MESSAGE[:-5], None, ("not a ModelInferRequest",)),
    "model name not UTF-8": (
        GOOD_MESSAGE.replace(b"\n\x03mse", b"\n\x03\xffse", 1),
        None,
        ("not a ModelInferRequest",),
    ),
    "raw bytes shorter than shape x datatype": (
        message([tensor("y_true", ZERO), GOOD_Y_PRED], raw_contents=[ZERO.tobytes(), GOOD.tobytes()[:24]]),
        None,
        ("raw_input_contents[1] has 24 bytes but shape [2, 2] of FP64 needs 32",),
    ),
    "raw bytes of FP64 declared FP32": (
        message(
            [tensor("y_true", ZERO.astype(np.float32), "FP32"), tensor("y_pred", GOOD, "FP32")],
            raw_contents=[ZERO.astype(np.float32).tobytes(), GOOD.tobytes()],
        ),
        None,
        ("32 bytes but shape [2, 2] of FP32 needs 16",),
    ),
    "fewer raw entries than inputs": (
        message([tensor("y_true", ZERO), GOOD_Y_PRED], raw_contents=[ZERO.tobytes()]),
        None,
        ("raw_input_contents has 1 entries for 2 inputs",),
    ),
    "raw and typed contents": (
        message([tensor("y_true", ZERO), GOOD_Y_PRED], raw=False, raw_contents=[ZERO.tobytes(), GOOD.tobytes()]),
        None,
        ("either contents or raw_input_contents",),
    ),
    "unknown datatype FP16": (
        message([tensor("y_true", ZERO, "FP16"), GOOD_Y_PRED]),
        ("mse", [http_tensor("y_true", ZERO, "FP16"), http_tensor("y_pred", GOOD)]),
        ("datatype", "FP16"),
    ),
    "unknown datatype BYTES": (
        message([tensor("y_true", ZERO, "BYTES"), GOOD_Y_PRED], raw=False),
        ("mse", [http_tensor("y_true", ZERO, "BYTES"), http_tensor("y_pred", GOOD)]),
        ("datatype", "BYTES"),
    ),
    "empty datatype": (
        message([tensor("y_true", ZERO, ""), GOOD_Y_PRED]),
        ("mse", [http_tensor("y_true", ZERO, ""), http_tensor("y_pred", GOOD)]),
        ("datatype",),
    ),
    "missing input": (
        message([GOOD_Y_PRED]),
        ("mse", [http_tensor("y_pred", GOOD)]),
        ("needs the inputs", "y_true"),
    ),
    "no inputs": (message([]), ("mse", []), ("inputs must be a non-empty array",)),
    "input twice": (
        message([tensor("y_true", ZERO), GOOD_Y_PRED, tensor("y_true", ZERO)]),
        ("mse", [http_tensor("y_true", ZERO), http_tensor("y_pred", GOOD), http_tensor("y_true", ZERO)]),
        ("appears twice",),
    ),
    "huge declared shape, raw": (
        message([{**tensor("y_true", ZERO), "shape": HUGE}, GOOD_Y_PRED]),
        None,
        ("has 32 bytes but shape", str(2**62)),
    ),
    "huge declared shape, typed": (
        message([{**tensor("y_true", ZERO), "shape": HUGE}, GOOD_Y_PRED], raw=False),
        None,
        ("has 4 elements but shape", str(2**62)),
    ),
    "negative axis": (
        message([{**tensor("y_true", ZERO), "shape": [-1, 4]}, GOOD_Y_PRED]),
        ("mse", [http_tensor("y_true", ZERO, shape=[-1, 4]), http_tensor("y_pred", GOOD)]),
        ("non-negative",),
    ),
    "more axes than NumPy holds": (
        message([{**tensor("y_true", ZERO), "shape": [1] * 40}, GOOD_Y_PRED]),
        ("mse", [http_tensor("y_true", ZERO, shape=[1] * 40), http_tensor("y_pred", GOOD)]),
        ("40 axes",),
    ),
    "zero-size tensor with huge other axes": (
        message([tensor("y_true", np.zeros((0,))) | {"shape": [0, *HUGE]}, GOOD_Y_PRED], raw=False),
        ("mse", [http_tensor("y_true", np.zeros(0), shape=[0, *HUGE]), http_tensor("y_pred", GOOD)]),
        ("too large",),
    ),
    "typed values in the field of another datatype": (
        message([tensor("y_true", ZERO, field="fp32_contents"), GOOD_Y_PRED], raw=False),
        None,
        ("contents.fp64_contents, not in contents.fp32_contents",),
    ),
    "typed values fewer than the shape": (
        message([{**tensor("y_true", ZERO), "shape": [2, 3]}, GOOD_Y_PRED], raw=False),
        None,
        ("contents.fp64_contents has 4 elements but shape [2, 3] needs 6",),
    ),
    "no values at all": (
        message([tensor("y_true", np.zeros(0)) | {"shape": [2, 2]}, GOOD_Y_PRED], raw=False),
        None,
        ('input "y_true": contents is missing',),
    ),
    "a parameter with no value": (
        message([tensor("y_true", ZERO), GOOD_Y_PRED], parameters={"reduction": None}),
        None,
        ('parameter "reduction" has no value',),
    ),
    "shared memory": (
        message([tensor("y_true", ZERO, parameters={"shared_memory_region": "r"}), GOOD_Y_PRED]),
        None,
        ("shared memory",),
    ),
    "class index out of range": (
        message(
            [tensor("y_true", np.array([0, 7]), "INT64"), tensor("y_pred", GOOD)],
            model="sparse_categorical_crossentropy",
        ),
        (
            "sparse_categorical_crossentropy",
            [http_tensor("y_true", np.array([0, 7]), "INT64"), http_tensor("y_pred", GOOD)],
        ),
        ("y_true",),
    ),
    "NaN in a raw input": (
        message([tensor("y_true", ZERO), tensor("y_pred", np.array([[0.5, np.nan], [0.25, 0.75]]))]),
        None,
        ("y_pred",),
    ),
    "more elements than the server computes": (
        message([tensor("y_true", np.zeros(3000)), tensor("y_pred", np.ones(3000))]),
        ("mse", [http_tensor("y_true", np.zeros(3000)), http_tensor("y_pred", np.ones(3000))]),
        ("array elements", str(MAX_ELEMENTS)),
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_message_is_invalid_argument_and_the_server_serves_on(
    channel: Any, http: httpx.Client, case: str
) -> None:
    data, over_http, fragments = MALFORMED[case]
    code, details, trailing, _ = call(channel, data)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{code}: {details}"
    for fragment in fragments:
        assert fragment in details, details
    assert dict(trailing)["x-request-id"]
    if over_http is not None:
        assert details == http_message(http, *over_http)
    assert_still_serving(channel)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [(b"", "'' is not found"), (message([tensor("y_true", ZERO), GOOD_Y_PRED], model="nope"), "'nope' is not found")],
    ids=["empty message", "unknown model"],
)
def test_an_unknown_model_is_not_found(channel: Any, data: bytes, fragment: str) -> None:
    code, details, _, _ = call(channel, data)
    assert code == grpc.StatusCode.NOT_FOUND, details
    assert fragment in details
    assert_still_serving(channel)


@pytest.mark.parametrize("method", ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata"])
def test_a_malformed_request_to_any_method_is_invalid_argument(channel: Any, method: str) -> None:
    code, details, _, _ = call(channel, b"\xff\xff\xff", f"/inference.GRPCInferenceService/{method}")
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    code, details, _, _ = call(channel, b"\xff\xff\xff", "/grpc.health.v1.Health/Check")
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details


def test_a_message_over_the_body_limit_is_refused_by_grpc_and_the_server_serves_on(channel: Any) -> None:
    """grpc itself refuses a message past ``max_receive_message_length`` (the body limit), before any of
    the service's code runs, with RESOURCE_EXHAUSTED: the one client error that is not INVALID_ARGUMENT."""
    big = message([tensor("y_true", np.zeros(4500)), tensor("y_pred", np.ones(4500))])
    assert len(big) > MAX_BODY
    code, details, _, _ = call(channel, big)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert str(MAX_BODY) in details
    assert_still_serving(channel)


def test_unknown_methods_are_unimplemented(channel: Any) -> None:
    code, _, _, _ = call(channel, b"", "/inference.GRPCInferenceService/RepositoryIndex")
    assert code == grpc.StatusCode.UNIMPLEMENTED


def test_health_is_serving_for_the_server_and_the_service(channel: Any) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "inference.GRPCInferenceService"):
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_message_that_does_not_arrive_in_time_is_deadline_exceeded(channel: Any) -> None:
    """The server waits ``request_timeout_seconds`` (2 s here) for the message of an admitted call, as HTTP
    waits for a body (408 there); a client-streaming call that sends nothing stands for a slow client."""
    release = threading.Event()

    def nothing() -> Iterator[bytes]:
        release.wait(timeout=20)
        return
        yield b""  # a generator that sends no message until released

    try:
        with pytest.raises(grpc.RpcError) as caught:
            channel.stream_unary(INFER)(nothing(), timeout=20)
    finally:
        release.set()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, caught.value.details()
    assert "did not arrive within 2.0 s" in caught.value.details()
    assert_still_serving(channel)


def test_request_id_metadata_is_echoed_or_made(channel: Any) -> None:
    given = f"grpc-{uuid.uuid4().hex}"
    code, _, trailing, _ = call(channel, GOOD_MESSAGE, metadata=(("x-request-id", given),))
    assert code == grpc.StatusCode.OK and dict(trailing)["x-request-id"] == given
    code, _, trailing, _ = call(channel, b"\xff", metadata=(("x-request-id", given),))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and dict(trailing)["x-request-id"] == given
    _, _, trailing, _ = call(channel, GOOD_MESSAGE, metadata=(("x-request-id", "has spaces"),))
    made = dict(trailing)["x-request-id"]
    assert made != "has spaces" and len(made) == 32


def test_metrics_count_grpc_calls_and_computations_by_protocol(server: ServerProcess, channel: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        before = scrape(http)
        assert call(channel, GOOD_MESSAGE)[0] == grpc.StatusCode.OK
        assert call(channel, GOOD_MESSAGE)[0] == grpc.StatusCode.OK
        assert call(channel, MALFORMED["missing input"][0])[0] == grpc.StatusCode.INVALID_ARGUMENT
        assert call(channel, b"\xff")[0] == grpc.StatusCode.INVALID_ARGUMENT  # no model known: no loss label
        after = scrape(http)
    computations = "loss_computations_total"
    assert delta(before, after, computations, loss="mse", status="200", protocol="grpc") == 2
    assert delta(before, after, computations, loss="mse", status="400", protocol="grpc") == 1
    assert delta(before, after, computations, loss="mse", status="200", protocol="v2") == 0
    handled = "grpc_server_handled_total"
    labels = {"grpc_service": "inference.GRPCInferenceService", "grpc_method": "ModelInfer"}
    assert delta(before, after, handled, **labels, grpc_code="OK") == 2
    assert delta(before, after, handled, **labels, grpc_code="INVALID_ARGUMENT") == 2
    assert delta(before, after, "grpc_server_handling_seconds_count", **labels) == 4


def test_one_log_line_per_call(server: ServerProcess, channel: Any) -> None:
    given = f"log-{uuid.uuid4().hex}"
    call(channel, GOOD_MESSAGE, metadata=(("x-request-id", given),))
    line = server.wait_for_log(lambda record: record.get("request_id") == given)
    assert line["logger"] == "service.access"
    assert line["protocol"] == "grpc"
    assert line["path"] == line["handler"] == INFER
    assert line["grpc_code"] == "OK"
    assert line["client"] == "127.0.0.1"
    assert line["response_bytes"] > 0 and line["duration_ms"] >= 0
    assert sum(record.get("request_id") == given for record in server.log_records()) == 1


def test_a_larger_message_with_gradient_matches_http(channel: Any, http: httpx.Client) -> None:
    """800-element inputs (the placement's worker thread is checked on the server of the overload test)."""
    rng = np.random.default_rng(5)
    y_true, y_pred = rng.normal(size=(20, 40)), rng.normal(size=(20, 40))
    data = message([tensor("y_true", y_true), tensor("y_pred", y_pred)], parameters={"return_grad": True})
    code, details, _, response = call(channel, data)
    assert code == grpc.StatusCode.OK, details
    parsed = service_pb2.ModelInferResponse.FromString(response)
    got = {
        o.name: np.frombuffer(raw, dtype=np.float64)
        for o, raw in zip(parsed.outputs, parsed.raw_output_contents, strict=True)
    }
    want = http.post("/losses/mse", json={"y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "return_grad": True})
    assert want.status_code == 200, want.text
    assert got["loss"].tolist() == [want.json()["loss"]]
    assert got["grad_y_pred"].tolist() == np.asarray(want.json()["grad"]["y_pred"]).reshape(-1).tolist()


# --- admission: overload, on a server that computes one request at a time -----------------------


def test_overload_is_unavailable_with_retry_after_and_large_messages_compute_in_a_thread() -> None:
    env = {"LOSS_SERVICE_MAX_CONCURRENCY": "1", "LOSS_SERVICE_OFFLOAD_BYTES": "1024"}
    with ServerProcess(env=env) as server, grpc.insecure_channel(server.grpc) as channel:
        thread, release, outcome = held_call(channel, GOOD_MESSAGE)
        try:
            assert wait_until(lambda: in_flight(server) == 1), "the held call was not admitted"
            code, details, trailing, _ = call(channel, GOOD_MESSAGE)  # the one slot is the held call's
        finally:
            release.set()
            thread.join(timeout=30)
        assert code == grpc.StatusCode.UNAVAILABLE, details
        assert "computing 1 requests, its limit" in details
        assert dict(trailing)["retry-after"] == "1"
        assert "error" not in outcome, outcome.get("error")
        assert loss_of(outcome["response"]) == 0.28125
        # A message over offload_bytes (1 KiB here) is computed in a worker thread: same answer.
        big = np.linspace(0, 1, 400)
        code, details, _, response = call(channel, message([tensor("y_true", big), tensor("y_pred", big * 0.5)]))
        assert code == grpc.StatusCode.OK, details
        assert loss_of(response) == float(np.mean((big * 0.5 - big) ** 2))


# --- several workers share the port -------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads worker environments from /proc")
def test_two_workers_both_serve_the_grpc_port() -> None:
    """Each worker binds the port with SO_REUSEPORT; the kernel spreads new connections over them."""
    with ServerProcess("--workers", "2") as server:
        directory = multiproc_dir(server)
        sent = 0
        while sent < 200:  # fresh connections until both workers have answered some (bounded)
            for _ in range(10):
                with grpc.insecure_channel(server.grpc) as fresh:
                    code, details, _, response = call(fresh, GOOD_MESSAGE)
                    assert code == grpc.StatusCode.OK, details
                    assert loss_of(response) == 0.28125
                sent += 1
            by_worker = counts_by_worker(directory, "grpc_server_handled_total", grpc_method="ModelInfer")
            if sum(1 for count in by_worker.values() if count > 0) >= 2:
                break
        assert sum(1 for count in by_worker.values() if count > 0) == 2, by_worker
        assert sum(by_worker.values()) == sent
        with httpx.Client(base_url=server.url, timeout=10) as http:
            samples = scrape(http)
        assert sample(samples, "loss_computations_total", loss="mse", status="200", protocol="grpc") == sent


def test_with_several_workers_a_taken_grpc_port_fails_the_start_up() -> None:
    with ServerProcess() as holder:  # one worker: binds its gRPC port exclusively
        result = subprocess.run(
            [sys.executable, "-m", "service", "--workers", "2", "--port", "0", "--grpc-port", str(holder.grpc_port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
    assert result.returncode != 0
    assert f"cannot serve gRPC on 127.0.0.1:{holder.grpc_port}" in result.stderr


# --- units: the encoder, the typed fast path, the descriptor ------------------------------------


def test_the_response_encoder_writes_what_protobuf_writes() -> None:
    from service.rpc.protocol import ModelInferResponse
    from service.rpc.tensors import encode_response

    loss = np.asarray(0.5)
    grad = np.arange(12, dtype=np.float32).reshape(3, 4)
    big = np.linspace(-1, 1, 70_000)  # a length that takes a three-byte varint
    outputs = [("loss", loss), ("grad_y_pred", grad), ("grad_y_true", big)]
    ours = encode_response("mse", "req-1", outputs)
    theirs = ModelInferResponse(model_name="mse", model_version="1", id="req-1")
    for name, array in outputs:
        theirs.outputs.add(name=name, datatype="FP32" if array.dtype == np.float32 else "FP64", shape=array.shape)
        theirs.raw_output_contents.append(array.astype(array.dtype.newbyteorder("<")).tobytes())
    assert ours == theirs.SerializeToString()
    assert (
        encode_response("mse", None, [("loss", loss)])
        == ModelInferResponse(
            model_name="mse",
            model_version="1",
            outputs=[{"name": "loss", "datatype": "FP64", "shape": []}],
            raw_output_contents=[loss.tobytes()],
        ).SerializeToString()
    )


@pytest.mark.parametrize("datatype", ["FP64", "FP32", "INT64", "INT32"])
def test_typed_contents_read_to_the_bit(datatype: str) -> None:
    from service.rpc.protocol import ModelInferRequest
    from service.rpc.tensors import infer_request

    dtype = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "INT32": np.int32}[datatype]
    if dtype in (np.float64, np.float32):
        info = np.finfo(dtype)
        values = np.array([0.0, -0.0, 1.5, np.nan, np.inf, -np.inf, info.tiny / 4, info.max, info.eps], dtype=dtype)
    else:
        info_i = np.iinfo(dtype)
        values = np.array([0, -1, info_i.min, info_i.max, 7, 3, 1, 2, 5], dtype=dtype)
    request = ModelInferRequest(model_name="mse")
    added = request.inputs.add(name="x", datatype=datatype, shape=[3, 3])
    getattr(added.contents, CONTENTS[datatype]).extend(values.tolist())
    array = infer_request(ModelInferRequest.FromString(request.SerializeToString())).inputs["x"].array
    assert array.dtype == dtype and array.shape == (3, 3) and array.flags.aligned
    assert array.reshape(-1).tobytes() == values.tobytes()


def test_the_codec_is_picklable_for_a_helper_process() -> None:
    from service.rpc.codec import GrpcInferCodec

    assert pickle.loads(pickle.dumps(GrpcInferCodec())) == GrpcInferCodec()
    assert GrpcInferCodec.protocol == "grpc"


def test_long_status_messages_are_cut() -> None:
    from service.rpc.calls import MESSAGE_BYTES, status_message

    assert status_message("short") == "short"
    cut = status_message("é" * 5000)
    assert len(cut.encode()) <= MESSAGE_BYTES and cut.endswith("...")


def test_the_committed_descriptor_is_the_proto_compiled() -> None:
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    directory = Path(__file__).resolve().parents[2] / "service" / "rpc" / "protocol"
    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "compiled.binpb"
        status = protoc.main(
            ["protoc", f"--proto_path={directory}", f"--descriptor_set_out={target}", "grpc_predict_v2.proto"]
        )
        assert status == 0
        fresh = descriptor_pb2.FileDescriptorSet.FromString(target.read_bytes())
    committed = descriptor_pb2.FileDescriptorSet.FromString((directory / "grpc_predict_v2.binpb").read_bytes())
    assert fresh == committed, "regenerate it: see service/rpc/protocol/__init__.py"


def test_the_service_messages_live_beside_tritonclients() -> None:
    """Both define inference.ModelInferRequest: the service's are in a pool of their own, so both import."""
    from service.rpc import protocol

    assert protocol.ModelInferRequest is not service_pb2.ModelInferRequest
    assert protocol.ModelInferRequest.DESCRIPTOR.full_name == service_pb2.ModelInferRequest.DESCRIPTOR.full_name
