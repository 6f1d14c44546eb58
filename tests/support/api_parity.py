"""One computation through the engine, ``POST /losses/{name}`` and ``POST /v2/models/{name}/infer``,
in-process (``tests/conftest.py``'s ``api_client``): the three must agree bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np

from service.engine import CATALOG, compute
from tests.support.calls import infer, outputs, pointers, post

__all__ = ["assert_served_alike", "post", "problem_pointers", "v2_infer"]


def problem_pointers(response: Any, status: int = 422) -> list[str]:
    """The JSON Pointers of a problem response with ``status`` (and check it is a problem)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return pointers(response)


def v2_infer(
    client: Any, name: str, tensors: dict[str, Any], parameters: dict[str, Any]
) -> tuple[int, dict[str, np.ndarray] | str]:
    """The Open Inference Protocol in JSON: FP64 tensors in, the outputs by name (or the error) out."""
    response = infer(client, name, {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}, **parameters)
    if response.status_code != 200:
        return response.status_code, response.json()["error"]
    return 200, outputs(response)


def assert_served_alike(
    client: Any,
    name: str,
    inputs: dict[str, Any],
    params: dict[str, Any] | None = None,
    reduction: str = "mean",
    sample_weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """The engine's result, and the same numbers, bit for bit, from ``POST /losses/{name}`` and from ``/v2``
    (each array a tensor of its own kind, INT64 or FP64, as a client sends it; array params travel as
    tensors there, scalar ones as request parameters), with a gradient for each input the engine
    differentiates and no other. Returns the HTTP document."""
    params = dict(params or {})
    spec = CATALOG[name]
    expected = compute(spec, inputs, params, sample_weight=sample_weight, reduction=reduction, return_grad=True)
    assert expected.grads is not None
    loss = np.asarray(expected.loss, dtype=np.float64)
    body: dict[str, Any] = {**inputs, "params": params, "reduction": reduction, "return_grad": True}
    if sample_weight is not None:
        body["sample_weight"] = sample_weight
    response = post(client, name, body)
    assert response.status_code == 200, response.text
    document = response.json()
    assert np.asarray(document["loss"], dtype=np.float64).tobytes() == loss.tobytes()
    assert set(document["grad"]) == set(expected.grads)
    for input_name, gradient in expected.grads.items():
        assert np.asarray(document["grad"][input_name], dtype=np.float64).tobytes() == gradient.tobytes()

    array_params = {k: v for k, v in params.items() if isinstance(v, list)}
    tensors: dict[str, Any] = {**inputs, **array_params}
    if sample_weight is not None:
        tensors["sample_weight"] = sample_weight
    scalar_params = {k: v for k, v in params.items() if k not in array_params}
    answer = outputs(infer(client, name, tensors, **scalar_params, reduction=reduction, return_grad=True))
    assert set(answer) == {"loss", *(f"grad_{input_name}" for input_name in expected.grads)}
    assert answer["loss"].reshape(loss.shape).tobytes() == loss.tobytes()
    for input_name, gradient in expected.grads.items():
        assert answer[f"grad_{input_name}"].tobytes() == gradient.tobytes()
    return document
