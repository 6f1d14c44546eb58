"""The fast path (``service/api/fast_path.py``) answers exactly what the router would.

Under a ``root_path`` the fast path steps aside and the router answers, so the same request
sent with and without one compares the two, byte for byte apart from the request id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api.fast_path import FastPath
from service.app import create_app
from service.engine import CATALOG

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[TestClient, TestClient, Any]]:
    app = create_app()
    with TestClient(app) as direct, TestClient(app, root_path="/prefix") as routed:
        yield direct, routed, app


def fast_path_of(app: Any) -> FastPath:
    layer = app.middleware_stack
    while not isinstance(layer, FastPath):
        layer = layer.app
    return layer


def test_every_compute_operation_is_in_the_table(clients: tuple[TestClient, TestClient, Any]) -> None:
    direct, _, app = clients
    assert direct.get("/livez").status_code == 200  # builds the middleware stack
    table = fast_path_of(app).table
    expected = {("POST", f"/losses/{name}") for name in CATALOG}
    expected |= {("POST", f"/v2/models/{name}/infer") for name in CATALOG}
    expected |= {("POST", f"/v2/models/{name}/versions/1/infer") for name in CATALOG}
    assert set(table) == expected
    for (_, path), entry in table.items():
        assert entry.route.path in {"/losses/" + path.rsplit("/", 1)[-1], "/v2/models/{name}/infer"} | {
            "/v2/models/{name}/versions/{version}/infer"
        }


def _rng_rows() -> list[list[float]]:
    return np.random.default_rng(3).standard_normal((8, 3)).round(6).tolist()


REQUESTS: list[tuple[str, dict[str, str], bytes]] = [
    ("/losses/mse", JSON, b'{"y_true": [[1, 2]], "y_pred": [[1.5, 2.5]], "return_grad": true}'),
    ("/losses/binary_crossentropy", JSON, b'{"y_true": [[1, 0]], "y_pred": [[2, -1]], "params": {"from_logits": 1}}'),
    ("/losses/mse", JSON, b'{"y_true": [[1, 2]], "y_pred": [[1, [2]]]}'),  # ragged: 422 with a pointer
    ("/losses/mse", JSON, b'{"y_true": [[1, 2]], "y_pred": [[1, 2]], "reduction": "max"}'),  # 422
    ("/losses/mse", JSON, b'{"y_true": [1, 2], "y_pred": [NaN, 2]}'),  # 400
    ("/losses/mse", JSON, b'{"y_true": [1], "y_pred": [1], "y_pred": [2]}'),  # repeated key: the last
    ("/losses/mse", {"content-type": "text/plain"}, b'{"y_true": [1], "y_pred": [1]}'),  # 415
    (
        "/v2/models/mse/infer",
        JSON,
        b'{"inputs": [{"name": "y_true", "shape": [2], "datatype": "FP64", "data": [1, 2]},'
        b' {"name": "y_pred", "shape": [2], "datatype": "FP64", "data": [2, 2]}]}',
    ),
    ("/v2/models/mse/versions/1/infer", JSON, b'{"inputs": []}'),  # 400 in the protocol's format
]


@pytest.mark.parametrize(("path", "headers", "body"), REQUESTS)
def test_the_fast_path_answers_what_the_router_answers(
    clients: tuple[TestClient, TestClient, Any], path: str, headers: dict[str, str], body: bytes
) -> None:
    direct, routed, _ = clients
    fast = direct.post(path, content=body, headers={**headers, "x-request-id": "same-id"})
    slow = routed.post(path, content=body, headers={**headers, "x-request-id": "same-id"})
    assert fast.status_code == slow.status_code
    assert fast.headers == slow.headers
    assert fast.content == slow.content


def test_fast_path_requests_are_labelled_by_their_route(clients: tuple[TestClient, TestClient, Any]) -> None:
    direct, _, _ = clients
    body = {"y_true": _rng_rows(), "y_pred": _rng_rows()}

    def count(handler: str, status: str) -> float:
        text = direct.get("/metrics").text
        pattern = rf'http_requests_total\{{handler="{re.escape(handler)}",method="POST",status="{status}"\}} (\S+)'
        found = re.search(pattern, text)
        return float(found.group(1)) if found else 0.0

    before = count("/losses/hinge", "422"), count("/v2/models/{name}/infer", "404")
    assert direct.post("/losses/hinge", json=body).status_code == 422  # hinge wants labels
    assert direct.post("/v2/models/nope/infer", json={"inputs": []}).status_code == 404  # the router's
    after = count("/losses/hinge", "422"), count("/v2/models/{name}/infer", "404")
    assert after == (before[0] + 1, before[1] + 1)
