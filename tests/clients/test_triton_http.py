"""A real Open Inference Protocol client nobody here wrote: ``tritonclient.http`` against the real server.

The server runs as a subprocess (``tests/support/http.py``). Every result is compared, to the last
bit, with what ``POST /losses/{name}`` on the same server answers for the same data, over the scenarios
of ``tests/support/oip.py`` (array params as tensors, boolean parameters, a scalar loss, FP32).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.http import running_server
from tests.support.oip import LOGITS, MASK_LOGITS_3, NUMPY_OF, ONE_HOT, SCENARIOS, reference
from tests.support.require import skip_unless_available

try:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException
except ImportError as error:  # pragma: no cover - depends on the environment
    skip_unless_available("tritonclient", f"tritonclient[http] cannot be imported ({error})")


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with running_server() as url:
        yield url


@pytest.fixture(scope="module")
def client(server_url: str) -> Iterator[Any]:
    triton_client = triton.InferenceServerClient(server_url.removeprefix("http://"), network_timeout=30)
    yield triton_client
    triton_client.close()


@pytest.fixture(scope="module")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as http_client:
        yield http_client


def make_input(name: str, array: np.ndarray, datatype: str, binary: bool) -> Any:
    array = np.ascontiguousarray(array, dtype=NUMPY_OF[datatype])
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


@pytest.mark.parametrize("mode", ["json", "binary", "client-default"])
@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_infer_matches_the_json_api(client: Any, http: httpx.Client, scenario: str, datatype: str, mode: str) -> None:
    loss, named, array_params, params, reduction = SCENARIOS[scenario]
    binary = mode != "json"
    arrays = {
        name: np.asarray(array, dtype=np.int64 if kind == "index" else NUMPY_OF[datatype])
        for name, (array, kind) in named.items()
    }
    inputs = [
        make_input(name, array, "INT64" if named[name][1] == "index" else datatype, binary)
        for name, array in arrays.items()
    ]
    inputs += [make_input(name, value, "FP64", binary) for name, value in array_params.items()]
    parameters: dict[str, Any] = {**params, "return_grad": True}
    if reduction is not None:
        parameters["reduction"] = reduction
    outputs = None
    if mode != "client-default":  # the client then asks for every output in binary (binary_data_output)
        outputs = [triton.InferRequestedOutput("loss", binary_data=binary)]
        outputs.append(triton.InferRequestedOutput("grad_y_pred", binary_data=binary))
    result = client.infer(
        loss, inputs, outputs=outputs, parameters=parameters, request_id=f"{scenario}/{datatype}/{mode}"
    )

    response = result.get_response()
    assert response["model_name"] == loss
    assert response["id"] == f"{scenario}/{datatype}/{mode}"
    described = {o["name"]: o for o in response["outputs"]}
    assert set(described) == {"loss", "grad_y_pred"}
    for output in described.values():
        assert output["datatype"] == datatype
        assert ("binary_data_size" in output.get("parameters", {})) == binary
        assert ("data" in output) == (not binary)

    json_params = {**params, **{name: value.tolist() for name, value in array_params.items()}}
    dtype = "float64" if datatype == "FP64" else "float32"
    want = reference(http, loss, arrays, json_params, reduction, dtype)
    for name in ("loss", "grad_y_pred"):
        got = result.as_numpy(name)
        assert got.dtype == NUMPY_OF[datatype]
        assert got.shape == want[name].shape, name
        assert got.astype(np.float64).tobytes() == want[name].tobytes(), f"{name}: {got!r} != {want[name]!r}"


def test_int32_indices_and_fp32_outputs(client: Any, http: httpx.Client) -> None:
    y_true = np.array([0, 3, 1, 2, 3], dtype=np.int32)
    y_pred = LOGITS.astype(np.float32)
    inputs = [make_input("y_true", y_true, "INT32", True), make_input("y_pred", y_pred, "FP32", True)]
    result = client.infer("sparse_categorical_crossentropy", inputs, parameters={"from_logits": True})
    loss = result.as_numpy("loss")
    assert loss.dtype == np.float32 and loss.shape == ()
    want = reference(
        http,
        "sparse_categorical_crossentropy",
        {"y_true": y_true, "y_pred": y_pred},
        {"from_logits": True},
        None,
        "float32",
    )
    assert loss.astype(np.float64).tobytes() == want["loss"].tobytes()
    assert result.as_numpy("grad_y_pred") is None  # not asked for


def test_protocol_options_of_the_client_are_accepted(client: Any) -> None:
    inputs = [make_input("y_true", np.zeros((2, 2)), "FP64", True), make_input("y_pred", np.ones((2, 2)), "FP64", True)]
    result = client.infer("mse", inputs, priority=1, timeout=10_000_000, headers={"X-Test": "1"})
    assert result.as_numpy("loss") == 1.0
    assert result.get_response().get("id") is None  # none sent, none echoed


def test_server_health_and_metadata(client: Any) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert "binary_tensor_data" in metadata["extensions"]
    assert metadata["name"] and metadata["version"]


@pytest.mark.parametrize(
    ("loss", "inputs", "outputs"),
    [
        ("mse", [("y_true", "FP64"), ("y_pred", "FP64")], ["loss", "grad_y_pred"]),
        ("sparse_categorical_crossentropy", [("y_true", "INT64"), ("y_pred", "FP64")], ["loss", "grad_y_pred"]),
        ("kl_divergence", [("y_true", "FP64"), ("y_pred", "FP64")], ["loss", "grad_y_pred"]),
    ],
)
def test_model_metadata_and_readiness(
    client: Any, loss: str, inputs: list[tuple[str, str]], outputs: list[str]
) -> None:
    for version in ("", "1"):
        metadata = client.get_model_metadata(loss, model_version=version)
        assert metadata["name"] == loss
        assert "1" in metadata["versions"]
        assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == inputs
        assert [t["name"] for t in metadata["outputs"]] == outputs
        assert client.is_model_ready(loss, model_version=version)
    assert not client.is_model_ready(loss, model_version="2")
    assert not client.is_model_ready("no_such_loss")


def expect_error(call: Any, status: str) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    assert caught.value.status() == status, str(caught.value)
    message = caught.value.message()
    assert isinstance(message, str) and message and "exception occurred in the client" not in message
    return message


def test_bad_requests_carry_the_server_message(client: Any, http: httpx.Client) -> None:
    good = [make_input("y_true", np.zeros((2, 2)), "FP64", True), make_input("y_pred", np.ones((2, 2)), "FP64", True)]

    message = expect_error(lambda: client.infer("mse", good, parameters={"reduction": "average"}), "400")
    assert "reduction" in message and "average" in message
    message = expect_error(lambda: client.infer("binary_focal", good, parameters={"gamma": -1.0}), "400")
    assert "gamma" in message
    message = expect_error(
        lambda: client.infer("mse", good, outputs=[triton.InferRequestedOutput("grad_y_true")]), "400"
    )
    assert "grad_y_true" in message
    bad_probability = [
        make_input("y_true", np.zeros((2, 2)), "FP64", False),
        make_input("y_pred", np.full((2, 2), 1.5), "FP64", True),
    ]
    message = expect_error(lambda: client.infer("binary_crossentropy", bad_probability), "400")
    assert "y_pred" in message
    message = expect_error(lambda: client.infer("mse", good[:1]), "400")
    assert "y_pred" in message
    extra = [*good, make_input("class_weight", np.ones(2), "FP64", True)]
    message = expect_error(lambda: client.infer("mse", extra), "400")
    assert "class_weight" in message

    # The server's own message, word for word.
    direct = http.post(
        "/v2/models/mse/infer",
        json={
            "parameters": {"reduction": "average"},
            "inputs": [
                {"name": "y_true", "shape": [2, 2], "datatype": "FP64", "data": [0, 0, 0, 0]},
                {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [1, 1, 1, 1]},
            ],
        },
    )
    assert direct.status_code == 400
    assert (
        expect_error(lambda: client.infer("mse", good, parameters={"reduction": "average"}), "400")
        == (direct.json()["error"])
    )


def test_unknown_model_is_404(client: Any) -> None:
    good = [make_input("y_true", np.zeros((2, 2)), "FP64", True), make_input("y_pred", np.ones((2, 2)), "FP64", True)]
    assert "no_such_loss" in expect_error(lambda: client.infer("no_such_loss", good), "404")
    assert "no_such_loss" in expect_error(lambda: client.get_model_metadata("no_such_loss"), "404")
    expect_error(lambda: client.infer("mse", good, model_version="2"), "404")


def test_client_still_works_after_errors(client: Any) -> None:
    inputs = [
        make_input("y_true", np.zeros((1, 2)), "FP64", False),
        make_input("y_pred", np.ones((1, 2)), "FP64", True),
    ]
    result = client.infer("mse", inputs, parameters={"return_grad": True})
    assert result.as_numpy("loss") == 1.0
    assert result.as_numpy("grad_y_pred").tolist() == [[1.0, 1.0]]


def test_scalar_loss_refuses_sample_weight(client: Any) -> None:
    inputs = [
        make_input("y_true", ONE_HOT, "FP64", True),
        make_input("y_pred", MASK_LOGITS_3, "FP64", True),
        make_input("sample_weight", np.ones(2), "FP64", True),
    ]
    with pytest.raises(InferenceServerException) as caught:
        client.infer("generalized_dice", inputs)
    assert caught.value.status() == "400" and "sample_weight" in caught.value.message()


def test_metadata_of_a_segmentation_model(client: Any) -> None:
    metadata = client.get_model_metadata("multiclass_dice")
    assert [(t["name"], t["shape"]) for t in metadata["inputs"]] == [("y_true", [-1] * 4), ("y_pred", [-1] * 4)]
    assert [t["name"] for t in metadata["outputs"]] == ["loss", "grad_y_pred"]
    assert client.is_model_ready("generalized_kl_divergence") and client.is_model_ready("geman_mcclure")
