"""generalized_kl_divergence (``service/engine/losses/divergence.py``).

Reference, live: ``optax.losses.generalized_kl_divergence(log_predictions, targets)`` (optax 0.2.8,
JAX in float64), gradients by ``jax.grad``. optax's own ``GeneralizedKLDivergenceTest``
(``optax/losses/_classification_test.py``) is ported through ``POST /losses/{name}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.engine import InvalidInput, NonFiniteResult
from tests.support.api_parity import assert_served_alike, post, problem_pointers
from tests.support.engine import ATOL, RTOL, Case, Inputs, LossTests, distribution, grad, refused, values
from tests.support.optax_parity import OptaxParity


def masses(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Unnormalised target masses (some exactly 0: 0 log 0 = 0) and log-predictions."""
    t = rng.uniform(0.0, 3.0, shape)
    t[rng.uniform(size=shape) < 0.2] = 0.0
    return {"y_true": t, "y_pred": rng.normal(0.0, 1.5, shape)}


def normalised(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Distributions on both sides: the generalized KL is then the KL divergence."""
    return {"y_true": distribution(rng, shape), "y_pred": np.log(distribution(rng, shape))}


class TestGeneralizedKlDivergence(LossTests, OptaxParity):
    cases = (
        Case("generalized_kl_divergence", masses, max_rank=4),
        Case("generalized_kl_divergence", normalised),
    )

    @staticmethod
    def optax_reference(optax: Any, jnp: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        return optax.losses.generalized_kl_divergence(inputs["y_pred"], inputs["y_true"])

    def test_by_hand(self) -> None:
        # t = [1, 0], lq = [0, 0]: 1 (log 1 - 0) + 0 (0 log 0 = 0) + (e^0 - 1) + (e^0 - 0) = 1; gradient
        # e^lq - t = [0, 1]. t = [2, 3], lq = [log 2, log 6]: 0 + 3 (log 3 - log 6) + (2 - 2) + (6 - 3) = 3 - 3 log 2;
        # gradient [0, 3].
        t, lq = [[1.0, 0.0], [2.0, 3.0]], [[0.0, 0.0], [math.log(2.0), math.log(6.0)]]
        np.testing.assert_allclose(
            values("generalized_kl_divergence", y_true=t, y_pred=lq), [1.0, 3 - 3 * math.log(2)], rtol=1e-15
        )
        np.testing.assert_allclose(
            grad("generalized_kl_divergence", y_true=t, y_pred=lq), [[0.0, 1.0], [0.0, 3.0]], rtol=1e-15, atol=1e-15
        )

    def test_is_the_kl_divergence_on_distributions(self) -> None:
        """For normalised t and exp(lq) the second sum is 0: the per-sample sum of kl_divergence(log_input)."""
        inputs = normalised(np.random.default_rng(4), (3, 5))
        kl = values("kl_divergence", {"log_input": True}, **inputs).sum(axis=-1)
        np.testing.assert_allclose(values("generalized_kl_divergence", **inputs), kl, rtol=1e-12, atol=1e-15)

    def test_degenerate_inputs(self) -> None:
        # All-zero targets: only sum(exp(lq)); a very negative lq with t = 0 contributes 0 (exp underflows).
        np.testing.assert_allclose(
            values("generalized_kl_divergence", y_true=[[0.0, 0.0]], y_pred=[[0.0, -1000.0]]), [1.0], rtol=1e-15
        )
        # t = exp(lq) exactly: 0 (a perfect prediction), gradient 0
        assert values("generalized_kl_divergence", y_true=[[1.0, 1.0]], y_pred=[[0.0, 0.0]])[0] == 0.0
        # t > 0 with lq -> -inf: -t lq grows without bound but stays finite for any finite lq
        assert values("generalized_kl_divergence", y_true=[[2.0]], y_pred=[[-1e300]])[0] == pytest.approx(2e300)
        # exp(lq) past float64: a non-finite result, 422
        with pytest.raises(NonFiniteResult, match="not finite"):
            values("generalized_kl_divergence", y_true=[[1.0, 0.0]], y_pred=[[0.0, 710.0]])

    def test_domain_and_shapes(self) -> None:
        error = refused("generalized_kl_divergence", y_true=[[0.5, -0.1]], y_pred=[[0.0, 0.0]])
        assert error.issues[0].location == ("y_true", 0, 1) and "mass >= 0" in error.detail
        with pytest.raises(InvalidInput, match="rank"):
            values("generalized_kl_divergence", y_true=[0.5, 0.5], y_pred=[0.0, 0.0])
        # any real log-prediction is accepted, and targets above 1 (unnormalised)
        assert np.isfinite(values("generalized_kl_divergence", y_true=[[5.0, 0.5]], y_pred=[[3.0, -40.0]])).all()

    def test_optax_suite(self, api_client: Any, optax: Any) -> None:
        """optax's GeneralizedKLDivergenceTest: test_scalar and test_batched (its numbers, atol 1e-4 as there),
        test_axis (the last axis after moveaxis: the contract's class axis is the last) through POST. test_mask
        (``where``) and test_deprecated_alias have no counterpart in the contract."""
        log_ps = np.array(
            [
                [-2.9957, -3.5066, -3.9120, -1.2040, -0.6931, -2.3026],
                [-1.6094, -1.6094, -1.6094, -2.3026, -1.8971, -1.8971],
            ]
        )
        qs = np.array([[0.2, 0.2, 0.2, 0.1, 0.15, 0.15], [0.05, 0.03, 0.02, 0.3, 0.5, 0.0]])
        expected = np.array([0.88757247, 0.859308])
        response = post(api_client, "generalized_kl_divergence", {"y_true": qs, "y_pred": log_ps, "reduction": "none"})
        assert response.status_code == 200, response.text
        served = np.asarray(response.json()["loss"])
        np.testing.assert_allclose(served, expected, atol=1e-4)
        np.testing.assert_allclose(served, optax.losses.generalized_kl_divergence(log_ps, qs), rtol=RTOL, atol=ATOL)
        rng = np.random.default_rng(0)
        for axis in (0, 1, 2):
            preds = rng.normal(size=(4, 5, 6))
            targets = rng.dirichlet(np.ones(6), size=(4, 5))
            moved = {"y_true": np.moveaxis(targets, axis, -1), "y_pred": np.moveaxis(preds, axis, -1)}
            response = post(api_client, "generalized_kl_divergence", {**moved, "reduction": "none"})
            expected_axis = optax.losses.generalized_kl_divergence(preds, targets, axis=axis)
            np.testing.assert_allclose(response.json()["loss"], expected_axis, rtol=1e-9, atol=1e-12)

    def test_over_http(self, api_client: Any) -> None:
        rng = np.random.default_rng(9)
        assert_served_alike(api_client, "generalized_kl_divergence", masses(rng, (3, 4)))
        assert_served_alike(
            api_client,
            "generalized_kl_divergence",
            masses(rng, (2, 3, 4)),
            reduction="none",
            sample_weight=np.array([0.5, 2.0]),
        )
        body = {"y_true": [[1.0, -2.0]], "y_pred": [[0.0, 0.0]]}
        assert problem_pointers(post(api_client, "generalized_kl_divergence", body)) == ["/y_true/0/1"]
        body = {"y_true": [[1.0, 2.0]], "y_pred": [[0.0, 0.0]], "params": {"eps": 1.0}}
        assert problem_pointers(post(api_client, "generalized_kl_divergence", body)) == ["/params/eps"]
