"""The Open Inference Protocol routes (API.md section 6), spoken byte by byte.

Bodies are built by hand (JSON headers, ``np.tobytes`` tensors, ``Inference-Header-Content-Length``)
and binary responses are split by hand, so that these tests depend on no client library. Every
result is compared with ``POST /losses/{name}`` for the same data: the two front ends share one
engine, so the answers must agree to the last bit.

The client is ``tests.support.http.make_checked_client()`` (a ``TestClient`` on ``create_app()`` that
fails the test on any 500), run inside a ``with`` block, so the lifespan has run and the server is ready.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engine import CATALOG
from service.settings import Settings
from tests.support.engine import every_case, resolve_params
from tests.support.http import asgi_request, make_checked_client

CASES = every_case()
NUMPY_OF: dict[str, np.dtype[Any]] = {
    "FP64": np.dtype("<f8"),
    "FP32": np.dtype("<f4"),
    "INT64": np.dtype("<i8"),
    "INT32": np.dtype("<i4"),
}
ARRAY_PARAM_KINDS = {"weights", "number_or_weights"}

# Data used throughout: a 2x3 regression batch, and a 3-class batch.
RNG = np.random.default_rng(20240611)
REG_TRUE = RNG.normal(size=(2, 3))
REG_PRED = RNG.normal(size=(2, 3))
PROBS_PRED = RNG.uniform(0.05, 0.95, size=(4, 3))
BINARY_TRUE = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
LOGITS = RNG.normal(0, 2, size=(4, 3))
INDICES = np.array([0, 2, 1, 2])
DIST_TRUE = RNG.uniform(0.1, 1.0, size=(4, 3))
DIST_TRUE /= DIST_TRUE.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with make_checked_client() as test_client:
        yield test_client


# Building requests by hand.


class T:
    """One input tensor: JSON data (``binary=False``) or bytes after the header (``binary=True``)."""

    def __init__(self, name: str, value: Any, datatype: str = "FP64", *, binary: bool = False, nested: bool = False):
        self.name = name
        self.array = np.asarray(value).astype(NUMPY_OF[datatype])
        self.datatype = datatype
        self.binary = binary
        self.nested = nested

    def describe(self) -> dict[str, Any]:
        tensor: dict[str, Any] = {"name": self.name, "shape": list(self.array.shape), "datatype": self.datatype}
        if self.binary:
            tensor["parameters"] = {"binary_data_size": self.array.nbytes}
        else:
            tensor["data"] = self.array.tolist() if self.nested else self.array.reshape(-1).tolist()
        return tensor

    def blob(self) -> bytes:
        return self.array.tobytes() if self.binary else b""


def build(
    inputs: list[T],
    parameters: Mapping[str, Any] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an inference request; the header length is set when any input is binary."""
    document: dict[str, Any] = {}
    if request_id is not None:
        document["id"] = request_id
    if parameters is not None:
        document["parameters"] = dict(parameters)
    document["inputs"] = [t.describe() for t in inputs]
    if outputs is not None:
        document["outputs"] = outputs
    header = json.dumps(document).encode()
    blobs = b"".join(t.blob() for t in inputs)
    headers = {"Inference-Header-Content-Length": str(len(header))} if blobs else {}
    return header + blobs, headers


def parse(response: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The response's JSON header and its outputs by name, binary ones read from after the header."""
    assert response.status_code == 200, response.text
    body = response.content
    length = response.headers.get("inference-header-content-length")
    if length is None:
        assert response.headers["content-type"].startswith("application/json")
        header, offset = json.loads(body), len(body)
    else:
        assert response.headers["content-type"].startswith("application/octet-stream")
        offset = int(length)
        assert 0 < offset <= len(body)
        header = json.loads(body[:offset])
    values: dict[str, np.ndarray] = {}
    for output in header["outputs"]:
        dtype = NUMPY_OF[output["datatype"]]
        shape = output["shape"]
        size = int(np.prod(shape, dtype=np.int64))
        if "data" in output:
            assert "parameters" not in output or "binary_data_size" not in output["parameters"]
            array = np.array(output["data"], dtype=np.float64)
            assert array.ndim == 1 and array.size == size, output
            assert np.array_equal(array.astype(dtype).astype(np.float64), array), "JSON data not exact in datatype"
            array = array.astype(dtype)
        else:
            nbytes = output["parameters"]["binary_data_size"]
            assert nbytes == size * dtype.itemsize, output
            assert offset + nbytes <= len(body)
            array = np.frombuffer(body, dtype=dtype, count=size, offset=offset)
            offset += nbytes
        assert output["name"] not in values
        values[output["name"]] = array.reshape(shape)
    assert offset == len(body), "bytes left over after the last binary output"
    return header, values


def infer(
    client: TestClient, model: str, inputs: list[T], path_suffix: str = "", **kwargs: Any
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    body, headers = build(inputs, **kwargs)
    response = client.post(f"/v2/models/{model}{path_suffix}/infer", content=body, headers=headers)
    return parse(response)


def reference(
    client: TestClient,
    loss: str,
    inputs: Mapping[str, Any],
    *,
    params: Mapping[str, Any] | None = None,
    reduction: str | None = None,
    return_grad: bool = False,
    dtype: str = "float64",
    sample_weight: Any = None,
) -> dict[str, np.ndarray]:
    """``POST /losses/{loss}`` for the same data, as ``{"loss": ..., "grad_<input>": ...}`` in float64."""
    body: dict[str, Any] = {name: np.asarray(value).tolist() for name, value in inputs.items()}
    if params:
        body["params"] = dict(params)
    if reduction is not None:
        body["reduction"] = reduction
    if sample_weight is not None:
        body["sample_weight"] = np.asarray(sample_weight).tolist()
    body.update(return_grad=return_grad, dtype=dtype)
    response = client.post(f"/losses/{loss}", json=body)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["dtype"] == dtype
    result = {"loss": np.asarray(document["loss"], dtype=np.float64)}
    for name, grad in document.get("grad", {}).items():
        result[f"grad_{name}"] = np.asarray(grad, dtype=np.float64)
    return result


def bits(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype=np.float64).tobytes()


def assert_same(got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], datatype: str = "FP64") -> None:
    """Same outputs, each of ``datatype``, equal to ``want`` to the last bit."""
    assert set(got) == set(want), (list(got), list(want))
    for name, expected in want.items():
        actual = got[name]
        assert actual.dtype == NUMPY_OF[datatype], (name, actual.dtype)
        assert actual.shape == expected.shape, (name, actual.shape, expected.shape)
        assert bits(actual) == bits(expected), f"{name}: {actual!r} != {expected!r}"


def assert_error(response: Any, status: int = 400, *fragments: str) -> str:
    """A protocol error: ``status`` with exactly ``{"error": message}`` as application/json."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/json"
    document = response.json()
    assert set(document) == {"error"}, document
    message = document["error"]
    assert isinstance(message, str) and message.strip()
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    return message


# Server and model metadata, health.


def test_server_metadata(client: TestClient) -> None:
    response = client.get("/v2")
    assert response.status_code == 200
    document = response.json()
    assert set(document) >= {"name", "version", "extensions"}
    assert isinstance(document["name"], str) and document["name"]
    assert isinstance(document["version"], str) and document["version"]
    assert "binary_tensor_data" in document["extensions"]


def test_health_live_and_ready(client: TestClient) -> None:
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200


def test_ready_is_503_before_the_lifespan_starts() -> None:
    unstarted = TestClient(create_app())  # no ``with``: the lifespan has not run
    assert unstarted.get("/v2/health/live").status_code == 200
    assert unstarted.get("/v2/health/ready").status_code == 503


def expected_metadata(name: str) -> tuple[list[tuple[str, str]], list[str]]:
    spec = CATALOG[name]
    inputs = [(i.name, "INT64" if i.integer else "FP64") for i in spec.inputs]
    outputs = ["loss", *(f"grad_{i.name}" for i in spec.inputs if i.differentiable)]
    return inputs, outputs


@pytest.mark.parametrize("name", list(CATALOG))
@pytest.mark.parametrize("prefix", ["/v2/models/{name}", "/v2/models/{name}/versions/1"])
def test_model_metadata_and_readiness_for_every_loss(client: TestClient, name: str, prefix: str) -> None:
    base = prefix.format(name=name)
    response = client.get(base)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["name"] == name
    assert "1" in document["versions"]
    assert isinstance(document["platform"], str) and document["platform"]
    inputs, outputs = expected_metadata(name)
    assert [(t["name"], t["datatype"]) for t in document["inputs"]] == inputs
    assert [t["name"] for t in document["outputs"]] == outputs
    shapes = {t["name"]: t["shape"] for t in document["inputs"] + document["outputs"]}
    for tensor in document["inputs"] + document["outputs"]:
        assert set(tensor) >= {"name", "datatype", "shape"}
        assert tensor["shape"] and all(n == -1 for n in tensor["shape"]), tensor  # free axes
    for output in document["outputs"][1:]:
        assert output["datatype"] == "FP64"
        assert output["shape"] == shapes[output["name"].removeprefix("grad_")]  # a gradient has its input's rank
    assert client.get(f"{base}/ready").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/nope"),
        ("GET", "/v2/models/nope/ready"),
        ("POST", "/v2/models/nope/infer"),
        ("GET", "/v2/models/nope/versions/1"),
        ("POST", "/v2/models/nope/versions/1/infer"),
        ("GET", "/v2/models/mse/versions/2"),
        ("GET", "/v2/models/mse/versions/2/ready"),
        ("POST", "/v2/models/mse/versions/2/infer"),
    ],
)
def test_unknown_model_or_version_is_404(client: TestClient, method: str, path: str) -> None:
    body, headers = build([T("y_true", REG_TRUE), T("y_pred", REG_PRED)])
    response = client.request(method, path, content=body if method == "POST" else None, headers=headers)
    message = assert_error(response, 404)
    assert ("nope" if "nope" in path else "2") in message


# Inference: JSON, binary, mixed; compared with POST /losses/{name}.


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_infer_json(client: TestClient, nested: bool) -> None:
    header, got = infer(client, "mse", [T("y_true", REG_TRUE, nested=nested), T("y_pred", REG_PRED, nested=nested)])
    assert header["model_name"] == "mse"
    assert [o["name"] for o in header["outputs"]] == ["loss"]
    assert header["outputs"][0]["shape"] == []
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}))


def test_infer_json_with_gradient(client: TestClient) -> None:
    _, got = infer(client, "mse", [T("y_true", REG_TRUE), T("y_pred", REG_PRED)], parameters={"return_grad": True})
    assert list(got) == ["loss", "grad_y_pred"]
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}, return_grad=True))


def test_versioned_path_infers(client: TestClient) -> None:
    _, got = infer(client, "mse", [T("y_true", REG_TRUE), T("y_pred", REG_PRED)], path_suffix="/versions/1")
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}))


@pytest.mark.parametrize("binary", [(True, True), (True, False), (False, True)], ids=["both", "y_true", "y_pred"])
def test_binary_inputs(client: TestClient, binary: tuple[bool, bool]) -> None:
    inputs = [T("y_true", REG_TRUE, binary=binary[0]), T("y_pred", REG_PRED, binary=binary[1])]
    header, got = infer(client, "mse", inputs, parameters={"return_grad": True, "reduction": "none"})
    assert all("data" in o for o in header["outputs"])  # binary outputs only when asked
    want = reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}, return_grad=True, reduction="none")
    assert_same(got, want)


def test_binary_inputs_are_read_at_their_offsets_little_endian(client: TestClient) -> None:
    """A body written with struct.pack('<d'), independently of NumPy."""
    y_true, y_pred = [1.0, -2.0, 0.5], [0.25, 4.0, -1.5]
    document = {
        "inputs": [
            {"name": "y_true", "shape": [1, 3], "datatype": "FP64", "parameters": {"binary_data_size": 24}},
            {"name": "y_pred", "shape": [1, 3], "datatype": "FP64", "parameters": {"binary_data_size": 24}},
        ],
        "outputs": [{"name": "loss", "parameters": {"binary_data": True}}],
    }
    header = json.dumps(document).encode()
    body = header + struct.pack("<3d", *y_true) + struct.pack("<3d", *y_pred)
    response = client.post(
        "/v2/models/mse/infer", content=body, headers={"Inference-Header-Content-Length": str(len(header))}
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["Inference-Header-Content-Length"])
    out = json.loads(response.content[:length])["outputs"]
    assert out == [{"name": "loss", "datatype": "FP64", "shape": [], "parameters": {"binary_data_size": 8}}]
    (loss,) = struct.unpack("<d", response.content[length : length + 8])
    assert len(response.content) == length + 8
    expected = float(np.mean((np.array(y_pred) - np.array(y_true)) ** 2))
    assert loss == pytest.approx(expected, rel=1e-15)
    assert bits(np.asarray(loss)) == bits(reference(client, "mse", {"y_true": [y_true], "y_pred": [y_pred]})["loss"])


def test_binary_outputs_requested_per_output(client: TestClient) -> None:
    inputs = [T("y_true", REG_TRUE), T("y_pred", REG_PRED)]
    outputs = [{"name": "loss", "parameters": {"binary_data": True}}, {"name": "grad_y_pred"}]
    header, got = infer(client, "mse", inputs, outputs=outputs)
    loss, grad = header["outputs"]
    assert loss["name"] == "loss" and loss["parameters"] == {"binary_data_size": 8} and "data" not in loss
    assert grad["name"] == "grad_y_pred" and "data" in grad and "binary_data_size" not in grad.get("parameters", {})
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}, return_grad=True))


def test_binary_outputs_for_all(client: TestClient) -> None:
    inputs = [T("y_true", REG_TRUE, binary=True), T("y_pred", REG_PRED)]  # mixed inputs too
    header, got = infer(
        client, "mse", inputs, parameters={"binary_data_output": True, "return_grad": True, "reduction": "sum"}
    )
    assert [o["name"] for o in header["outputs"]] == ["loss", "grad_y_pred"]
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [8, 6 * 8]
    assert all("data" not in o for o in header["outputs"])
    want = reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}, return_grad=True, reduction="sum")
    assert_same(got, want)


def test_mixed_outputs_keep_the_requested_order(client: TestClient) -> None:
    inputs = [T("y_true", REG_TRUE), T("y_pred", REG_PRED, binary=True)]
    outputs = [{"name": "grad_y_pred", "parameters": {"binary_data": True}}, {"name": "loss"}]
    header, got = infer(client, "mse", inputs, outputs=outputs, parameters={"reduction": "none"})
    assert [o["name"] for o in header["outputs"]] == ["grad_y_pred", "loss"]
    assert "binary_data_size" in header["outputs"][0]["parameters"] and "data" in header["outputs"][1]
    want = reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}, return_grad=True, reduction="none")
    assert_same(got, want)


def test_binary_data_false_on_an_output_overrides_binary_data_output(client: TestClient) -> None:
    inputs = [T("y_true", REG_TRUE), T("y_pred", REG_PRED)]
    outputs = [{"name": "loss", "parameters": {"binary_data": False}}, {"name": "grad_y_pred"}]
    header, _ = infer(client, "mse", inputs, outputs=outputs, parameters={"binary_data_output": True})
    loss, grad = header["outputs"]
    assert "data" in loss  # explicitly JSON
    assert "binary_data_size" in grad["parameters"]  # the request-wide default


def test_only_the_gradient_when_only_the_gradient_is_requested(client: TestClient) -> None:
    for parameters in (None, {"return_grad": False}):
        header, got = infer(
            client,
            "mse",
            [T("y_true", REG_TRUE), T("y_pred", REG_PRED)],
            outputs=[{"name": "grad_y_pred"}],
            parameters=parameters,
        )
        assert [o["name"] for o in header["outputs"]] == ["grad_y_pred"]
        want = reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}, return_grad=True)
        assert_same(got, {"grad_y_pred": want["grad_y_pred"]})


def test_only_the_loss_when_only_the_loss_is_requested(client: TestClient) -> None:
    header, got = infer(
        client,
        "mse",
        [T("y_true", REG_TRUE), T("y_pred", REG_PRED)],
        outputs=[{"name": "loss"}],
        parameters={"return_grad": True},
    )
    assert [o["name"] for o in header["outputs"]] == ["loss"]
    assert_same(got, {"loss": reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED})["loss"]})


def test_id_is_echoed_and_absent_when_not_sent(client: TestClient) -> None:
    header, _ = infer(client, "mse", [T("y_true", REG_TRUE), T("y_pred", REG_PRED)], request_id="req-42 é")
    assert header["id"] == "req-42 é"
    header, _ = infer(client, "mse", [T("y_true", REG_TRUE), T("y_pred", REG_PRED)])
    assert "id" not in header
    assert header["model_name"] == "mse"


def test_header_lengths_count_bytes_not_characters(client: TestClient) -> None:
    """A non-ASCII id makes the JSON header longer in bytes than in characters, both ways."""
    request_id = "Zürich-東京-" + "é" * 20
    inputs = [T("y_true", REG_TRUE, binary=True), T("y_pred", REG_PRED, binary=True)]
    body, headers = build(inputs, parameters={"binary_data_output": True, "return_grad": True}, request_id=request_id)
    document = json.dumps({"id": request_id}, ensure_ascii=False).encode()  # raw UTF-8, not \u escapes
    body = body.replace(json.dumps({"id": request_id}).encode()[:-1], document[:-1], 1)
    header_length = body.index(b"}]}") + 3  # the header ends after the last input's description
    headers = {"Inference-Header-Content-Length": str(header_length)}
    assert header_length > len(body[:header_length].decode())  # more bytes than characters
    header, got = parse(client.post("/v2/models/mse/infer", content=body, headers=headers))
    assert header["id"] == request_id
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}, return_grad=True))


def test_header_length_on_a_json_only_request(client: TestClient) -> None:
    body, _ = build([T("y_true", REG_TRUE), T("y_pred", REG_PRED)])
    response = client.post(
        "/v2/models/mse/infer", content=body, headers={"Inference-Header-Content-Length": str(len(body))}
    )
    _, got = parse(response)
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}))


# Precision: FP32 in, FP32 out (float32 maths); FP64 in, FP64 out.


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_fp32_in_fp32_out(client: TestClient, binary: bool) -> None:
    y_true, y_pred = REG_TRUE.astype(np.float32), REG_PRED.astype(np.float32)
    inputs = [T("y_true", y_true, "FP32", binary=binary), T("y_pred", y_pred, "FP32", binary=binary)]
    header, got = infer(
        client, "mse", inputs, parameters={"return_grad": True, "binary_data_output": binary, "reduction": "none"}
    )
    assert [o["datatype"] for o in header["outputs"]] == ["FP32", "FP32"]
    if binary:
        assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [6 * 4, 6 * 4]
    want = reference(
        client, "mse", {"y_true": y_true, "y_pred": y_pred}, return_grad=True, reduction="none", dtype="float32"
    )
    assert_same(got, want, "FP32")


def test_fp32_maths_is_float32_not_rounded_float64(client: TestClient) -> None:
    """A mean over many float32 values: float32 arithmetic gives another answer than float64 rounded."""
    y_pred = np.random.default_rng(3).normal(size=(64, 16)).astype(np.float32)
    y_true = np.zeros_like(y_pred)
    _, got32 = infer(
        client, "mse", [T("y_true", y_true, "FP32", binary=True), T("y_pred", y_pred, "FP32", binary=True)]
    )
    _, got64 = infer(client, "mse", [T("y_true", y_true, binary=True), T("y_pred", y_pred, binary=True)])
    assert got32["loss"].dtype == np.float32 and got64["loss"].dtype == np.float64
    assert_same(got32, reference(client, "mse", {"y_true": y_true, "y_pred": y_pred}, dtype="float32"), "FP32")
    assert_same(got64, reference(client, "mse", {"y_true": y_true, "y_pred": y_pred}))
    assert abs(float(got32["loss"]) - float(got64["loss"])) < 1e-5 * float(got64["loss"])


def test_one_fp64_input_makes_the_computation_fp64(client: TestClient) -> None:
    y_pred = REG_PRED.astype(np.float32)
    _, got = infer(
        client, "mse", [T("y_true", REG_TRUE), T("y_pred", y_pred, "FP32")], parameters={"return_grad": True}
    )
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": y_pred}, return_grad=True), "FP64")


# Integer inputs: INT64 and INT32 class indices.


@pytest.mark.parametrize("datatype", ["INT64", "INT32"])
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_sparse_categorical_indices(client: TestClient, datatype: str, binary: bool) -> None:
    inputs = [T("y_true", INDICES, datatype, binary=binary), T("y_pred", LOGITS, binary=binary)]
    parameters = {"from_logits": True, "return_grad": True, "reduction": "none"}
    _, got = infer(client, "sparse_categorical_crossentropy", inputs, parameters=parameters)
    want = reference(
        client,
        "sparse_categorical_crossentropy",
        {"y_true": INDICES, "y_pred": LOGITS},
        params={"from_logits": True},
        return_grad=True,
        reduction="none",
    )
    assert_same(got, want)


def test_sparse_categorical_fp32_with_int32_indices(client: TestClient) -> None:
    logits = LOGITS.astype(np.float32)
    inputs = [T("y_true", INDICES, "INT32", binary=True), T("y_pred", logits, "FP32", binary=True)]
    _, got = infer(
        client, "sparse_categorical_crossentropy", inputs, parameters={"from_logits": True, "return_grad": True}
    )
    want = reference(
        client,
        "sparse_categorical_crossentropy",
        {"y_true": INDICES, "y_pred": logits},
        params={"from_logits": True},
        return_grad=True,
        dtype="float32",
    )
    assert_same(got, want, "FP32")


# Parameters: scalar ones in request parameters, array ones as inputs.


@pytest.mark.parametrize(
    ("loss", "inputs", "params", "reduction"),
    [
        ("binary_crossentropy", {"y_true": BINARY_TRUE, "y_pred": LOGITS}, {"from_logits": True}, "sum"),
        ("binary_crossentropy", {"y_true": BINARY_TRUE, "y_pred": PROBS_PRED}, {"label_smoothing": 0.1}, "none"),
        ("binary_focal", {"y_true": BINARY_TRUE, "y_pred": LOGITS}, {"gamma": 1.5, "alpha": None}, "mean"),
        (
            "categorical_crossentropy",
            {"y_true": DIST_TRUE, "y_pred": PROBS_PRED},
            {"label_smoothing": 0.2, "eps": 1e-6},
            "none",
        ),
        ("categorical_crossentropy", {"y_true": DIST_TRUE, "y_pred": LOGITS}, {"from_logits": True}, None),
        (
            "sparse_categorical_crossentropy",
            {"y_true": INDICES, "y_pred": LOGITS},
            {"from_logits": True, "ignore_index": 2},
            "mean",
        ),
        ("kl_divergence", {"y_true": DIST_TRUE, "y_pred": DIST_TRUE[::-1].copy()}, {}, "batchmean"),
        ("cosine_similarity", {"y_true": REG_TRUE, "y_pred": REG_PRED}, {}, "none"),
    ],
)
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_request_parameters(
    client: TestClient,
    loss: str,
    inputs: dict[str, np.ndarray],
    params: dict[str, Any],
    reduction: str | None,
    binary: bool,
) -> None:
    spec = CATALOG[loss]
    tensors = [T(i.name, inputs[i.name], "INT64" if i.integer else "FP64", binary=binary) for i in spec.inputs]
    parameters: dict[str, Any] = {**params, "return_grad": True}
    if reduction is not None:
        parameters["reduction"] = reduction
    _, got = infer(client, loss, tensors, parameters=parameters)
    assert_same(got, reference(client, loss, inputs, params=params, reduction=reduction, return_grad=True))


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_class_weight_as_an_input(client: TestClient, binary: bool) -> None:
    weights = np.array([0.5, 2.0, 1.25])
    inputs = [
        T("y_true", INDICES, "INT64", binary=binary),
        T("y_pred", LOGITS, binary=binary),
        T("class_weight", weights, binary=binary),
    ]
    parameters = {"from_logits": True, "ignore_index": 1, "return_grad": True}
    _, got = infer(client, "sparse_categorical_crossentropy", inputs, parameters=parameters)
    want = reference(
        client,
        "sparse_categorical_crossentropy",
        {"y_true": INDICES, "y_pred": LOGITS},
        params={"from_logits": True, "ignore_index": 1, "class_weight": weights.tolist()},
        return_grad=True,
    )
    assert_same(got, want)
    plain = reference(
        client,
        "sparse_categorical_crossentropy",
        {"y_true": INDICES, "y_pred": LOGITS},
        params={"from_logits": True, "ignore_index": 1},
    )
    assert bits(got["loss"]) != bits(plain["loss"])  # the weights were used


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_pos_weight_as_an_input(client: TestClient, binary: bool) -> None:
    weights = np.array([1.0, 3.0, 0.5])
    inputs = [T("y_true", BINARY_TRUE, binary=binary), T("pos_weight", weights, binary=binary), T("y_pred", LOGITS)]
    _, got = infer(client, "binary_crossentropy", inputs, parameters={"from_logits": True, "return_grad": True})
    want = reference(
        client,
        "binary_crossentropy",
        {"y_true": BINARY_TRUE, "y_pred": LOGITS},
        params={"from_logits": True, "pos_weight": weights.tolist()},
        return_grad=True,
    )
    assert_same(got, want)


def test_scalar_pos_weight_as_a_shape_0_input(client: TestClient) -> None:
    inputs = [T("y_true", BINARY_TRUE), T("y_pred", LOGITS), T("pos_weight", 2.5)]
    response = client.post(
        "/v2/models/binary_crossentropy/infer", content=build(inputs, parameters={"from_logits": True})[0]
    )
    _, got = parse(response)
    want = reference(
        client,
        "binary_crossentropy",
        {"y_true": BINARY_TRUE, "y_pred": LOGITS},
        params={"from_logits": True, "pos_weight": 2.5},
    )
    assert_same(got, want)


@pytest.mark.parametrize(
    ("loss", "inputs", "param", "value"),
    [
        ("sparse_categorical_crossentropy", {"y_true": INDICES, "y_pred": LOGITS}, "class_weight", [1.0, 2.0, 3.0]),
        ("binary_crossentropy", {"y_true": BINARY_TRUE, "y_pred": LOGITS}, "pos_weight", [1.0, 2.0, 3.0]),
    ],
)
def test_array_params_as_parameters_are_400(
    client: TestClient, loss: str, inputs: dict[str, np.ndarray], param: str, value: Any
) -> None:
    spec = CATALOG[loss]
    tensors = [T(i.name, inputs[i.name], "INT64" if i.integer else "FP64") for i in spec.inputs]
    body, headers = build(tensors, parameters={param: value, "from_logits": True})
    assert_error(client.post(f"/v2/models/{loss}/infer", content=body, headers=headers), 400, param, "input")


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("weight", [[0.5, 2.0], [[1.0, 0.0, 2.0], [0.5, 0.5, 3.0]]], ids=["per-sample", "full"])
def test_sample_weight_as_an_input(client: TestClient, binary: bool, weight: list[Any]) -> None:
    inputs = [T("y_true", REG_TRUE), T("y_pred", REG_PRED), T("sample_weight", weight, binary=binary)]
    for reduction in ("mean", "sum", "none"):
        _, got = infer(client, "mse", inputs, parameters={"reduction": reduction, "return_grad": True})
        want = reference(
            client,
            "mse",
            {"y_true": REG_TRUE, "y_pred": REG_PRED},
            sample_weight=weight,
            reduction=reduction,
            return_grad=True,
        )
        assert_same(got, want)


def test_protocol_parameters_of_triton_clients_are_ignored(client: TestClient) -> None:
    _, got = infer(
        client,
        "mse",
        [T("y_true", REG_TRUE), T("y_pred", REG_PRED)],
        parameters={"priority": 1, "timeout": 1000, "sequence_id": 0, "sequence_start": False, "sequence_end": False},
    )
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}))


def test_a_large_binary_request_offloaded_to_a_thread(client: TestClient) -> None:
    """Bodies past ``offload_bytes`` (256 KiB by default) are parsed and computed in a worker thread."""
    y_pred = np.random.default_rng(5).normal(size=(4096, 8))
    y_true = np.zeros_like(y_pred)
    inputs = [T("y_true", y_true, binary=True), T("y_pred", y_pred, binary=True)]
    body, headers = build(inputs, parameters={"return_grad": True, "binary_data_output": True})
    assert len(body) > 256 * 1024
    _, got = parse(client.post("/v2/models/mse/infer", content=body, headers=headers))
    assert_same(got, reference(client, "mse", {"y_true": y_true, "y_pred": y_pred}, return_grad=True))
    body, headers = build([inputs[0], T("y_pred", y_pred[:-1], binary=True)])  # shapes disagree
    assert_error(client.post("/v2/models/mse/infer", content=body, headers=headers), 400, "shape")


# Every test case of every loss, binary in and out, against POST /losses/{name}.


def sweep_requests(case_index: int, datatype: str) -> Iterator[tuple[str, list[T], dict[str, Any], dict[str, Any]]]:
    """(reduction, tensors, request parameters, JSON API params) for one case."""
    case = CASES[case_index]
    spec = CATALOG[case.loss]
    raw = case.inputs(case_index)
    params = resolve_params(case, raw, case_index)
    real = NUMPY_OF[datatype]
    given = [i for i in spec.inputs if i.name in raw]  # an optional input the case omits is not sent
    arrays = {i.name: np.asarray(raw[i.name]).astype(np.int64 if i.integer else real) for i in given}
    array_params = {p.name for p in spec.params if p.kind in ARRAY_PARAM_KINDS}
    tensors = [T(i.name, arrays[i.name], "INT64" if i.integer else datatype, binary=True) for i in given]
    json_params = {k: v for k, v in params.items() if k not in array_params}
    for name in sorted(array_params & set(params)):
        value = params[name]
        if value is None:
            continue
        tensors.append(T(name, value, binary=True))  # a number travels as a shape [] tensor
        json_params[name] = value
    scalar = {k: v for k, v in params.items() if k not in array_params}
    # FP32: the unreduced values, or a scalar loss's one value (its only reduction is mean)
    reductions = spec.reductions if datatype == "FP64" else ("none",) if "none" in spec.reductions else ("mean",)
    for reduction in reductions:
        yield reduction, tensors, scalar, json_params


SWEEP = [(i, case.id) for i, case in enumerate(CASES) if case.loss in CATALOG]


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
@pytest.mark.parametrize("case_index", [i for i, _ in SWEEP], ids=[name for _, name in SWEEP])
def test_every_case_binary_matches_the_json_api(client: TestClient, case_index: int, datatype: str) -> None:
    case = CASES[case_index]
    dtype = "float64" if datatype == "FP64" else "float32"
    for reduction, tensors, scalar, json_params in sweep_requests(case_index, datatype):
        parameters = {**scalar, "reduction": reduction, "return_grad": True, "binary_data_output": True}
        header, got = infer(client, case.loss, tensors, parameters=parameters)
        assert header["model_name"] == case.loss
        arrays = {t.name: t.array for t in tensors if t.name in {i.name for i in CATALOG[case.loss].inputs}}
        want = reference(
            client, case.loss, arrays, params=json_params, reduction=reduction, return_grad=True, dtype=dtype
        )
        assert_same(got, want, datatype)


# Errors: 400 {"error": ...} as application/json, never a 500.


def mse_request(
    *,
    y_true: Any = None,
    y_pred: Any = None,
    parameters: dict[str, Any] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> bytes:
    document: dict[str, Any] = {
        "inputs": [
            y_true or {"name": "y_true", "shape": [2, 2], "datatype": "FP64", "data": [0.0, 1.0, 1.0, 0.0]},
            y_pred or {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 0.5, 0.25, 0.75]},
            *(extra or []),
        ]
    }
    if parameters is not None:
        document["parameters"] = parameters
    if outputs is not None:
        document["outputs"] = outputs
    return json.dumps(document).encode()


def binary_y_pred(size: int = 32, shape: list[int] | None = None, datatype: str = "FP64") -> dict[str, Any]:
    return {
        "name": "y_pred",
        "shape": shape or [2, 2],
        "datatype": datatype,
        "parameters": {"binary_data_size": size},
    }


def with_binary(header: bytes, blob: bytes, length: str | None = None) -> tuple[bytes, dict[str, str]]:
    return header + blob, {"Inference-Header-Content-Length": str(len(header)) if length is None else length}


FOUR = np.array([0.5, 0.5, 0.25, 0.75]).tobytes()  # 32 bytes: a [2, 2] FP64 tensor
HEADER = mse_request(y_pred=binary_y_pred())


def _tensor(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def _bad_data(data: Any, datatype: str = "FP64", shape: list[int] | None = None) -> bytes:
    return mse_request(y_true=_tensor("y_true", shape=shape or [2, 2], datatype=datatype, data=data))


ERRORS: dict[str, tuple[str, bytes, dict[str, str], tuple[str, ...]]] = {
    # The binary framing.
    "binary_data_size disagrees with shape x datatype": (
        "mse",
        *with_binary(mse_request(y_pred=binary_y_pred(24)), FOUR[:24]),
        ("binary_data_size",),
    ),
    "binary_data_size disagrees with FP32": (
        "mse",
        *with_binary(mse_request(y_pred=binary_y_pred(32, datatype="FP32")), FOUR),
        ("binary_data_size",),
    ),
    "binary_data_size runs past the body": ("mse", *with_binary(HEADER, FOUR[:16]), ("binary_data_size",)),
    "trailing bytes after the last binary input": ("mse", *with_binary(HEADER, FOUR + b"\0" * 8), ("bytes",)),
    "trailing bytes after a JSON-only header": (
        "mse",
        *with_binary(mse_request(), b"\0\0\0\0"),
        ("bytes",),
    ),
    "negative binary_data_size": (
        "mse",
        *with_binary(mse_request(y_pred=binary_y_pred(-32)), FOUR),
        ("binary_data_size",),
    ),
    "binary_data_size is a string": (
        "mse",
        *with_binary(mse_request(y_pred=binary_y_pred("32")), FOUR),  # type: ignore[arg-type]
        ("binary_data_size",),
    ),
    "both data and binary_data_size": (
        "mse",
        *with_binary(mse_request(y_pred={**binary_y_pred(), "data": [1.0, 2.0, 3.0, 4.0]}), FOUR),
        ("binary_data_size",),
    ),
    "header length larger than the body": (
        "mse",
        *with_binary(HEADER, FOUR, str(len(HEADER) + 33)),
        ("Inference-Header-Content-Length",),
    ),
    "header length zero": ("mse", *with_binary(HEADER, FOUR, "0"), ("Inference-Header-Content-Length",)),
    "header length negative": ("mse", *with_binary(HEADER, FOUR, "-5"), ("Inference-Header-Content-Length",)),
    "header length not a number": ("mse", *with_binary(HEADER, FOUR, "abc"), ("Inference-Header-Content-Length",)),
    "header length a float": ("mse", *with_binary(HEADER, FOUR, "12.5"), ("Inference-Header-Content-Length",)),
    "header length empty": ("mse", *with_binary(HEADER, FOUR, ""), ("Inference-Header-Content-Length",)),
    "header length huge": ("mse", *with_binary(HEADER, FOUR, "9" * 30), ("Inference-Header-Content-Length",)),
    "header JSON truncated": ("mse", *with_binary(HEADER, FOUR, str(len(HEADER) - 7)), ("JSON",)),
    "header JSON truncated, no header length": ("mse", HEADER[:-7], {}, ("JSON",)),
    "body not JSON": ("mse", b"\x00\x01binary", {}, ("JSON",)),
    "empty body": ("mse", b"", {}, ("JSON",)),
    "NaN in the header": ("mse", mse_request().replace(b"0.25", b"NaN"), {}, ("NaN",)),
    "header is an array": ("mse", b"[]", {}, ("object",)),
    "unknown top-level field": ("mse", mse_request()[:-1] + b', "inptus": []}', {}, ("inptus",)),
    "inputs missing": ("mse", b'{"parameters": {}}', {}, ("inputs",)),
    "inputs empty": ("mse", b'{"inputs": []}', {}, ("inputs",)),
    "id not a string": ("mse", b'{"id": 7, ' + mse_request()[1:], {}, ("id",)),
    "parameters not an object": ("mse", mse_request(parameters=[]), {}, ("parameters",)),  # type: ignore[arg-type]
    # Tensors.
    "datatype BOOL": ("mse", _bad_data([1, 0, 1, 0], "BOOL"), {}, ("datatype", "BOOL")),
    "datatype BYTES": ("mse", _bad_data(["a", "b", "c", "d"], "BYTES"), {}, ("datatype", "BYTES")),
    "datatype FP16": ("mse", _bad_data([0.0, 1.0, 1.0, 0.0], "FP16"), {}, ("datatype", "FP16")),
    "datatype UINT8": ("mse", _bad_data([0, 1, 1, 0], "UINT8"), {}, ("datatype", "UINT8")),
    "datatype missing": (
        "mse",
        mse_request(y_true=_tensor("y_true", shape=[2, 2], data=[0, 1, 1, 0])),
        {},
        ("datatype",),
    ),
    "binary FP16": (
        "mse",
        *with_binary(mse_request(y_pred=binary_y_pred(8, datatype="FP16")), b"\0" * 8),
        ("datatype",),
    ),
    "shape with a negative dim": ("mse", _bad_data([0.0, 1.0, 1.0, 0.0], shape=[-2, -2]), {}, ("shape",)),
    "shape with -1": ("mse", _bad_data([0.0, 1.0, 1.0, 0.0], shape=[-1, 2]), {}, ("shape",)),
    "shape of floats": ("mse", _bad_data([0.0, 1.0, 1.0, 0.0], shape=[2.0, 2.0]), {}, ("shape",)),  # type: ignore[list-item]
    "shape with more axes than NumPy holds": (
        "mse",
        _bad_data([1.0], shape=[1] * 70),
        {},
        ("shape", "axes"),
    ),
    "binary input with more axes than NumPy holds": (
        "mse",
        *with_binary(mse_request(y_pred=binary_y_pred(8, shape=[1] * 33)), FOUR[:8]),
        ("shape", "axes"),
    ),
    "empty tensor with huge other axes": ("mse", _bad_data([], shape=[0, 2**62]), {}, ("shape", "too large")),
    "empty binary tensor with huge other axes": (
        "mse",
        *with_binary(mse_request(y_pred=binary_y_pred(0, shape=[0, 2**40, 2**40])), b""),
        ("shape", "too large"),
    ),
    "shape missing": ("mse", mse_request(y_true=_tensor("y_true", datatype="FP64", data=[0, 1])), {}, ("shape",)),
    "binary input with a negative dim": (
        "mse",
        *with_binary(mse_request(y_pred=binary_y_pred(32, shape=[-2, -2])), FOUR),
        ("shape",),
    ),
    "data has fewer elements than the shape": ("mse", _bad_data([0.0, 1.0, 1.0]), {}, ("elements",)),
    "data has more elements than the shape": ("mse", _bad_data([0.0, 1.0, 1.0, 0.0, 1.0]), {}, ("elements",)),
    "nested data of another count": ("mse", _bad_data([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]), {}, ("elements",)),
    "ragged nested data": ("mse", _bad_data([[0.0, 1.0, 1.0], [0.0]]), {}, ("ragged",)),
    "a boolean in data": ("mse", _bad_data([0.0, True, 1.0, 0.0]), {}, ("boolean",)),
    "all booleans in data": ("mse", _bad_data([False, True, True, False]), {}, ("boolean",)),
    "a string in data": ("mse", _bad_data([0.0, "1", 1.0, 0.0]), {}, ("string",)),
    "null in data": ("mse", _bad_data([0.0, None, 1.0, 0.0]), {}, ("null",)),
    "data missing": ("mse", mse_request(y_true=_tensor("y_true", shape=[2, 2], datatype="FP64")), {}, ("data",)),
    "INT64 data that is not integral": (
        "sparse_categorical_crossentropy",
        json.dumps(
            {
                "inputs": [
                    {"name": "y_true", "shape": [2], "datatype": "INT64", "data": [0, 1.5]},
                    {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 0.5, 0.2, 0.8]},
                ]
            }
        ).encode(),
        {},
        ("INT64",),
    ),
    "INT32 data out of range": (
        "sparse_categorical_crossentropy",
        json.dumps(
            {
                "inputs": [
                    {"name": "y_true", "shape": [2], "datatype": "INT32", "data": [0, 2**31]},
                    {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 0.5, 0.2, 0.8]},
                ]
            }
        ).encode(),
        {},
        ("INT32",),
    ),
    # Inputs and outputs by name.
    "unknown input name": (
        "mse",
        mse_request(extra=[_tensor("y_hat", shape=[2, 2], datatype="FP64", data=[0, 1, 1, 0])]),
        {},
        ("y_hat",),
    ),
    "an array param of another loss": (
        "mse",
        mse_request(extra=[_tensor("class_weight", shape=[2], datatype="FP64", data=[1, 2])]),
        {},
        ("class_weight",),
    ),
    "missing input": (
        "mse",
        b'{"inputs": [' + json.dumps(json.loads(mse_request())["inputs"][1]).encode() + b"]}",
        {},
        ("y_true",),
    ),
    "input given twice": (
        "mse",
        mse_request(extra=[_tensor("y_pred", shape=[2, 2], datatype="FP64", data=[0, 1, 1, 0])]),
        {},
        ("y_pred",),
    ),
    "unknown output name": ("mse", mse_request(outputs=[{"name": "probabilities"}]), {}, ("probabilities",)),
    "gradient of a non-differentiable input": (
        "mse",
        mse_request(outputs=[{"name": "grad_y_true"}]),
        {},
        ("grad_y_true",),
    ),
    "output without a name": ("mse", mse_request(outputs=[{"parameters": {"binary_data": True}}]), {}, ("name",)),
    "binary_data not a boolean": (
        "mse",
        mse_request(outputs=[{"name": "loss", "parameters": {"binary_data": "true"}}]),
        {},
        ("binary_data",),
    ),
    "binary_data_output not a boolean": (
        "mse",
        mse_request(parameters={"binary_data_output": 1}),
        {},
        ("binary_data_output",),
    ),
    # Request parameters.
    "bad reduction": ("mse", mse_request(parameters={"reduction": "average"}), {}, ("reduction",)),
    "batchmean for a loss without it": ("mse", mse_request(parameters={"reduction": "batchmean"}), {}, ("reduction",)),
    "return_grad not a boolean": ("mse", mse_request(parameters={"return_grad": "yes"}), {}, ("return_grad",)),
    "a param the loss does not have": ("mse", mse_request(parameters={"gamma": 2.0}), {}, ("gamma",)),
    "gamma -1": ("binary_focal", mse_request(parameters={"gamma": -1}), {}, ("gamma",)),
    "misspelt param": ("binary_focal", mse_request(parameters={"gama": 2.0}), {}, ("gama",)),
    "from_logits a string": ("binary_focal", mse_request(parameters={"from_logits": "true"}), {}, ("from_logits",)),
    "label_smoothing above 1": (
        "binary_crossentropy",
        mse_request(parameters={"label_smoothing": 1.5}),
        {},
        ("label_smoothing",),
    ),
    "ignore_index not an integer": (
        "sparse_categorical_crossentropy",
        json.dumps(
            {
                "parameters": {"ignore_index": 0.5},
                "inputs": [
                    {"name": "y_true", "shape": [2], "datatype": "INT64", "data": [0, 1]},
                    {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 0.5, 0.2, 0.8]},
                ],
            }
        ).encode(),
        {},
        ("ignore_index",),
    ),
    # The engine's own checks.
    "probabilities outside [0, 1]": (
        "binary_crossentropy",
        mse_request(y_pred={"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 1.5, 0.25, -0.1]}),
        {},
        ("y_pred",),
    ),
    "class index out of range": (
        "sparse_categorical_crossentropy",
        json.dumps(
            {
                "inputs": [
                    {"name": "y_true", "shape": [2], "datatype": "INT64", "data": [0, 5]},
                    {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 0.5, 0.2, 0.8]},
                ]
            }
        ).encode(),
        {},
        ("y_true",),
    ),
    "shapes that do not match": (
        "mse",
        mse_request(y_true=_tensor("y_true", shape=[2, 3], datatype="FP64", data=[0, 1, 1, 0, 1, 1])),
        {},
        ("shape",),
    ),
    "empty batch": (
        "mse",
        json.dumps(
            {
                "inputs": [
                    {"name": "y_true", "shape": [0, 2], "datatype": "FP64", "data": []},
                    {"name": "y_pred", "shape": [0, 2], "datatype": "FP64", "data": []},
                ]
            }
        ).encode(),
        {},
        ("empty",),
    ),
    "sample_weight of the wrong shape": (
        "mse",
        mse_request(extra=[_tensor("sample_weight", shape=[3], datatype="FP64", data=[1, 1, 1])]),
        {},
        ("sample_weight",),
    ),
    "NaN in a binary input": (
        "mse",
        *with_binary(HEADER, np.array([0.5, np.nan, 0.25, 0.75]).tobytes()),
        ("y_pred",),
    ),
    "infinity in a binary input": (
        "mse",
        *with_binary(HEADER, np.array([0.5, np.inf, 0.25, 0.75]).tobytes()),
        ("y_pred",),
    ),
    "FP32 data that overflows float32": (
        "mse",
        mse_request(
            y_true=_tensor("y_true", shape=[2, 2], datatype="FP32", data=[0, 1, 1, 0]),
            y_pred=_tensor("y_pred", shape=[2, 2], datatype="FP32", data=[1e300, 1, 1, 0]),
        ),
        {},
        ("y_pred",),
    ),
    "a result that is not finite": (
        "mse",
        *with_binary(HEADER, np.array([0.5, 1e200, 0.25, 0.75]).tobytes()),
        ("finite",),
    ),
    "class_weight as a parameter": (
        "sparse_categorical_crossentropy",
        json.dumps(
            {
                "parameters": {"class_weight": [1.0, 2.0]},
                "inputs": [
                    {"name": "y_true", "shape": [2], "datatype": "INT64", "data": [0, 1]},
                    {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 0.5, 0.2, 0.8]},
                ],
            }
        ).encode(),
        {},
        ("class_weight",),
    ),
    "class_weight input of the wrong length": (
        "sparse_categorical_crossentropy",
        json.dumps(
            {
                "inputs": [
                    {"name": "y_true", "shape": [2], "datatype": "INT64", "data": [0, 1]},
                    {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 0.5, 0.2, 0.8]},
                    {"name": "class_weight", "shape": [3], "datatype": "FP64", "data": [1, 2, 3]},
                ],
            }
        ).encode(),
        {},
        ("class_weight",),
    ),
}


def valid_request_works(client: TestClient) -> None:
    body, headers = build([T("y_true", REG_TRUE, binary=True), T("y_pred", REG_PRED)], parameters={"return_grad": True})
    _, got = parse(client.post("/v2/models/mse/infer", content=body, headers=headers))
    assert_same(got, reference(client, "mse", {"y_true": REG_TRUE, "y_pred": REG_PRED}, return_grad=True))


@pytest.mark.parametrize("what", list(ERRORS))
def test_bad_request_is_400_with_an_error_message(client: TestClient, what: str) -> None:
    model, body, headers, fragments = ERRORS[what]
    response = client.post(f"/v2/models/{model}/infer", content=body, headers=headers)
    assert_error(response, 400, *fragments)


def test_the_server_still_answers_after_the_error_barrage(client: TestClient) -> None:
    for model, body, headers, _ in ERRORS.values():
        assert client.post(f"/v2/models/{model}/infer", content=body, headers=headers).status_code == 400
    valid_request_works(client)
    assert client.get("/v2/health/ready").status_code == 200


def test_body_over_the_limit_is_413() -> None:
    with make_checked_client(Settings(max_body_bytes=2048)) as small:
        y = np.zeros((16, 16))
        body, headers = build([T("y_true", y, binary=True), T("y_pred", y, binary=True)])
        assert len(body) > 2048
        assert_error(small.post("/v2/models/mse/infer", content=body, headers=headers), 413, "2048")
        body, headers = build([T("y_true", y), T("y_pred", y)])  # JSON only
        assert len(body) > 2048
        assert_error(small.post("/v2/models/mse/infer", content=body, headers=headers), 413)
        valid_request_works(small)  # small enough


# A header no test client can send: raw latin-1 bytes, straight to the ASGI app.


def test_the_raw_asgi_request_sends_a_valid_request() -> None:
    body = mse_request()
    headers = [(b"inference-header-content-length", str(len(body)).encode())]
    status, _, content = asyncio.run(asgi_request(create_app(), "POST", b"/v2/models/mse/infer", body, headers))
    assert status == 200, content
    assert json.loads(content)["outputs"][0]["name"] == "loss"


@pytest.mark.parametrize("value", [b"\xb2", b"1\xb9", b"\xb3"])
def test_header_length_with_unicode_digits_is_400(value: bytes) -> None:
    body = mse_request()
    headers = [(b"inference-header-content-length", value)]
    status, _, content = asyncio.run(asgi_request(create_app(), "POST", b"/v2/models/mse/infer", body, headers))
    assert status == 400, content
    assert set(json.loads(content)) == {"error"}
