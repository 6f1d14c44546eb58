"""``POST /batch``: items computed independently, each with the answer its single request would get."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

MSE = {"loss": "mse", "y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 0.0]], "return_grad": True}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(batch_max_items=4, max_body_bytes=4096))) as client:
        yield client


def single(client: TestClient, item: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = {k: v for k, v in item.items() if k != "loss"}
    response = client.post(f"/losses/{item['loss']}", json=body)
    document = response.json()
    document.pop("instance", None)  # names the single request; a batch item's problem has none
    return response.status_code, document


def test_each_item_answers_what_its_single_request_would(client: TestClient) -> None:
    items = [
        MSE,
        {"loss": "binary_crossentropy", "y_true": [[0, 1]], "y_pred": [[0.5, 1.5]]},  # 422: 1.5 not a probability
        {
            "loss": "categorical_crossentropy",
            "y_true": [[0, 1]],
            "y_pred": [[2.0, -1.0]],
            "params": {"from_logits": True},
        },
        {"loss": "no_such_loss", "y_true": [1]},  # 404
    ]
    response = client.post("/batch", json={"items": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 422, 200, 404]
    for item, result in zip(items, results, strict=True):
        status, body = single(client, item)
        assert result["status"] == status
        assert result["result" if status == 200 else "problem"] == body
    assert results[0]["result"]["loss"] == 0.0625
    assert results[0]["result"]["grad"] == {"y_pred": [[0.25, 0.0], [0.0, 0.0]]}
    assert results[1]["problem"]["errors"] == [
        {"pointer": "/y_pred/0/1", "detail": "1.5 is not a probability in [0, 1]"}
    ]
    assert "mse" in results[3]["problem"]["detail"]


def test_an_item_without_a_loss_name_fails_alone(client: TestClient) -> None:
    results = client.post("/batch", json={"items": [{"y_true": [1]}, MSE, "not an object"]}).json()["results"]
    assert [r["status"] for r in results] == [422, 200, 422]
    assert results[0]["problem"]["errors"][0]["pointer"] == "/loss"


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        ({"items": [MSE] * 5}, 422, "/items"),  # more than batch_max_items = 4
        ({"items": []}, 422, "/items"),
        ({"items": MSE}, 422, "/items"),
        ({"things": [MSE]}, 422, "/things"),
        ([MSE], 422, "/items"),
    ],
)
def test_a_fault_of_the_whole_request_is_one_problem(client: TestClient, body: Any, status: int, pointer: str) -> None:
    response = client.post("/batch", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == pointer


def test_bad_json_wrong_type_and_oversized_bodies_are_problems_for_the_request(client: TestClient) -> None:
    bad = client.post("/batch", content=b'{"items": [', headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["type"].endswith("malformed-json")
    assert client.post("/batch", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    huge = {"items": [{**MSE, "y_true": [[0.0] * 600], "y_pred": [[0.0] * 600]}]}
    assert client.post("/batch", json=huge).status_code == 413


def test_the_item_limit_is_configurable() -> None:
    with TestClient(create_app(Settings(batch_max_items=1))) as client:
        assert client.post("/batch", json={"items": [MSE]}).status_code == 200
        problem = client.post("/batch", json={"items": [MSE, MSE]}).json()
        assert problem["status"] == 422 and "at most 1 items" in problem["detail"]
