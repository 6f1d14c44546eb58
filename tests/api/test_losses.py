"""``/losses``: the catalog and ``POST /losses/{name}`` through the HTTP layer."""

from __future__ import annotations

from typing import Any

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
