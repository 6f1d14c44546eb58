"""The Open Inference Protocol over gRPC with a client nobody here wrote: ``tritonclient.grpc``, live server.

The server runs as a subprocess (``tests/support/http.py``) with HTTP and gRPC. Every result is
compared, to the last bit, with what ``POST /losses/{name}`` on the same server answers for the same
data. Tensors go as ``raw_input_contents`` (what ``tritonclient.grpc`` sends) and, built with
Triton's own message classes, in the typed ``contents`` fields; error messages are compared with
what ``/v2`` over HTTP says for the same request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.http import ServerProcess, running_servers
from tests.support.oip import LOGITS, NUMPY_OF, SCENARIOS, reference
from tests.support.require import skip_unless_available

try:
    import grpc
    import tritonclient.grpc as triton
    from tritonclient.grpc import service_pb2, service_pb2_grpc
    from tritonclient.utils import InferenceServerException
except ImportError as error:  # pragma: no cover - depends on the environment
    skip_unless_available("tritonclient", f"tritonclient[grpc] cannot be imported ({error})")

CONTENTS = {"FP64": "fp64_contents", "FP32": "fp32_contents", "INT64": "int64_contents", "INT32": "int_contents"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_servers() as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[Any]:
    triton_client = triton.InferenceServerClient(server.grpc)
    yield triton_client
    triton_client.close()


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[Any]:
    """Triton's own generated stub, for requests the client cannot build (typed contents)."""
    with grpc.insecure_channel(server.grpc) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http_client:
        yield http_client


def make_input(name: str, array: np.ndarray, datatype: str) -> Any:
    array = np.ascontiguousarray(array, dtype=NUMPY_OF[datatype])
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)  # raw_input_contents
    return tensor


def typed_request(
    loss: str, inputs: dict[str, tuple[np.ndarray, str]], parameters: dict[str, Any], request_id: str = ""
) -> Any:
    """A ``ModelInferRequest`` with every input in the ``contents`` field of its datatype."""
    request = service_pb2.ModelInferRequest(model_name=loss, id=request_id)
    for name, (array, datatype) in inputs.items():
        tensor = request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
        getattr(tensor.contents, CONTENTS[datatype]).extend(array.reshape(-1).tolist())
    for key, value in parameters.items():
        kind = {bool: "bool_param", int: "int64_param", float: "double_param", str: "string_param"}[type(value)]
        setattr(request.parameters[key], kind, value)
    return request


def expect_error(call: Any, status: str) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    assert caught.value.status() == f"StatusCode.{status}", str(caught.value)
    message = caught.value.message()
    assert isinstance(message, str) and message
    return message


@pytest.mark.parametrize("contents", ["raw", "typed"])
@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_infer_matches_the_json_api(
    client: Any, stub: Any, http: httpx.Client, scenario: str, datatype: str, contents: str
) -> None:
    loss, named, array_params, params, reduction = SCENARIOS[scenario]
    arrays = {
        name: np.asarray(array, dtype=np.int64 if kind == "index" else NUMPY_OF[datatype])
        for name, (array, kind) in named.items()
    }
    typed = {name: (array, "INT64" if named[name][1] == "index" else datatype) for name, array in arrays.items()}
    typed.update({name: (value, "FP64") for name, value in array_params.items()})
    parameters: dict[str, Any] = {**params, "return_grad": True}
    if reduction is not None:
        parameters["reduction"] = reduction
    request_id = f"{scenario}/{datatype}/{contents}"
    if contents == "raw":
        inputs = [make_input(name, array, dtype) for name, (array, dtype) in typed.items()]
        result = client.infer(loss, inputs, parameters=parameters, request_id=request_id)
    else:
        result = triton.InferResult(stub.ModelInfer(typed_request(loss, typed, parameters, request_id)))

    response = result.get_response()
    assert response.model_name == loss
    assert response.model_version == "1"
    assert response.id == request_id
    assert [o.name for o in response.outputs] == ["loss", "grad_y_pred"]
    assert {o.datatype for o in response.outputs} == {datatype}
    assert len(response.raw_output_contents) == 2
    assert not any(o.HasField("contents") for o in response.outputs)

    json_params = {**params, **{name: value.tolist() for name, value in array_params.items()}}
    dtype = "float64" if datatype == "FP64" else "float32"
    want = reference(http, loss, arrays, json_params, reduction, dtype)
    for name in ("loss", "grad_y_pred"):
        got = result.as_numpy(name)
        assert got.dtype == NUMPY_OF[datatype]
        assert got.shape == want[name].shape, name
        assert got.astype(np.float64).tobytes() == want[name].tobytes(), f"{name}: {got!r} != {want[name]!r}"


@pytest.mark.parametrize("contents", ["raw", "typed"])
@pytest.mark.parametrize("index", ["INT32", "INT64"])
def test_integer_indices_and_fp32_outputs(
    client: Any, stub: Any, http: httpx.Client, index: str, contents: str
) -> None:
    y_true = np.array([0, 3, 1, 2, 3], dtype=NUMPY_OF[index])
    y_pred = LOGITS.astype(np.float32)
    loss = "sparse_categorical_crossentropy"
    if contents == "raw":
        inputs = [make_input("y_true", y_true, index), make_input("y_pred", y_pred, "FP32")]
        result = client.infer(loss, inputs, parameters={"from_logits": True})
    else:
        request = typed_request(loss, {"y_true": (y_true, index), "y_pred": (y_pred, "FP32")}, {"from_logits": True})
        result = triton.InferResult(stub.ModelInfer(request))
    got = result.as_numpy("loss")
    assert got.dtype == np.float32 and got.shape == ()
    want = reference(http, loss, {"y_true": y_true, "y_pred": y_pred}, {"from_logits": True}, None, "float32")
    assert got.astype(np.float64).tobytes() == want["loss"].tobytes()
    assert result.as_numpy("grad_y_pred") is None  # not asked for
    assert result.get_response().id == ""  # none sent, none echoed


def test_requested_outputs_in_their_order(client: Any) -> None:
    inputs = [make_input("y_true", np.zeros((2, 2)), "FP64"), make_input("y_pred", np.ones((2, 2)), "FP64")]
    outputs = [triton.InferRequestedOutput("grad_y_pred"), triton.InferRequestedOutput("loss")]
    result = client.infer("mse", inputs, outputs=outputs)
    assert [o.name for o in result.get_response().outputs] == ["grad_y_pred", "loss"]
    assert result.as_numpy("loss") == 1.0
    assert result.as_numpy("grad_y_pred").tolist() == [[0.5, 0.5], [0.5, 0.5]]
    only_gradient = client.infer("mse", inputs, outputs=[triton.InferRequestedOutput("grad_y_pred")])
    assert [o.name for o in only_gradient.get_response().outputs] == ["grad_y_pred"]


def test_protocol_options_of_the_client_are_accepted(client: Any) -> None:
    inputs = [make_input("y_true", np.zeros((2, 2)), "FP64"), make_input("y_pred", np.ones((2, 2)), "FP64")]
    result = client.infer("mse", inputs, priority=1, timeout=10_000_000, headers={"x-test": "1"}, client_timeout=30)
    assert result.as_numpy("loss") == 1.0


def test_server_health_and_metadata(client: Any) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata(as_json=True)
    assert metadata["name"] == "loss-service"
    assert metadata["version"]
    assert "binary_tensor_data" in metadata["extensions"]


def test_model_metadata_and_readiness_agree_with_http(client: Any, http: httpx.Client) -> None:
    for loss in ("mse", "sparse_categorical_crossentropy", "ctc", "binary_crossentropy"):
        for version in ("", "1"):
            metadata = client.get_model_metadata(loss, model_version=version, as_json=True)
            over_http = http.get(f"/v2/models/{loss}").json()
            # protobuf's JSON writes int64 as strings.
            for side in ("inputs", "outputs"):
                for tensor in metadata[side]:
                    tensor["shape"] = [int(n) for n in tensor["shape"]]
            assert metadata == over_http
            assert client.is_model_ready(loss, model_version=version)


def test_unknown_model_or_version_is_not_found_with_the_http_message(client: Any, http: httpx.Client) -> None:
    inputs = [make_input("y_true", np.zeros((2, 2)), "FP64"), make_input("y_pred", np.ones((2, 2)), "FP64")]
    over_http = http.post("/v2/models/no_such_loss/infer", json={"inputs": []}).json()["error"]
    assert expect_error(lambda: client.infer("no_such_loss", inputs), "NOT_FOUND") == over_http
    assert expect_error(lambda: client.get_model_metadata("no_such_loss"), "NOT_FOUND") == over_http
    assert expect_error(lambda: client.is_model_ready("no_such_loss"), "NOT_FOUND") == over_http
    over_http = http.get("/v2/models/mse/versions/2").json()["error"]
    assert expect_error(lambda: client.infer("mse", inputs, model_version="2"), "NOT_FOUND") == over_http
    assert expect_error(lambda: client.is_model_ready("mse", model_version="2"), "NOT_FOUND") == over_http


def v2_error(http: httpx.Client, loss: str, inputs: list[dict[str, Any]], parameters: dict[str, Any]) -> str:
    response = http.post(f"/v2/models/{loss}/infer", json={"inputs": inputs, "parameters": parameters})
    assert response.status_code == 400, response.text
    return str(response.json()["error"])


def json_tensor(name: str, array: np.ndarray, datatype: str = "FP64") -> dict[str, Any]:
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": array.reshape(-1).tolist()}


@pytest.mark.parametrize(
    ("loss", "tensors", "parameters"),
    [
        ("mse", {"y_true": np.zeros((2, 2)), "y_pred": np.ones((2, 2))}, {"reduction": "average"}),
        ("binary_focal", {"y_true": np.zeros((2, 2)), "y_pred": np.full((2, 2), 0.5)}, {"gamma": -1.0}),
        ("binary_crossentropy", {"y_true": np.zeros((2, 2)), "y_pred": np.full((2, 2), 1.5)}, {}),
        ("mse", {"y_true": np.zeros((2, 2))}, {}),
        ("mse", {"y_true": np.zeros((2, 2)), "y_pred": np.ones((2, 2)), "class_weight": np.ones(2)}, {}),
        ("mse", {"y_true": np.zeros((2, 2)), "y_pred": np.ones((3, 2))}, {}),
        ("mse", {"y_true": np.zeros((2, 2)), "y_pred": np.ones((2, 2))}, {"return_grad": "yes"}),
        ("mse", {"y_true": np.zeros((2, 2)), "y_pred": np.ones((2, 2))}, {"delta": 1.0}),
        ("categorical_crossentropy", {"y_true": np.eye(2), "y_pred": np.full((2, 2), 0.5)}, {"class_weight": 2.0}),
    ],
    ids=[
        "reduction",
        "param-out-of-range",
        "not-a-probability",
        "missing-input",
        "unknown-input",
        "shapes-disagree",
        "return_grad-not-boolean",
        "param-of-another-loss",
        "array-param-as-parameter",
    ],
)
def test_invalid_requests_are_invalid_argument_with_the_http_message(
    client: Any, http: httpx.Client, loss: str, tensors: dict[str, np.ndarray], parameters: dict[str, Any]
) -> None:
    inputs = [make_input(name, array, "FP64") for name, array in tensors.items()]
    message = expect_error(lambda: client.infer(loss, inputs, parameters=parameters), "INVALID_ARGUMENT")
    assert message == v2_error(http, loss, [json_tensor(n, a) for n, a in tensors.items()], parameters)


def test_unknown_output_is_invalid_argument(client: Any) -> None:
    inputs = [make_input("y_true", np.zeros((2, 2)), "FP64"), make_input("y_pred", np.ones((2, 2)), "FP64")]
    message = expect_error(
        lambda: client.infer("mse", inputs, outputs=[triton.InferRequestedOutput("grad_y_true")]), "INVALID_ARGUMENT"
    )
    assert "grad_y_true" in message


def test_the_client_still_works_after_errors(client: Any) -> None:
    inputs = [make_input("y_true", np.zeros((1, 2)), "FP64"), make_input("y_pred", np.ones((1, 2)), "FP64")]
    result = client.infer("mse", inputs, parameters={"return_grad": True})
    assert result.as_numpy("loss") == 1.0
    assert result.as_numpy("grad_y_pred").tolist() == [[1.0, 1.0]]
