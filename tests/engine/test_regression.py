"""The regression losses (``service/engine/losses/regression.py``), one test class per loss.

Golden values were produced in a scratch venv:
- optax 0.2.8: ``optax.losses.log_cosh(y_pred, y_true)`` and ``jax.grad`` of its sum (JAX 0.10.2,
  ``JAX_ENABLE_X64=1``);
- Keras 3.15.1 on the JAX backend in float64 (``KERAS_BACKEND=jax``, ``JAX_ENABLE_X64=1``,
  ``keras.config.set_floatx("float64")``, and ``keras.src.backend.jax.numpy.mean`` patched to a
  float64 ``jnp.mean``, since Keras averages the last axis in float32 even under float64), called on
  arrays of shape (n, 1) so that its mean over the last axis is the element itself:
  ``keras.losses.mean_squared_logarithmic_error(y_true, y_pred)`` and
  ``keras.losses.mean_absolute_percentage_error(y_true, y_pred)``, gradients by ``jax.grad``;
- scikit-learn 1.9.1: ``sklearn.metrics.mean_pinball_loss([t], [p], alpha=q)`` per element;
- mpmath 1.3 at 50 digits for the exact log(cosh(x)) near 0.
Every maker keeps its inputs away from the losses' kinks (``y_pred == y_true``, Huber's and
smooth L1's switch points, the pinball kink) and from clipping boundaries (MSLE's floor at
1e-7, the variance floor ``eps``), so that central differences are accurate; the kinks have
tests of their own, against torch's autograd.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.engine import CATALOG, InvalidInput, compute
from tests.support.engine import (
    Case,
    Inputs,
    LossTests,
    Maker,
    TorchParity,
    grad,
    grads,
    regression,
    torch_reduce,
    values,
)

T = dict[str, Any]


def _signed(rng: np.random.Generator, low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def offset(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """y_pred = y_true + d with 0.1 <= |d| <= 2: away from the L1 kink at d = 0."""
    y_true = rng.normal(size=shape)
    return {"y_true": y_true, "y_pred": y_true + _signed(rng, 0.1, 2.0, shape)}


def around_switch(width: float) -> Maker:
    """|y_pred - y_true| in [0.1, 0.9] width (quadratic part) or [1.1, 3] width (linear part)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        y_true = rng.normal(size=shape)
        inside = _signed(rng, 0.1 * width, 0.9 * width, shape)
        outside = _signed(rng, 1.1 * width, 3.0 * width, shape)
        d = np.where(rng.uniform(size=shape) < 0.5, inside, outside)
        return {"y_true": y_true, "y_pred": y_true + d}

    return make


def log_cosh_errors(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Errors on both sides of log_cosh's switch between its two forms at |d| = 1."""
    y_true = rng.normal(size=shape)
    return {"y_true": y_true, "y_pred": y_true + rng.normal(0, 2, shape)}


def msle_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Positive values, plus some zero/negative targets and predictions (floored at 1e-7 by Keras)."""
    y_true = np.where(rng.uniform(size=shape) < 0.2, rng.uniform(-2, 0, shape), rng.uniform(0.0, 5.0, shape))
    y_pred = np.where(rng.uniform(size=shape) < 0.2, rng.uniform(-2, -0.05, shape), rng.uniform(0.05, 5.0, shape))
    return {"y_true": y_true, "y_pred": y_pred}


def mape_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    y_true = _signed(rng, 0.5, 2.0, shape)
    return {"y_true": y_true, "y_pred": y_true + _signed(rng, 0.05, 1.0, shape)}


def mape_small_targets(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Targets below eps = 0.5 (and some exactly 0): the denominator is eps there."""
    y_true = np.where(rng.uniform(size=shape) < 0.2, 0.0, _signed(rng, 0.01, 2.0, shape))
    return {"y_true": y_true, "y_pred": y_true + _signed(rng, 0.05, 1.0, shape)}


def _counts(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Counts 0..6 (so both sides of the Stirling term's t > 1), some of them fractional."""
    whole = rng.integers(0, 7, shape).astype(float)
    return np.where(rng.uniform(size=shape) < 0.25, rng.uniform(0, 6, shape), whole)


def poisson_log_rates(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": _counts(rng, shape), "y_pred": rng.normal(0.5, 1.0, shape)}


def poisson_rates(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": _counts(rng, shape), "y_pred": rng.uniform(0.1, 5.0, shape)}


def gaussian(var_shape: str) -> Maker:
    """Means and variances; ``var_shape``: "full" (y_pred's), "last1" (last axis 1) or "dropped"."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        inputs = regression(rng, shape)
        vshape = {"full": shape, "last1": (*shape[:-1], 1), "dropped": shape[:-1]}[var_shape]
        return {**inputs, "var": rng.uniform(0.2, 2.0, vshape)}

    return make


def torch_mse(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.mse_loss(t["y_pred"], t["y_true"], reduction=reduction)


def torch_l1(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.l1_loss(t["y_pred"], t["y_true"], reduction=reduction)


def torch_huber(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.huber_loss(t["y_pred"], t["y_true"], reduction=reduction, delta=p.get("delta", 1.0))


def torch_smooth_l1(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.smooth_l1_loss(t["y_pred"], t["y_true"], reduction=reduction, beta=p.get("beta", 1.0))


def torch_poisson_nll(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.poisson_nll_loss(
        t["y_pred"],
        t["y_true"],
        log_input=p.get("log_input", True),
        full=p.get("full", False),
        eps=p.get("eps", 1e-8),
        reduction=reduction,
    )


def torch_gaussian_nll(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.gaussian_nll_loss(
        t["y_pred"], t["y_true"], t["var"], full=p.get("full", False), eps=p.get("eps", 1e-6), reduction=reduction
    )


def torch_pinball(torch: Any, t: T, p: T, reduction: str) -> Any:
    """sklearn's pinball loss written with ``clamp_min``, which fixes the gradient at the kink."""
    q = p.get("quantile", 0.5)
    diff = t["y_true"] - t["y_pred"]
    return torch_reduce(torch, q * torch.clamp_min(diff, 0) + (1 - q) * torch.clamp_min(-diff, 0), reduction)


def _issue_locations(error: pytest.ExceptionInfo[InvalidInput]) -> list[tuple]:
    return [issue.location for issue in error.value.issues]


def _at_the_kinks(torch: Any, loss: str, params: dict, switch: float) -> None:
    """d = 0 and d = ±switch (Huber's delta, smooth L1's beta) exactly, against torch's autograd."""
    reference = {"mae": torch_l1, "huber": torch_huber, "smooth_l1": torch_smooth_l1}[loss]
    t = np.array([[1.5, 0.0, 0.0, -switch, switch, 0.0]])
    p = np.array([[1.5, switch, -switch, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(p - t, [[0.0, switch, -switch, switch, -switch, 0.0]])  # d exactly ±switch
    x = torch.tensor(p, requires_grad=True)
    expected = reference(torch, {"y_true": torch.tensor(t), "y_pred": x}, params, "sum")
    expected.backward()
    assert values(loss, params, "sum", y_true=t, y_pred=p) == pytest.approx(expected.item(), rel=1e-15, abs=0)
    np.testing.assert_array_equal(grad(loss, params, y_true=t, y_pred=p), x.grad.numpy())


finite = {"allow_nan": False, "allow_infinity": False}


class TestMse(LossTests, TorchParity):
    cases = (Case("mse", regression, torch_reference=torch_mse),)

    def test_by_hand(self) -> None:
        # (0.5 - 0)^2 = 0.25, (1 - 1)^2 = 0, (1 - 1)^2 = 0, (0 - 0)^2 = 0
        y_true, y_pred = [[0.0, 1.0], [1.0, 0.0]], [[0.5, 1.0], [1.0, 0.0]]
        assert values("mse", reduction="mean", y_true=y_true, y_pred=y_pred) == 0.0625
        assert values("mse", reduction="sum", y_true=y_true, y_pred=y_pred) == 0.25
        np.testing.assert_array_equal(grad("mse", reduction="mean", y_true=y_true, y_pred=y_pred), [[0.25, 0], [0, 0]])

    @settings(max_examples=100, deadline=None)
    @given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    def test_arbitrary_finite_arrays(self, data: st.DataObject, shape: tuple[int, ...]) -> None:
        elements = st.floats(-1e6, 1e6, **finite)
        y_true = data.draw(hnp.arrays(np.float64, shape, elements=elements))
        y_pred = data.draw(hnp.arrays(np.float64, shape, elements=elements))
        result = compute(CATALOG["mse"], {"y_true": y_true, "y_pred": y_pred}, reduction="sum", return_grad=True)
        assert result.loss == pytest.approx(float(np.sum((y_pred - y_true) ** 2)), rel=1e-12)
        assert result.grads is not None
        np.testing.assert_allclose(result.grads["y_pred"], 2 * (y_pred - y_true), rtol=1e-15)


class TestMae(LossTests, TorchParity):
    cases = (Case("mae", offset, torch_reference=torch_l1),)

    def test_by_hand(self) -> None:
        # |3 - 1| = 2, |-2.5 + 2| = 0.5, |0.5 - 0.5| = 0; gradient sign(d) = 1, -1 and 0 at the kink
        t, p = [[1.0, -2.0, 0.5]], [[3.0, -2.5, 0.5]]
        np.testing.assert_array_equal(values("mae", y_true=t, y_pred=p), [[2.0, 0.5, 0.0]])
        assert values("mae", reduction="mean", y_true=t, y_pred=p) == pytest.approx(2.5 / 3, rel=1e-15)
        np.testing.assert_array_equal(grad("mae", y_true=t, y_pred=p), [[1.0, -1.0, 0.0]])

    def test_gradient_at_the_kink_is_torch_autograd(self, torch: Any) -> None:
        _at_the_kinks(torch, "mae", {}, 0.0)

    def test_huge_errors_stay_finite(self) -> None:
        t, p = [[0.0, 0.0]], [[1e300, -1e300]]
        np.testing.assert_array_equal(values("mae", y_true=t, y_pred=p), [[1e300, 1e300]])
        np.testing.assert_array_equal(grad("mae", y_true=t, y_pred=p), [[1.0, -1.0]])


class TestHuber(LossTests, TorchParity):
    cases = (
        Case("huber", around_switch(1.0), torch_reference=torch_huber),
        Case("huber", around_switch(0.3), {"delta": 0.3}, torch_reference=torch_huber),
        Case("huber", around_switch(2.5), {"delta": 2.5}, torch_reference=torch_huber),
    )

    def test_by_hand(self) -> None:
        # delta 1, d = [0.5, -2, 1, -1, 0]: 0.5 * 0.25 = 0.125; 1 * (2 - 0.5) = 1.5; at |d| = delta both
        # branches give 0.5; 0. Gradient clip(d, -1, 1) = [0.5, -1, 1, -1, 0].
        t, p = [[0.0] * 5], [[0.5, -2.0, 1.0, -1.0, 0.0]]
        np.testing.assert_array_equal(values("huber", y_true=t, y_pred=p), [[0.125, 1.5, 0.5, 0.5, 0.0]])
        np.testing.assert_array_equal(grad("huber", y_true=t, y_pred=p), [[0.5, -1.0, 1.0, -1.0, 0.0]])
        # delta 2, d = [1, -3]: 0.5 * 1 = 0.5; 2 * (3 - 1) = 4. Gradient [1, -2].
        t, p = [[1.0, 1.0]], [[2.0, -2.0]]
        np.testing.assert_array_equal(values("huber", {"delta": 2.0}, y_true=t, y_pred=p), [[0.5, 4.0]])
        np.testing.assert_array_equal(grad("huber", {"delta": 2.0}, y_true=t, y_pred=p), [[1.0, -2.0]])

    @pytest.mark.parametrize(("params", "switch"), [({}, 1.0), ({"delta": 0.3}, 0.3), ({"delta": 2.5}, 2.5)])
    def test_gradient_at_the_kinks_is_torch_autograd(self, torch: Any, params: dict, switch: float) -> None:
        _at_the_kinks(torch, "huber", params, switch)

    def test_huge_errors_stay_finite(self) -> None:
        # delta (|d| - delta / 2) = 1e300 (the 0.5 d^2 branch, which overflows, is not taken)
        t, p = [[0.0, 0.0]], [[1e300, -1e300]]
        np.testing.assert_array_equal(values("huber", y_true=t, y_pred=p), [[1e300, 1e300]])
        np.testing.assert_array_equal(grad("huber", y_true=t, y_pred=p), [[1.0, -1.0]])


class TestSmoothL1(LossTests, TorchParity):
    cases = (
        Case("smooth_l1", around_switch(1.0), torch_reference=torch_smooth_l1),
        Case("smooth_l1", around_switch(0.4), {"beta": 0.4}, torch_reference=torch_smooth_l1),
        Case("smooth_l1", around_switch(3.0), {"beta": 3.0}, torch_reference=torch_smooth_l1),
        Case("smooth_l1", offset, {"beta": 0.0}, torch_reference=torch_smooth_l1),
    )

    def test_by_hand(self) -> None:
        # beta 2, d = [1, 3, -2]: 0.5 * 1 / 2 = 0.25; 3 - 1 = 2; |d| = beta: 2 - 1 = 1 (= 0.5 * 4 / 2).
        # Gradient d / beta inside, sign(d) outside: [0.5, 1, -1].
        t, p = [[0.0, 0.0, 0.0]], [[1.0, 3.0, -2.0]]
        np.testing.assert_array_equal(values("smooth_l1", {"beta": 2.0}, y_true=t, y_pred=p), [[0.25, 2.0, 1.0]])
        np.testing.assert_array_equal(grad("smooth_l1", {"beta": 2.0}, y_true=t, y_pred=p), [[0.5, 1.0, -1.0]])
        # beta 0: pure L1, |d| = [1.5, 0, 2], gradient sign(d) = [-1, 0, 1]
        t, p = [[0.0, 1.0, -1.0]], [[-1.5, 1.0, 1.0]]
        np.testing.assert_array_equal(values("smooth_l1", {"beta": 0.0}, y_true=t, y_pred=p), [[1.5, 0.0, 2.0]])
        np.testing.assert_array_equal(grad("smooth_l1", {"beta": 0.0}, y_true=t, y_pred=p), [[-1.0, 0.0, 1.0]])
        # Smooth L1 is Huber divided by beta (delta = beta): 0.125 / 1 and 1.5 / 1 above; with beta 0.5,
        # d = 0.25: 0.5 * 0.0625 / 0.5 = 0.0625 = huber(0.25; 0.5) / 0.5 = 0.03125 / 0.5
        assert values("smooth_l1", {"beta": 0.5}, y_true=[0.0], y_pred=[0.25])[0] == 0.0625

    @pytest.mark.parametrize(
        ("params", "switch"), [({}, 1.0), ({"beta": 0.4}, 0.4), ({"beta": 3.0}, 3.0), ({"beta": 0.0}, 0.0)]
    )
    def test_gradient_at_the_kinks_is_torch_autograd(self, torch: Any, params: dict, switch: float) -> None:
        _at_the_kinks(torch, "smooth_l1", params, switch)

    def test_huge_errors_stay_finite(self) -> None:
        t, p = [[0.0, 0.0]], [[1e300, -1e300]]
        np.testing.assert_array_equal(values("smooth_l1", y_true=t, y_pred=p), [[1e300, 1e300]])
        np.testing.assert_array_equal(grad("smooth_l1", y_true=t, y_pred=p), [[1.0, -1.0]])


class TestLogCosh(LossTests):
    cases = (Case("log_cosh", log_cosh_errors),)

    def test_by_hand(self) -> None:
        # cosh(acosh 2) = 2: l = log 2, gradient tanh(acosh 2) = sqrt(3) / 2; d = 0: l = 0, gradient 0;
        # d = -0.5 (the small-|d| form): log(cosh 0.5) = 0.12011450695827752 (mpmath), gradient -tanh 0.5
        d = math.acosh(2.0)
        t, p = [[1.0, 1.0, 1.0]], [[1.0 + d, 1.0, 0.5]]
        expected = [math.log(2.0), 0.0, math.log(math.cosh(0.5))]
        np.testing.assert_allclose(values("log_cosh", y_true=t, y_pred=p), [expected], rtol=1e-14)
        np.testing.assert_allclose(
            grad("log_cosh", y_true=t, y_pred=p), [[math.sqrt(3) / 2, 0.0, -math.tanh(0.5)]], rtol=1e-14
        )

    def test_matches_optax(self) -> None:
        d = np.array([-800.0, -3.0, -1.5, -1.0, -0.5, 0.01, 0.3, 1.0, 2.5, 30.0, 800.0])
        t = np.full(d.shape, 0.5)
        optax_values = [
            799.3068528194401, 2.309328504577785, 0.8554401710137968, 0.4337808304830272, 0.12011450695827752,
            4.999916668890769e-05, 0.04434076992594049, 0.4337808304830272, 1.8135681679291729, 29.306852819440056,
            799.3068528194401,
        ]  # fmt: skip
        optax_grad = [
            -1.0, -0.9950547536867304, -0.9051482536448665, -0.761594155955765, -0.4621171572600099,
            0.00999966667999952, 0.2913126124515909, 0.761594155955765, 0.9866142981514301, 1.0, 1.0,
        ]  # fmt: skip
        # optax cancels against log 2 near 0: at d = 0.01 it is 3.9e-13 off the exact 4.999916668888822e-05
        np.testing.assert_allclose(values("log_cosh", y_true=t, y_pred=t + d), optax_values, rtol=1e-12)
        np.testing.assert_allclose(grad("log_cosh", y_true=t, y_pred=t + d), optax_grad, rtol=1e-14)

    @pytest.mark.parametrize(
        ("d", "exact"),
        [(1e-5, 4.9999999999166676e-11), (1e-8, 5e-17), (1e-150, 5e-301), (0.7, 0.22727022935850558)],
    )
    def test_is_exact_near_zero(self, d: float, exact: float) -> None:
        """mpmath's log(cosh(d)) (d^2 / 2 for 1e-150); optax gives 4.999989311471609e-11 at 1e-5 and
        1.1102230246251565e-16 at 1e-8 (its cancellation against log 2)."""
        assert values("log_cosh", y_true=[0.0], y_pred=[d])[0] == pytest.approx(exact, rel=1e-15)
        assert values("log_cosh", y_true=[d], y_pred=[0.0])[0] == pytest.approx(exact, rel=1e-15)

    def test_huge_errors_stay_finite(self) -> None:
        # |d| - log 2 (cosh itself overflows past 710), gradient tanh = ±1
        t, p = [[0.0, 0.0]], [[1e300, -1e300]]
        np.testing.assert_array_equal(values("log_cosh", y_true=t, y_pred=p), [[1e300, 1e300]])
        np.testing.assert_array_equal(grad("log_cosh", y_true=t, y_pred=p), [[1.0, -1.0]])
        assert values("log_cosh", y_true=[0.0], y_pred=[1000.0])[0] == pytest.approx(1000 - math.log(2), rel=1e-15)


MSLE_TRUE = [0.0, 1.0, 3.0, -2.0, 0.5, 1e300, 1e-9, 7.0]
MSLE_PRED = [0.5, 1.0, -1.0, -3.0, 1e-7, 1e300, 0.25, 1e-12]


class TestMsle(LossTests):
    cases = (Case("msle", msle_inputs),)

    def test_by_hand(self) -> None:
        # t = e - 1, p = e^2 - 1: (log(e^2) - log(e))^2 = 1; gradient 2 * 1 / (1 + p) = 2 e^-2.
        # t = 0 and p = -3 are both floored at 1e-7: l = 0, gradient 0 (the clip acted on p).
        t, p = [[math.e - 1, 0.0]], [[math.e**2 - 1, -3.0]]
        np.testing.assert_allclose(values("msle", y_true=t, y_pred=p), [[1.0, 0.0]], rtol=1e-15, atol=0)
        np.testing.assert_allclose(grad("msle", y_true=t, y_pred=p), [[2 * math.exp(-2), 0.0]], rtol=1e-15)

    def test_matches_keras(self) -> None:
        keras_values = [
            0.1644018728001578, 0.0, 1.9218117784139574, 0.0, 0.1644018728001578, 0.0, 0.049792999864419304,
            4.324076709375535,
        ]  # fmt: skip
        # jax.grad of Keras: -0.0 where the floor acted on y_pred; at y_pred == 1e-7 exactly (5th) JAX's
        # maximum gives half the gradient, -0.40546496756167255, where this service passes the whole
        # 2 log(1.0000001 / 1.5) / 1.0000001 (torch clamp_min convention, API.md section 4)
        keras_grad = [0.5406200108108924, 0.0, 0.0, 0.0, 2 * -0.40546496756167255, 0.0, 0.3570295221027435, 0.0]
        t, p = np.array(MSLE_TRUE)[:, None], np.array(MSLE_PRED)[:, None]
        np.testing.assert_allclose(values("msle", y_true=t, y_pred=p)[:, 0], keras_values, rtol=1e-14)
        np.testing.assert_allclose(grad("msle", y_true=t, y_pred=p)[:, 0], keras_grad, rtol=1e-14)

    def test_keeps_precision_where_keras_cancels(self) -> None:
        # t = 2, p = 2.000001: exact (mpmath) (log1p(p) - log1p(t))^2 = 1.1111107410514715e-13; Keras's
        # log(p + 1) - log(t + 1) gives 1.1111107398671209e-13 (1.1e-9 off); log1p((p - t) / (1 + t)) is exact.
        assert values("msle", y_true=[2.0], y_pred=[2.000001])[0] == pytest.approx(1.1111107410514715e-13, rel=1e-14)

    def test_accepts_negative_values_as_keras_does(self) -> None:
        """Keras floors both inputs at 1e-7 ("negative values and 0 values will be replaced with epsilon")."""
        v = values("msle", y_true=[[-5.0, 0.0]], y_pred=[[-1.0, -1e300]])
        np.testing.assert_array_equal(v, [[0.0, 0.0]])
        np.testing.assert_array_equal(grad("msle", y_true=[[-5.0, 0.0]], y_pred=[[-1.0, -1e300]]), [[0.0, 0.0]])

    def test_huge_predictions_stay_finite(self) -> None:
        # p = 1e300, t = 0 (floored at 1e-7): log1p(1e300 / (1 + 1e-7))^2
        expected = math.log1p(1e300 / (1 + 1e-7)) ** 2
        assert values("msle", y_true=[0.0], y_pred=[1e300])[0] == pytest.approx(expected, rel=1e-15)

    def test_huge_targets_have_a_finite_loss(self) -> None:
        # Keras: (log(p + 1) - log(t + 1))^2 = (log 3 - log(2**70 + 1))^2 = 2248.816715701367; once refused as
        # not finite (the ratio (p - t) / (1 + t) rounded to -1)
        expected = (math.log1p(2.0) - math.log1p(2.0**70)) ** 2
        assert values("msle", y_true=[2.0**70], y_pred=[2.0])[0] == pytest.approx(expected, rel=1e-12)
        expected = (math.log1p(0.1) - math.log1p(1e308)) ** 2
        assert values("msle", y_true=[1e308], y_pred=[0.1])[0] == pytest.approx(expected, rel=1e-13)
        assert grad("msle", y_true=[1e308], y_pred=[0.1])[0] == pytest.approx(
            2 * (math.log1p(0.1) - math.log1p(1e308)) / 1.1, rel=1e-13
        )


class TestMape(LossTests):
    cases = (
        Case("mape", mape_inputs),
        Case("mape", mape_small_targets, {"eps": 0.5}),
    )

    def test_by_hand(self) -> None:
        # t = 4, p = 5: 100 * 1/4 = 25, gradient 100 / 4 = 25; t = -2, p = -1: 100 * 1/2 = 50, gradient
        # +100 / 2 (p above t); t = 0, p = 0.5: denominator eps = 1e-7, 100 * 0.5 / 1e-7 = 5e8.
        t, p = [[4.0, -2.0, 0.0]], [[5.0, -1.0, 0.5]]
        np.testing.assert_allclose(values("mape", y_true=t, y_pred=p), [[25.0, 50.0, 5e8]], rtol=1e-15)
        np.testing.assert_allclose(grad("mape", y_true=t, y_pred=p), [[25.0, 50.0, 1e9]], rtol=1e-15)
        # eps = 0.5 floors |t| = 0.25 at 0.5: 100 * 1 / 0.5 = 200
        assert values("mape", {"eps": 0.5}, y_true=[0.25], y_pred=[1.25])[0] == pytest.approx(200.0, rel=1e-15)

    def test_matches_keras(self) -> None:
        t = np.array([2.0, -4.0, 0.0, 1e-9, 0.5, 3.0, -1e6])[:, None]
        p = np.array([1.5, -3.0, 0.25, 1.0, 0.5, -3.0, 1.0])[:, None]
        keras_values = [25.0, 25.0, 250000000.0, 999999999.0, 0.0, 200.0, 100.00009999999999]
        # jax.grad of Keras; at the kink p == t (5th) JAX's abs'(0) = 1 gives -200, the torch convention 0
        keras_grad = [-50.0, 25.0, 1000000000.0, 1000000000.0, 0.0, -33.333333333333336, 0.0001]
        np.testing.assert_allclose(values("mape", y_true=t, y_pred=p)[:, 0], keras_values, rtol=1e-15)
        np.testing.assert_allclose(grad("mape", y_true=t, y_pred=p)[:, 0], keras_grad, rtol=1e-15)

    def test_overflow_is_a_non_finite_result(self) -> None:
        """Where the true loss exceeds float64 it is refused as not finite (422), not returned as inf."""
        with pytest.raises(InvalidInput, match="not finite"):
            values("mape", y_true=[[0.0]], y_pred=[[1e300]])  # 100 * 1e300 / 1e-7


class TestPoissonNll(LossTests, TorchParity):
    cases = (
        Case("poisson_nll", poisson_log_rates, torch_reference=torch_poisson_nll),
        Case("poisson_nll", poisson_log_rates, {"full": True}, torch_reference=torch_poisson_nll),
        Case("poisson_nll", poisson_rates, {"log_input": False}, torch_reference=torch_poisson_nll),
        Case(
            "poisson_nll",
            poisson_rates,
            {"log_input": False, "full": True, "eps": 0.5},
            torch_reference=torch_poisson_nll,
        ),
    )

    def test_by_hand(self) -> None:
        # log-rate x = 0, t = 2: e^0 - 0 = 1, gradient e^0 - 2 = -1.
        # x = log 3, t = 3: 3 - 3 log 3, gradient 0 (the rate equals the count); x = 0, t = 1: 1, gradient 0.
        # full adds t log t - t + 0.5 log(2 pi t) for t = 3: 3 log 3 - 3 + 0.5 log(6 pi), so the total at
        # x = log 3 is 0.5 log(6 pi); for t = 2: 2 log 2 - 2 + 0.5 log(4 pi); t = 1: nothing (t <= 1).
        t, x = [[2.0, 3.0, 1.0]], [[0.0, math.log(3.0), 0.0]]
        np.testing.assert_allclose(
            values("poisson_nll", y_true=t, y_pred=x), [[1.0, 3 - 3 * math.log(3), 1.0]], rtol=1e-14
        )
        full = [1 + 2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi), 0.5 * math.log(6 * math.pi), 1.0]
        np.testing.assert_allclose(values("poisson_nll", {"full": True}, y_true=t, y_pred=x), [full], rtol=1e-14)
        np.testing.assert_allclose(
            grad("poisson_nll", {"full": True}, y_true=t, y_pred=x), [[-1.0, 0.0, 0.0]], atol=1e-15
        )
        # Rates: rate 2, t = 4: 2 - 4 log(2 + 1e-8), gradient 1 - 4 / (2 + 1e-8); a zero rate with a zero
        # count is 0; a zero rate with count 1 is -log(1e-8) = 18.42..., gradient 1 - 1 / 1e-8.
        params = {"log_input": False}
        t, r = [[4.0, 0.0, 1.0]], [[2.0, 0.0, 0.0]]
        np.testing.assert_allclose(
            values("poisson_nll", params, y_true=t, y_pred=r), [[2 - 4 * math.log(2 + 1e-8), 0.0, -math.log(1e-8)]]
        )
        np.testing.assert_allclose(
            grad("poisson_nll", params, y_true=t, y_pred=r), [[1 - 4 / (2 + 1e-8), 1.0, 1 - 1 / 1e-8]], rtol=1e-15
        )

    def test_refuses_negative_counts_and_rates(self) -> None:
        with pytest.raises(InvalidInput, match="count >= 0") as error:
            values("poisson_nll", y_true=[[1.0, -1.0]], y_pred=[[0.0, 0.0]])
        assert _issue_locations(error) == [("y_true", 0, 1)]
        with pytest.raises(InvalidInput, match="rate >= 0") as error:
            values("poisson_nll", {"log_input": False}, y_true=[[1.0, 2.0]], y_pred=[[-0.5, 1.0]])
        assert _issue_locations(error) == [("y_pred", 0, 0)]
        # negative log-rates are fine, fractional counts too
        assert np.isfinite(values("poisson_nll", y_true=[[0.5, 2.5]], y_pred=[[-3.0, 1.0]])).all()

    def test_saturated_log_rates(self) -> None:
        with pytest.raises(InvalidInput, match="not finite"):
            values("poisson_nll", y_true=[[1.0]], y_pred=[[1000.0]])  # exp(1000)
        # a very negative log-rate is fine: exp(-1000) = 0, l = -t x = 3000, gradient -t
        assert values("poisson_nll", y_true=[[3.0]], y_pred=[[-1000.0]]).tolist() == [[3000.0]]
        assert grad("poisson_nll", y_true=[[3.0]], y_pred=[[-1000.0]]).tolist() == [[-3.0]]


class TestGaussianNll(LossTests, TorchParity):
    cases = (
        Case("gaussian_nll", gaussian("full"), torch_reference=torch_gaussian_nll),
        Case("gaussian_nll", gaussian("full"), {"full": True, "eps": 0.01}, torch_reference=torch_gaussian_nll),
        Case("gaussian_nll", gaussian("last1"), torch_reference=torch_gaussian_nll),
        Case("gaussian_nll", gaussian("dropped"), {"full": True}, torch_reference=torch_gaussian_nll),
    )

    def test_by_hand(self) -> None:
        # d = 2, var = 4: 0.5 (log 4 + 4 / 4); dl/dp = 2 / 4 = 0.5; dl/dvar = 0.5 (1/4 - 4/16) = 0.
        # d = 0, var = 1: 0; dl/dp = 0; dl/dvar = 0.5.
        t, p, var = [[1.0, 1.0]], [[3.0, 1.0]], [[4.0, 1.0]]
        np.testing.assert_allclose(
            values("gaussian_nll", y_true=t, y_pred=p, var=var), [[0.5 * (math.log(4) + 1), 0.0]], rtol=1e-15
        )
        full = values("gaussian_nll", {"full": True}, y_true=t, y_pred=p, var=var)
        np.testing.assert_allclose(
            full, [[0.5 * (math.log(4) + 1) + 0.5 * math.log(2 * math.pi), 0.5 * math.log(2 * math.pi)]]
        )
        g = grads("gaussian_nll", y_true=t, y_pred=p, var=var)
        np.testing.assert_allclose(g["y_pred"], [[0.5, 0.0]], rtol=1e-15)
        np.testing.assert_allclose(g["var"], [[0.0, 0.5]], atol=1e-15)

    @pytest.mark.parametrize("var", [[[4.0]], [4.0]], ids=["last-axis-1", "last-axis-dropped"])
    def test_shared_variance_by_hand(self, var: list) -> None:
        # One variance 4 for d = [2, 0]: values 0.5 (log 4 + 1) and 0.5 log 4; dl/dvar is summed over the
        # shared axis: 0.5 (1/4 - 4/16) + 0.5 (1/4 - 0) = 0.125, returned in var's own shape.
        t, p = [[1.0, 1.0]], [[3.0, 1.0]]
        v = values("gaussian_nll", y_true=t, y_pred=p, var=var)
        np.testing.assert_allclose(v, [[0.5 * (math.log(4) + 1), 0.5 * math.log(4)]], rtol=1e-15)
        g = grads("gaussian_nll", y_true=t, y_pred=p, var=var)
        assert g["var"].shape == np.shape(var)
        np.testing.assert_allclose(g["var"].ravel(), [0.125], rtol=1e-15)
        np.testing.assert_allclose(g["y_pred"], [[0.5, 0.0]], rtol=1e-15)

    def test_variance_below_eps_follows_torch(self, torch: Any) -> None:
        """PyTorch clamps var to eps in place under no_grad: the value uses max(var, eps) and the gradient
        with respect to var is the formula at eps, not 0 (a straight-through clamp). Replicated exactly."""
        p = np.array([[0.5, 1.0, 0.2], [-0.3, 0.0, 2.0]])
        t = np.zeros_like(p)
        var = np.array([[1e-8, 0.0, 0.5], [1e-6, 3e-7, 1.0]])
        for params in ({}, {"eps": 1e-3, "full": True}):
            tensors = {"y_true": torch.tensor(t), "y_pred": torch.tensor(p, requires_grad=True)}
            tensors["var"] = torch.tensor(var, requires_grad=True)
            expected = torch_gaussian_nll(torch, tensors, params, "sum")
            expected.backward()
            g = grads("gaussian_nll", params, y_true=t, y_pred=p, var=var)
            assert values("gaussian_nll", params, "sum", y_true=t, y_pred=p, var=var) == pytest.approx(
                expected.item(), rel=1e-14
            )
            np.testing.assert_allclose(g["y_pred"], tensors["y_pred"].grad.numpy(), rtol=1e-14)
            np.testing.assert_allclose(g["var"], tensors["var"].grad.numpy(), rtol=1e-14)
        # by hand, eps = 1e-6: var = 0 and d = 0 counts as var 1e-6; l = 0.5 log 1e-6, dl/dvar = 0.5 / 1e-6
        assert values("gaussian_nll", y_true=[0.0], y_pred=[0.0], var=[0.0])[0] == pytest.approx(0.5 * math.log(1e-6))
        assert grads("gaussian_nll", y_true=[0.0], y_pred=[0.0], var=[0.0])["var"][0] == pytest.approx(5e5, rel=1e-15)

    def test_refuses_negative_variances_and_misfit_shapes(self) -> None:
        with pytest.raises(InvalidInput, match="variance >= 0") as error:
            values("gaussian_nll", y_true=[[0.0, 0.0]], y_pred=[[1.0, 1.0]], var=[[1.0, -1e-12]])
        assert _issue_locations(error) == [("var", 0, 1)]
        for var in ([[1.0, 1.0, 1.0]], [[1.0], [1.0]], [1.0, 1.0]):
            with pytest.raises(InvalidInput, match="var does not fit") as error:
                values("gaussian_nll", y_true=[[0.0, 0.0]], y_pred=[[1.0, 1.0]], var=var)
            assert _issue_locations(error) == [("var",)]

    def test_overflow_is_a_non_finite_result(self) -> None:
        with pytest.raises(InvalidInput, match="not finite"):
            values("gaussian_nll", y_true=[[0.0]], y_pred=[[1e200]], var=[[1.0]])  # d^2 / var


class TestQuantile(LossTests, TorchParity):
    cases = (
        Case("quantile", offset, torch_reference=torch_pinball),
        Case("quantile", offset, {"quantile": 0.1}, torch_reference=torch_pinball),
        Case("quantile", offset, {"quantile": 0.9}, torch_reference=torch_pinball),
    )

    def test_by_hand(self) -> None:
        # q = 0.25: t = 1, p = 0 (under-prediction): 0.25 * 1; t = 0, p = 1 (over): 0.75 * 1; t = p: 0.
        # Gradient -q, 1 - q, and at the kink 1 - 2q = 0.5 (see test_quantile_kink_is_torch_clamp_min).
        t, p = [[1.0, 0.0, 2.0]], [[0.0, 1.0, 2.0]]
        np.testing.assert_array_equal(values("quantile", {"quantile": 0.25}, y_true=t, y_pred=p), [[0.25, 0.75, 0.0]])
        np.testing.assert_array_equal(grad("quantile", {"quantile": 0.25}, y_true=t, y_pred=p), [[-0.25, 0.75, 0.5]])
        # the default q = 0.5 is half the absolute error
        assert values("quantile", reduction="sum", y_true=[1.0, -3.0], y_pred=[4.0, 1.0]) == 3.5

    @pytest.mark.parametrize(
        ("q", "sklearn"),
        [
            (0.5, [0.5, 0.25, 1.0, 0.0, 0.125, 10.0]),
            (0.1, [0.1, 0.45, 0.2, 0.0, 0.225, 2.0]),
            (0.9, [0.9, 0.04999999999999999, 1.8, 0.0, 0.024999999999999994, 18.0]),
            (0.73, [0.73, 0.135, 1.46, 0.0, 0.0675, 14.6]),
        ],
    )
    def test_matches_sklearn(self, q: float, sklearn: list[float]) -> None:
        t = [[1.0, 2.0, -1.0, 0.5, 3.0, 10.0]]
        p = [[0.0, 2.5, -3.0, 0.5, 3.25, -10.0]]
        np.testing.assert_allclose(values("quantile", {"quantile": q}, y_true=t, y_pred=p), [sklearn], rtol=1e-15)
        # sklearn's mean_pinball_loss over a column is the mean of these values
        assert values("quantile", {"quantile": q}, "mean", y_true=t, y_pred=p) == pytest.approx(np.mean(sklearn))

    @pytest.mark.parametrize("q", [0.5, 0.1, 0.9, 0.73])
    def test_kink_is_torch_clamp_min(self, torch: Any, q: float) -> None:
        """At y_true == y_pred: 1 - 2q, what autograd gives for q clamp_min(y - p, 0) + (1 - q) clamp_min(p - y, 0)."""
        t = np.array([[0.5, -2.0, 3.0]])
        p = np.array([[0.5, -2.0, 1.0]])
        x = torch.tensor(p, requires_grad=True)
        torch_pinball(torch, {"y_true": torch.tensor(t), "y_pred": x}, {"quantile": q}, "sum").backward()
        g = grad("quantile", {"quantile": q}, y_true=t, y_pred=p)
        np.testing.assert_array_equal(g, x.grad.numpy())
        np.testing.assert_allclose(g, [[1 - 2 * q, 1 - 2 * q, -q]], rtol=1e-15)

    def test_huge_errors_stay_finite(self) -> None:
        assert values("quantile", y_true=[[0.0, 0.0]], y_pred=[[1e300, -1e300]]).tolist() == [[5e299, 5e299]]
