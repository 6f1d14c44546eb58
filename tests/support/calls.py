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
