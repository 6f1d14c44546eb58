"""One computation through the engine, ``POST /losses/{name}`` and ``POST /v2/models/{name}/infer``,
in-process (``tests/conftest.py``'s ``api_client``): the three must agree bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np

from service.engine import CATALOG, compute


def post(client: Any, name: str, body: dict[str, Any]) -> Any:
    """``POST /losses/{name}`` with ``body`` (arrays as nested lists)."""
    encoded = {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v for k, v in body.items()}
    return client.post(f"/losses/{name}", json=encoded)


def problem_pointers(response: Any, status: int = 422) -> list[str]:
    """The JSON Pointers of a problem response with ``status`` (and check it is a problem)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [error["pointer"] for error in response.json().get("errors", [])]


def v2_infer(
    client: Any, name: str, tensors: dict[str, Any], parameters: dict[str, Any]
) -> tuple[int, dict[str, np.ndarray] | str]:
    """The Open Inference Protocol in JSON: FP64 tensors in, the outputs by name (or the error) out."""
    inputs = []
    for tensor_name, value in tensors.items():
        array = np.asarray(value, dtype=np.float64)
        inputs.append(
            {"name": tensor_name, "shape": list(array.shape), "datatype": "FP64", "data": array.reshape(-1).tolist()}
        )
    response = client.post(f"/v2/models/{name}/infer", json={"inputs": inputs, "parameters": parameters})
    if response.status_code != 200:
        return response.status_code, response.json()["error"]
    outputs = response.json()["outputs"]
    return 200, {o["name"]: np.asarray(o["data"], dtype=np.float64).reshape(o["shape"]) for o in outputs}


def assert_served_alike(
    client: Any,
    name: str,
    inputs: dict[str, np.ndarray],
    params: dict[str, Any] | None = None,
    reduction: str = "mean",
    sample_weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """The engine's result, and the same numbers from ``POST /losses/{name}`` and from ``/v2`` (array params
    travel as tensors there, scalar ones as request parameters). Returns the HTTP document."""
    params = dict(params or {})
    spec = CATALOG[name]
    expected = compute(spec, inputs, params, sample_weight=sample_weight, reduction=reduction, return_grad=True)
    body: dict[str, Any] = {**inputs, "params": params, "reduction": reduction, "return_grad": True}
    if sample_weight is not None:
        body["sample_weight"] = sample_weight
    response = post(client, name, body)
    assert response.status_code == 200, response.text
    document = response.json()
    assert np.asarray(document["loss"]).tobytes() == np.asarray(expected.loss, dtype=np.float64).tobytes()
    assert expected.grads is not None
    for input_name in spec.differentiable:
        assert np.asarray(document["grad"][input_name]).tobytes() == expected.grads[input_name].tobytes()

    array_params = {k: v for k, v in params.items() if isinstance(v, list)}
    tensors: dict[str, Any] = {**inputs, **array_params}
    if sample_weight is not None:
        tensors["sample_weight"] = sample_weight
    scalar_params = {k: v for k, v in params.items() if k not in array_params}
    status, outputs = v2_infer(client, name, tensors, {**scalar_params, "reduction": reduction, "return_grad": True})
    assert status == 200 and isinstance(outputs, dict), outputs
    assert outputs["loss"].tobytes() == np.asarray(expected.loss, dtype=np.float64).tobytes()
    for input_name in spec.differentiable:
        assert outputs[f"grad_{input_name}"].tobytes() == expected.grads[input_name].tobytes()
    return document
