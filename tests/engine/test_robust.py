"""Plain and robust regression losses (``service/engine/losses/robust.py``): l2, charbonnier, cauchy,
geman_mcclure, welsch.

References, live: ``optax.losses.l2_loss`` (JAX in float64, ``jax.grad``) and kornia 0.9's
``charbonnier_loss``, ``cauchy_loss``, ``geman_mcclure_loss`` and ``welsch_loss`` (torch, autograd),
through ``TorchParity``. kornia 0.9 already evaluates the three that cancel for small residuals in a
stable form, and the service uses the same forms, so they agree to rounding for small residuals
too. Where they part is where ``d^2`` overflows (``|d| > ~1.3e154`` in float64, ``~1.8e19`` in float32):
kornia returns ``inf`` or ``nan``, the service the finite value. Both regimes are checked against
exact values, computed with mpmath 1.3 at 60 digits (``mp.sqrt(d*d + 1) - 1``, ``mp.log(d*d/2 + 1)``,
``2*d*d/(d*d + 4)``, ``1 - mp.exp(-d*d/2)`` and their derivatives, ``d`` the decimal literal) and
pasted here. kornia's and optax's own tests are ported through ``POST /losses/{name}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute
from tests.support.api_parity import assert_served_alike, post, problem_pointers
from tests.support.engine import ATOL, RTOL, Case, Inputs, LossTests, TorchParity, grad, regression, values
from tests.support.optax_parity import OptaxParity
from tests.support.references import load

T = dict[str, Any]

ROBUST = ("charbonnier", "cauchy", "geman_mcclure", "welsch")


def residuals(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Residuals of every size: tiny (~1e-3, the stable forms' regime), around 1 (the switch between
    kornia's two forms at d^2 = 1) and large."""
    y_true = rng.normal(size=shape)
    scale = rng.choice([1e-3, 1.0, 4.0], shape)
    return {"y_true": y_true, "y_pred": y_true + rng.normal(0, 1, shape) * scale}


def kornia_reference(name: str) -> Any:
    def reference(torch: Any, t: T, p: T, reduction: str) -> Any:
        kornia = load("kornia")
        return getattr(kornia.losses, f"{name}_loss")(t["y_pred"], t["y_true"], reduction=reduction)

    return reference


# mpmath at 60 digits, d = 1e-10, 1e-5, 0.3, 1.7, 30, 1e10, 1e160, 1e300 (the last two: d^2 overflows)
RESIDUALS = [1e-10, 1e-5, 0.3, 1.7, 30.0, 1e10, 1e160, 1e300]
EXACT = {
    "charbonnier": (
        [
            5e-21, 4.999999999875e-11, 0.04403065089105502, 0.972308292331602, 29.01666203960727, 9999999999.0, 1e160,
            1e300,
        ],
        [1e-10, 9.9999999995e-06, 0.28734788556634544, 0.8619342151577695, 0.9994449069791543, 1.0, 1.0, 1.0],
    ),
    "cauchy": (
        [
            5e-21, 4.999999999875e-11, 0.04401688541677433, 0.8940451229268354, 6.111467339502679, 45.35855467932097,
            736.1340825775346, 1380.8579086158675,
        ],
        [1e-10, 9.9999999995e-06, 0.28708133971291866, 0.6952965235173824, 0.06651884700665188, 2e-10, 2e-160, 2e-300],
    ),
    "geman_mcclure": (
        [5e-21, 4.999999999875e-11, 0.044009779951100246, 0.8388969521044993, 1.991150442477876, 2.0, 2.0, 2.0],
        # 16 d / (d^2 + 4)^2 underflows to 0 for d = 1e160 (1.6e-479) and 1e300
        [1e-10, 9.9999999995e-06, 0.28694233056952073, 0.5729681223286941, 0.000587360012530347, 1.6e-29, 0.0, 0.0],
    ),
    "welsch": (
        [5e-21, 4.999999999875e-11, 0.044002518166900095, 0.7642539234441365, 1.0, 1.0, 1.0, 1.0],
        [1e-10, 9.9999999995e-06, 0.28679924454993, 0.400768330144968, 1.1081649205461768e-194, 0.0, 0.0, 0.0],
    ),
}  # fmt: skip


class TestL2(LossTests, OptaxParity):
    cases = (Case("l2", regression, min_rank=1),)

    @staticmethod
    def optax_reference(optax: Any, jnp: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        return optax.losses.l2_loss(inputs["y_pred"], inputs["y_true"])

    def test_by_hand(self) -> None:
        # d = [2, -1, 0]: 0.5 d^2 = [2, 0.5, 0]; gradient d
        t, p = [[1.0, 1.0, 3.0]], [[3.0, 0.0, 3.0]]
        np.testing.assert_array_equal(values("l2", y_true=t, y_pred=p), [[2.0, 0.5, 0.0]])
        np.testing.assert_array_equal(grad("l2", y_true=t, y_pred=p), [[2.0, -1.0, 0.0]])
        # half the mse
        np.testing.assert_array_equal(values("l2", y_true=t, y_pred=p), values("mse", y_true=t, y_pred=p) / 2)

    def test_overflow_is_a_non_finite_result(self) -> None:
        """0.5 d^2 beyond float64 has no finite value: 422."""
        with pytest.raises(InvalidInput, match="not finite"):
            values("l2", y_true=[0.0], y_pred=[1e200])

    def test_optax_suite(self, api_client: Any) -> None:
        """optax's L2LossTest: test_batched through POST; test_shape_mismatch is a 422; test_scalar (a 0-d
        input) is a 422 too: the contract wants a batch axis."""
        ys, ts = np.array([-2.0, -1.0, 0.5, 1.0]), np.array([-1.5, 0.0, -1, 1.0])
        response = post(api_client, "l2", {"y_true": ts, "y_pred": ys, "reduction": "none"})
        np.testing.assert_array_equal(response.json()["loss"], 0.5 * (ts - ys) ** 2)
        mismatch = {"y_true": ts[:, None], "y_pred": ys}
        assert problem_pointers(post(api_client, "l2", mismatch)) == ["/y_true"]
        assert post(api_client, "l2", {"y_true": 1.0, "y_pred": 2.0}).status_code == 422


class TestCharbonnier(LossTests, TorchParity):
    cases = (Case("charbonnier", residuals, min_rank=1, max_rank=4, torch_reference=kornia_reference("charbonnier")),)

    def test_by_hand(self) -> None:
        # d = 0: 0; d = sqrt(3): sqrt(4) - 1 = 1, gradient sqrt(3) / 2; d = -3/4: sqrt(25/16) - 1 = 1/4, gradient
        # -(3/4) / (5/4) = -3/5
        t, p = [[2.0, 0.0, 0.0]], [[2.0, math.sqrt(3.0), -0.75]]
        np.testing.assert_allclose(values("charbonnier", y_true=t, y_pred=p), [[0.0, 1.0, 0.25]], rtol=1e-15)
        np.testing.assert_allclose(grad("charbonnier", y_true=t, y_pred=p), [[0.0, math.sqrt(3) / 2, -0.6]], rtol=1e-15)


class TestCauchy(LossTests, TorchParity):
    cases = (Case("cauchy", residuals, min_rank=1, max_rank=4, torch_reference=kornia_reference("cauchy")),)

    def test_by_hand(self) -> None:
        # d = sqrt(2 (e - 1)): log(e) = 1, gradient d / e; d = 0: 0
        d = math.sqrt(2 * (math.e - 1))
        np.testing.assert_allclose(values("cauchy", y_true=[[0.0, 1.0]], y_pred=[[d, 1.0]]), [[1.0, 0.0]], rtol=1e-15)
        np.testing.assert_allclose(
            grad("cauchy", y_true=[[0.0, 1.0]], y_pred=[[d, 1.0]]), [[d / math.e, 0.0]], rtol=1e-15
        )


class TestGemanMcclure(LossTests, TorchParity):
    cases = (
        Case("geman_mcclure", residuals, min_rank=1, max_rank=4, torch_reference=kornia_reference("geman_mcclure")),
    )

    def test_by_hand(self) -> None:
        # d = 2: 2 * 4 / 8 = 1, gradient 16 * 2 / 64 = 1/2; d = -6: 72 / 40 = 1.8, gradient -96 / 1600 = -0.06
        t, p = [[0.0, 0.0]], [[2.0, -6.0]]
        np.testing.assert_allclose(values("geman_mcclure", y_true=t, y_pred=p), [[1.0, 1.8]], rtol=1e-15)
        np.testing.assert_allclose(grad("geman_mcclure", y_true=t, y_pred=p), [[0.5, -0.06]], rtol=1e-15)


class TestWelsch(LossTests, TorchParity):
    cases = (Case("welsch", residuals, min_rank=1, max_rank=4, torch_reference=kornia_reference("welsch")),)

    def test_by_hand(self) -> None:
        # d = sqrt(2 log 2): 1 - 1/2 = 1/2, gradient d / 2; d = 1 (the switch between the forms): 1 - e^-1/2
        d = math.sqrt(2 * math.log(2))
        t, p = [[0.0, 0.0]], [[d, 1.0]]
        np.testing.assert_allclose(values("welsch", y_true=t, y_pred=p), [[0.5, 1 - math.exp(-0.5)]], rtol=1e-15)
        np.testing.assert_allclose(grad("welsch", y_true=t, y_pred=p), [[d / 2, math.exp(-0.5)]], rtol=1e-15)


class TestRobustAtTheExtremes:
    """Tiny residuals, where the naive formulas cancel, and huge ones, where d^2 overflows."""

    @pytest.mark.parametrize("name", ROBUST)
    def test_exact_values_and_gradients(self, name: str) -> None:
        d = np.array(RESIDUALS)
        result = compute(CATALOG[name], {"y_true": np.zeros_like(d), "y_pred": d}, reduction="none", return_grad=True)
        exact_values, exact_grads = EXACT[name]
        np.testing.assert_allclose(result.loss, exact_values, rtol=1e-14, atol=0)
        assert result.grads is not None
        np.testing.assert_allclose(result.grads["y_pred"], exact_grads, rtol=1e-14, atol=0)
        # symmetric in d: the value is even, the gradient odd
        mirrored = compute(CATALOG[name], {"y_true": d, "y_pred": np.zeros_like(d)}, reduction="none", return_grad=True)
        np.testing.assert_array_equal(mirrored.loss, result.loss)
        assert mirrored.grads is not None
        np.testing.assert_array_equal(mirrored.grads["y_pred"], -result.grads["y_pred"])

    def test_the_naive_forms_would_cancel(self) -> None:
        """What the stable forms avoid, at d = 1e-10 (exact: 5e-21 for all four)."""
        d = 1e-10
        assert math.sqrt(d * d + 1) - 1 == 0.0 and math.log(0.5 * d * d + 1) == 0.0 and 1 - math.exp(-0.5 * d * d) == 0
        for name in ROBUST:
            assert values(name, y_true=[0.0], y_pred=[d])[0] == pytest.approx(5e-21, rel=1e-14)

    @pytest.mark.parametrize("name", ROBUST)
    def test_kornia_agrees_for_small_residuals_and_overflows_for_huge_ones(self, name: str, torch: Any) -> None:
        kornia = load("kornia")
        d = np.array(RESIDUALS)
        reference = getattr(kornia.losses, f"{name}_loss")(torch.tensor(d), torch.zeros(len(d), dtype=torch.float64))
        ours = values(name, y_true=np.zeros_like(d), y_pred=d)
        np.testing.assert_allclose(ours[:6], reference.numpy()[:6], rtol=RTOL, atol=ATOL)
        # where d^2 overflows kornia is inf (charbonnier, cauchy) or nan (geman_mcclure) or right (welsch: 1)
        assert np.isfinite(ours).all()

    def test_float32_huge_residuals_stay_finite(self) -> None:
        """In float32 d^2 overflows past ~1.8e19: d = 1e20 keeps its exact values."""
        d = np.array([1e20, -3e30], dtype=np.float32)
        exact = {
            "charbonnier": [1e20, 3e30],
            "cauchy": [math.log(0.5) + 40 * math.log(10), math.log(0.5) + 2 * math.log(3e30)],
            "geman_mcclure": [2.0, 2.0],
            "welsch": [1.0, 1.0],
        }
        for name in ROBUST:
            result = compute(CATALOG[name], {"y_true": np.zeros(2), "y_pred": d}, reduction="none", dtype="float32")
            assert isinstance(result.loss, np.ndarray) and result.loss.dtype == np.float32
            np.testing.assert_allclose(result.loss, exact[name], rtol=1e-6, err_msg=name)


#: kornia's expected loss of ones against zeros (d = 1), from its tests (float32-rounded there: its
#: assert_close tolerance is float32's), and the exact value; welsch's worked by hand.
ONES_VS_ZEROS = {
    "charbonnier": (0.41421356237, math.sqrt(2) - 1),
    "cauchy": (0.40546512603759766, math.log(1.5)),
    "geman_mcclure": (0.4, 0.4),
    "welsch": (1 - math.exp(-0.5), 1 - math.exp(-0.5)),
}


class TestKorniaSuite:
    """kornia's tests/losses/test_charbonnier.py, test_cauchy.py and test_geman_macclure.py (kornia has no
    numeric test of welsch_loss: its value 1 - e^-1/2 at ones against zeros is worked by hand), through
    ``POST /losses/{name}``: test_perfect_prediction (its numbers), test_cardinality (the ``none`` shape),
    test_exception's shape mismatch (a 422) and test_gradcheck (the served gradient against kornia's
    autograd). test_smoke, test_module and test_dynamo test kornia's Python API, not numbers."""

    @pytest.mark.parametrize("name", ROBUST)
    @pytest.mark.parametrize("reduction", ["mean", "sum"])
    @pytest.mark.parametrize("shape", [(1, 2, 9, 9), (2, 4, 3, 6)])
    def test_perfect_prediction(self, api_client: Any, name: str, reduction: str, shape: tuple[int, ...]) -> None:
        img = np.random.default_rng(0).uniform(size=shape)
        response = post(api_client, name, {"y_true": img, "y_pred": img, "reduction": reduction})
        assert response.json()["loss"] == 0.0
        ones, zeros = np.ones(shape), np.zeros(shape)
        loss = post(api_client, name, {"y_true": zeros, "y_pred": ones, "reduction": reduction}).json()["loss"]
        kornia_number, exact = (v * (1 if reduction == "mean" else ones.size) for v in ONES_VS_ZEROS[name])
        assert loss == pytest.approx(kornia_number, rel=1e-7)
        assert loss == pytest.approx(exact, rel=1e-14)

    @pytest.mark.parametrize("name", ROBUST)
    @pytest.mark.parametrize("shape", [(1, 3, 5, 5), (2, 5, 5)])
    def test_cardinality(self, api_client: Any, name: str, shape: tuple[int, ...]) -> None:
        img = np.random.default_rng(1).uniform(size=shape)
        assert (
            np.shape(post(api_client, name, {"y_true": img, "y_pred": img, "reduction": "none"}).json()["loss"])
            == shape
        )
        for reduction in ("sum", "mean"):
            assert isinstance(
                post(api_client, name, {"y_true": img, "y_pred": img, "reduction": reduction}).json()["loss"], float
            )

    @pytest.mark.parametrize("name", ROBUST)
    def test_shape_mismatch(self, api_client: Any, name: str) -> None:
        img = np.random.default_rng(2).uniform(size=(3, 3, 3))
        assert problem_pointers(post(api_client, name, {"y_true": img[None, None], "y_pred": img})) == ["/y_true"]

    @pytest.mark.parametrize("name", ROBUST)
    def test_gradcheck(self, api_client: Any, torch: Any, name: str) -> None:
        rng = np.random.default_rng(3)
        img1, img2 = rng.uniform(size=(2, 3, 3, 3)), rng.uniform(size=(2, 3, 3, 3))
        x = torch.tensor(img1, requires_grad=True)
        expected = getattr(load("kornia").losses, f"{name}_loss")(x, torch.tensor(img2), reduction="none")
        expected.sum().backward()
        body = {"y_true": img2, "y_pred": img1, "reduction": "none", "return_grad": True}
        document = post(api_client, name, body).json()
        np.testing.assert_allclose(document["loss"], expected.detach().numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(document["grad"]["y_pred"], x.grad.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ("l2", *ROBUST))
def test_over_http(api_client: Any, name: str) -> None:
    rng = np.random.default_rng(11)
    assert_served_alike(api_client, name, residuals(rng, (3, 4)))
    assert_served_alike(api_client, name, residuals(rng, (2, 3)), reduction="none", sample_weight=np.array([0.5, 2.0]))
    assert_served_alike(api_client, name, residuals(rng, (5,)), reduction="sum", sample_weight=rng.uniform(size=5))
    body = {"y_true": [[0.0]], "y_pred": [[1.0]], "params": {"delta": 1.0}}
    assert problem_pointers(post(api_client, name, body)) == ["/params/delta"]
