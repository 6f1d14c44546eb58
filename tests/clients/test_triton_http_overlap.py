"""The segmentation, divergence and robust losses of API.md section 8 through ``tritonclient.http``,
against the real server (``tests/support/http.py``): every result bit for bit what ``POST /losses/{name}``
on the same server answers. Among them an array param as a tensor (``class_weight``), boolean request
parameters, a *scalar* loss (a 0-d ``loss``, and its refusal of ``sample_weight``) and FP32."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.http import running_server
from tests.support.require import skip_unless_available

try:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException
except ImportError as error:  # pragma: no cover - depends on the environment
    skip_unless_available("tritonclient", f"tritonclient[http] cannot be imported ({error})")

NUMPY_OF = {"FP64": np.float64, "FP32": np.float32}

RNG = np.random.default_rng(29)
ONE_HOT = np.eye(3)[RNG.integers(0, 3, (2, 4, 4))]
LOGITS = RNG.normal(0, 2, (2, 4, 4, 3))
MASKS = (RNG.uniform(size=(2, 4, 4)) < 0.4).astype(float)
MASK_LOGITS = RNG.normal(0, 2, (2, 4, 4))
MASSES = RNG.uniform(0, 2, (3, 5))
LOG_Q = RNG.normal(0, 1, (3, 5))
Y = RNG.normal(size=(3, 4))
P = Y + RNG.normal(0, 2, (3, 4))

# (loss, inputs, array params sent as tensors, scalar params, reduction)
SCENARIOS: dict[str, tuple[str, dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any], str | None]] = {
    "multiclass_dice-class_weight": (
        "multiclass_dice",
        {"y_true": ONE_HOT, "y_pred": LOGITS},
        {"class_weight": np.array([0.5, 1.0, 2.0])},
        {"ignore_background": True, "alpha": 0.3, "beta": 0.7},
        "none",
    ),
    "binary_dice": ("binary_dice", {"y_true": MASKS, "y_pred": MASK_LOGITS}, {}, {"smooth": 0.5}, "sum"),
    "generalized_dice": ("generalized_dice", {"y_true": ONE_HOT, "y_pred": LOGITS}, {}, {}, None),
    "generalized_kl_divergence": ("generalized_kl_divergence", {"y_true": MASSES, "y_pred": LOG_Q}, {}, {}, "mean"),
    "charbonnier": ("charbonnier", {"y_true": Y, "y_pred": P}, {}, {}, "none"),
    "welsch": ("welsch", {"y_true": Y, "y_pred": P}, {}, {}, "mean"),
}


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


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_infer_matches_the_json_api(
    client: Any, http: httpx.Client, scenario: str, datatype: str, binary: bool
) -> None:
    loss, named, array_params, params, reduction = SCENARIOS[scenario]
    arrays = {name: value.astype(NUMPY_OF[datatype]) for name, value in named.items()}
    inputs = [make_input(name, value, datatype, binary) for name, value in arrays.items()]
    inputs += [make_input(name, value, "FP64", binary) for name, value in array_params.items()]
    parameters: dict[str, Any] = {**params, "return_grad": True}
    if reduction is not None:
        parameters["reduction"] = reduction
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("loss", "grad_y_pred")]
    result = client.infer(loss, inputs, outputs=outputs, parameters=parameters)

    body: dict[str, Any] = {name: value.tolist() for name, value in arrays.items()}
    body.update(params={**params, **{k: v.tolist() for k, v in array_params.items()}}, return_grad=True)
    body["dtype"] = "float64" if datatype == "FP64" else "float32"
    if reduction is not None:
        body["reduction"] = reduction
    response = http.post(f"/losses/{loss}", json=body)
    assert response.status_code == 200, response.text
    document = response.json()
    want = {"loss": np.asarray(document["loss"]), "grad_y_pred": np.asarray(document["grad"]["y_pred"])}
    for name in ("loss", "grad_y_pred"):
        got = result.as_numpy(name)
        assert got.dtype == NUMPY_OF[datatype] and got.shape == want[name].shape, name
        assert got.astype(np.float64).tobytes() == want[name].astype(np.float64).tobytes(), name
    if loss == "generalized_dice":
        assert result.as_numpy("loss").shape == ()


def test_scalar_loss_refuses_sample_weight(client: Any) -> None:
    inputs = [
        make_input("y_true", ONE_HOT, "FP64", True),
        make_input("y_pred", LOGITS, "FP64", True),
        make_input("sample_weight", np.ones(2), "FP64", True),
    ]
    with pytest.raises(InferenceServerException) as caught:
        client.infer("generalized_dice", inputs)
    assert caught.value.status() == "400" and "sample_weight" in caught.value.message()


def test_metadata(client: Any) -> None:
    metadata = client.get_model_metadata("multiclass_dice")
    assert [(t["name"], t["shape"]) for t in metadata["inputs"]] == [("y_true", [-1] * 4), ("y_pred", [-1] * 4)]
    assert [t["name"] for t in metadata["outputs"]] == ["loss", "grad_y_pred"]
    assert client.is_model_ready("generalized_kl_divergence") and client.is_model_ready("geman_mcclure")
