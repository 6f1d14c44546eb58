"""``/losses``: the catalog and ``POST /losses/{name}`` through the HTTP layer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest


@pytest.mark.parametrize(
    ("loss", "params", "pointer"),
    [
        ("huber", {"delta": 0}, "/params/delta"),
        ("smooth_l1", {"beta": -0.5}, "/params/beta"),
        ("quantile", {"quantile": 1.0}, "/params/quantile"),
        ("quantile", {"quantile": 0}, "/params/quantile"),
        ("mape", {"eps": 0}, "/params/eps"),
        ("poisson_nll", {"log_input": "no"}, "/params/log_input"),
    ],
)
def test_params_out_of_range_are_422(api_client: Any, loss: str, params: dict, pointer: str) -> None:
    body = {"y_true": [[1.0, 2.0]], "y_pred": [[1.5, 0.5]], "params": params}
    response = api_client.post(f"/losses/{loss}", json=body)
    assert response.status_code == 422, response.text
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


def test_a_third_input_and_a_shared_variance(api_client: Any) -> None:
    body = {"y_true": [[1.0, 1.0]], "y_pred": [[3.0, 1.0]], "var": [4.0], "return_grad": True, "reduction": "sum"}
    response = api_client.post("/losses/gaussian_nll", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["grad"]["var"] == [0.125]
    body["var"] = [-1.0]
    response = api_client.post("/losses/gaussian_nll", json=body)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/var/0"]


@pytest.mark.parametrize(
    ("name", "body", "pointer"),
    [
        ("triplet_margin", {"params": {"p": 0}}, "/params/p"),
        ("triplet_margin", {"params": {"margin": 0.0}}, "/params/margin"),
        ("triplet_margin", {"params": {"eps": -1e-6}}, "/params/eps"),
        ("cosine_embedding", {"y_true": [1.0, 0.0]}, "/y_true/1"),
        ("multilabel_margin", {"y_true": [[0, 2]], "y_pred": [[0.0, 1.0]]}, "/y_true/0/1"),
    ],
)
def test_out_of_range_params_and_labels_are_422(api_client: Any, name: str, body: dict, pointer: str) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "triplet_margin": {"anchor": [[0.0, 1.0]], "positive": [[1.0, 1.0]], "negative": [[2.0, 1.0]]},
        "cosine_embedding": {"x1": [[0.0, 1.0], [1.0, 0.0]], "x2": [[1.0, 1.0], [1.0, 1.0]], "y_true": [1.0, -1.0]},
        "multilabel_margin": {},
    }
    response = api_client.post(f"/losses/{name}", json={**bodies[name], **body})
    assert response.status_code == 422, response.text
    assert pointer in [error["pointer"] for error in response.json()["errors"]]


def test_triplet_margin_defaults_in_the_catalog(api_client: Any) -> None:
    entry = api_client.get("/losses/triplet_margin").json()
    assert {p["name"]: p["default"] for p in entry["params"]} == {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False}


def test_multi_margin_params_are_validated(api_client: Any) -> None:
    body = {"y_true": [0], "y_pred": [[0.5, 0.2]], "params": {"p": 3}}
    response = api_client.post("/losses/multi_margin", json=body)
    assert response.status_code == 422
    assert any(e["pointer"] == "/params/p" for e in response.json()["errors"])
    body["params"] = {"p": 2, "margin": 0.5}
    response = api_client.post("/losses/multi_margin", json=body)
    assert response.status_code == 200
    # z = 0.5 - 0.5 + 0.2 = 0.2 -> 0.04 / 2
    assert response.json()["loss"] == pytest.approx(0.02)


def test_ctc_with_its_four_inputs(api_client: Any) -> None:
    body = {
        "log_probs": np.log([[[0.5, 0.3, 0.2]], [[0.4, 0.1, 0.5]]]).tolist(),
        "targets": [[2]],
        "input_lengths": [2],
        "target_lengths": [1],
        "return_grad": True,
    }
    document = api_client.post("/losses/ctc", json=body).json()
    # P = 0.43 (tests/engine/test_sequence.py works it out); mean / max(1, 1)
    assert document["loss"] == pytest.approx(-math.log(0.43), rel=1e-15)
    assert np.shape(document["grad"]["log_probs"]) == (2, 1, 3)
    short = api_client.post("/losses/ctc", json={**body, "targets": [[2, 2]], "target_lengths": [2]})
    assert short.status_code == 422
    assert [e["pointer"] for e in short.json()["errors"]] == ["/input_lengths/0"]
    blank = api_client.post("/losses/ctc", json={**body, "params": {"blank": 3}})
    assert blank.status_code == 422
    assert [e["pointer"] for e in blank.json()["errors"]] == ["/params/blank"]
    zero = api_client.post(
        "/losses/ctc",
        json={**body, "targets": [[2, 2]], "target_lengths": [2], "params": {"zero_infinity": True}},
    ).json()
    assert zero["loss"] == 0.0 and zero["grad"]["log_probs"] == [[[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]]]
