"""Good requests for every test case of every loss, over every protocol (run by ``record.py``).

Not collected by the suite (the file name does not start with ``test_``): it only sends
requests so that the recorder keeps their answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from service.engine import CATALOG
from tests.support.engine import every_case, resolve_params
from tests.support.http import make_checked_client

JSON = {"content-type": "application/json"}
REQUEST_ID = {"x-request-id": "contract-corpus"}
CASES = every_case()


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    with make_checked_client() as client:
        yield client


def _body(case: Any, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = case.inputs(seed)
    params = resolve_params(case, inputs, seed)
    return {name: value.tolist() for name, value in inputs.items()}, params


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_losses(client, case) -> None:  # type: ignore[no-untyped-def]
    spec = CATALOG[case.loss]
    arrays, params = _body(case, 0)
    for reduction in spec.reductions:
        for dtype in ("float64", "float32"):
            body = {**arrays, "params": params, "reduction": reduction, "return_grad": True, "dtype": dtype}
            assert client.post(f"/losses/{case.loss}", json=body, headers=REQUEST_ID).status_code == 200
    first = np.asarray(arrays[spec.inputs[0].name])
    weight = np.linspace(0.5, 1.5, first.shape[0]).tolist()
    body = {**arrays, "params": params, "sample_weight": weight, "return_grad": True}
    client.post(f"/losses/{case.loss}", json=body, headers=REQUEST_ID)
    client.post("/batch", json={"items": [{"loss": case.loss, **arrays, "params": params}]}, headers=REQUEST_ID)


def _v2_inputs(case: Any, arrays: dict[str, Any], params: dict[str, Any], binary: bool) -> tuple[bytes, dict[str, str]]:
    spec = CATALOG[case.loss]
    integer = {i.name for i in spec.inputs if i.integer}
    tensors: list[tuple[str, np.ndarray, str]] = []
    for name, value in arrays.items():
        datatype = "INT64" if name in integer else "FP64"
        tensors.append((name, np.asarray(value, dtype=np.int64 if name in integer else np.float64), datatype))
    scalar = {}
    tensor_params = {p.name for p in spec.params if p.kind in ("weights", "number_or_weights")}
    for key, value in params.items():
        if key in tensor_params and value is not None:
            tensors.append((key, np.asarray(value, dtype=np.float64), "FP64"))
        else:
            scalar[key] = value
    described, blobs = [], []
    for name, array, datatype in tensors:
        tensor: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
        if binary:
            blob = array.astype(array.dtype.newbyteorder("<")).tobytes()
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = array.reshape(-1).tolist()
        described.append(tensor)
    document = {"id": "c", "parameters": {**scalar, "return_grad": True}, "inputs": described}
    if binary:
        document["parameters"]["binary_data_output"] = True
    header = orjson.dumps(document)
    if not binary:
        return header, JSON
    return header + b"".join(blobs), {"inference-header-content-length": str(len(header))}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_v2(client, case, binary) -> None:  # type: ignore[no-untyped-def]
    arrays, params = _body(case, 1)
    content, headers = _v2_inputs(case, arrays, params, binary)
    for path in (f"/v2/models/{case.loss}/infer", f"/v2/models/{case.loss}/versions/1/infer"):
        response = client.post(path, content=content, headers={**headers, **REQUEST_ID})
        assert response.status_code == 200, response.text


def test_metadata(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/losses", "/v2", "/v2/health/live", "/v2/health/ready", "/livez", "/readyz"):
        client.get(path, headers=REQUEST_ID)
    for name in CATALOG:
        for path in (
            f"/losses/{name}",
            f"/v2/models/{name}",
            f"/v2/models/{name}/ready",
            f"/v2/models/{name}/versions/1",
            f"/v2/models/{name}/versions/1/ready",
            f"/v2/models/{name}/versions/2",
        ):
            client.get(path, headers=REQUEST_ID)
        for method in ("PUT", "DELETE", "PATCH"):
            client.request(method, f"/losses/{name}", headers=REQUEST_ID)
            client.request(method, f"/v2/models/{name}/infer", headers=REQUEST_ID)
        client.post(f"/losses/{name}", content=b"{}", headers={**JSON, **REQUEST_ID})
        client.post(f"/losses/{name}/", content=b"{}", headers={**JSON, **REQUEST_ID})
        client.post(f"/v2/models/{name}/infer", content=b"{}", headers={**JSON, **REQUEST_ID})
