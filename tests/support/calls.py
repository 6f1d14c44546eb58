"""Calling the in-process app (the ``api_client`` fixture) the way a client would: ``POST /losses/{name}``
and ``POST /v2/models/{name}/infer`` with JSON tensors, and reading their answers back as arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

DATATYPE = {"f": "FP64", "i": "INT64", "u": "INT64"}


def post(client: Any, loss: str, body: dict[str, Any]) -> Any:
    """``POST /losses/{loss}`` with the body's arrays as nested lists."""
    document = {key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in body.items()}
    return client.post(f"/losses/{loss}", json=document)


def pointers(response: Any) -> list[str]:
    """The JSON pointers of a problem's errors."""
    return [error["pointer"] for error in response.json().get("errors", [])]


def infer(client: Any, loss: str, tensors: dict[str, np.ndarray], **parameters: Any) -> Any:
    """``POST /v2/models/{loss}/infer`` with each array as a JSON tensor (FP64, or INT64 for integers)."""
    inputs = [
        {
            "name": name,
            "shape": list(np.shape(value)),
            "datatype": DATATYPE[np.asarray(value).dtype.kind],
            "data": np.asarray(value).reshape(-1).tolist(),
        }
        for name, value in tensors.items()
    ]
    return client.post(f"/v2/models/{loss}/infer", json={"inputs": inputs, "parameters": parameters})


def outputs(response: Any) -> dict[str, np.ndarray]:
    """A /v2 answer's outputs as arrays of their shapes."""
    assert response.status_code == 200, response.text
    return {o["name"]: np.asarray(o["data"], dtype=np.float64).reshape(o["shape"]) for o in response.json()["outputs"]}


#: Numbers at and past the edges of int64 and float64, and subnormals: what a hostile client sends.
EXTREME_NUMBERS: list[Any] = [2**70, -(2**70), 2**63, -(2**63) - 1, 1e308, -1e308, 5e-324, 0, -1]
EXTREME_PARAMS: dict[str, list[Any]] = {
    "number": EXTREME_NUMBERS,
    "integer": [2**70, -(2**70), 2**63, -(2**63) - 1, 2**63 - 1],
    "boolean": [2**70, 1e308],
    "weights": [[2**70] * 8, [1e308] * 8, [-1e308] * 8, [5e-324] * 8],
    "number_or_weights": [*EXTREME_NUMBERS, [1e308] * 8],
}


def extreme_bodies(spec: Any, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Valid bodies with one param, or one input's first element, or one whole input, made extreme."""
    base = {name: value.tolist() for name, value in arrays.items()}
    bodies: list[dict[str, Any]] = []
    for param in spec.params:
        for value in EXTREME_PARAMS[param.kind]:
            bodies.append({**base, "params": {**params, param.name: value}})
    for name, array in arrays.items():
        for value in (2**70, -(2**70), 1e308, -1e308, 5e-324, -(2**63) - 1):
            one = np.asarray(array, dtype=object)
            one.flat[0] = value
            bodies.append({**base, "params": params, name: one.tolist()})
            bodies.append({**base, "params": params, name: np.full(one.shape, value, dtype=object).tolist()})
    if not spec.scalar:
        n = len(next(iter(arrays.values())))
        bodies.append({**base, "params": params, "sample_weight": [1e308] * n, "reduction": "sum"})
        bodies.append({**base, "params": params, "sample_weight": [2**70] * n, "return_grad": True})
    return bodies


def answers_every_extreme_body(client: Any, loss: str, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> None:
    """Each extreme body gets a 200 or a 422 problem, never a 500 (API.md section 3)."""
    from service.engine import CATALOG

    assert post(client, loss, {**arrays, "params": params}).status_code == 200
    for body in extreme_bodies(CATALOG[loss], arrays, params):
        response = client.post(f"/losses/{loss}", json={**body, "return_grad": True})
        assert response.status_code in (200, 422), f"{loss} {str(body)[:200]}: {response.status_code} {response.text}"
        if response.status_code == 422:
            assert response.headers["content-type"].startswith("application/problem+json")
