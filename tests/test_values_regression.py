"""Values of the regression losses added by the catalog issue (mae, huber, smooth_l1, log_cosh, msle,
mape, poisson_nll, gaussian_nll, quantile): small cases worked out by hand, golden values from the
reference libraries, the gradient at kinks, saturated and degenerate inputs, and domains.

Golden values were produced in /tmp/refvenv:
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
The PyTorch-referenced losses are compared with torch 2.13 live (here at their kinks; the shared
parity suite covers them elsewhere).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute

from .conftest import skip_unless_available


def values(name: str, params: dict | None = None, reduction: Any = "none", **inputs: Any) -> np.ndarray:
    arrays = {k: np.asarray(v, dtype=float) for k, v in inputs.items()}
    return np.asarray(compute(CATALOG[name], arrays, params or {}, reduction=reduction).loss)


def grads(name: str, params: dict | None = None, reduction: Any = "sum", **inputs: Any) -> dict[str, np.ndarray]:
    arrays = {k: np.asarray(v, dtype=float) for k, v in inputs.items()}
    result = compute(CATALOG[name], arrays, params or {}, reduction=reduction, return_grad=True)
    assert result.grads is not None
    return result.grads


def grad(name: str, params: dict | None = None, reduction: Any = "sum", **inputs: Any) -> np.ndarray:
    return grads(name, params, reduction, **inputs)["y_pred"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the machine
        skip_unless_available("torch", "torch is not installed: pip install torch==2.13.0")
    return torch


# Hand-worked small cases.


def test_mae_by_hand() -> None:
    # |3 - 1| = 2, |-2.5 + 2| = 0.5, |0.5 - 0.5| = 0; gradient sign(d) = 1, -1 and 0 at the kink
    t, p = [[1.0, -2.0, 0.5]], [[3.0, -2.5, 0.5]]
    np.testing.assert_array_equal(values("mae", y_true=t, y_pred=p), [[2.0, 0.5, 0.0]])
    assert values("mae", reduction="mean", y_true=t, y_pred=p) == pytest.approx(2.5 / 3, rel=1e-15)
    np.testing.assert_array_equal(grad("mae", y_true=t, y_pred=p), [[1.0, -1.0, 0.0]])


def test_huber_by_hand() -> None:
    # delta 1, d = [0.5, -2, 1, -1, 0]: 0.5 * 0.25 = 0.125; 1 * (2 - 0.5) = 1.5; at |d| = delta both
    # branches give 0.5; 0. Gradient clip(d, -1, 1) = [0.5, -1, 1, -1, 0].
    t, p = [[0.0] * 5], [[0.5, -2.0, 1.0, -1.0, 0.0]]
    np.testing.assert_array_equal(values("huber", y_true=t, y_pred=p), [[0.125, 1.5, 0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(grad("huber", y_true=t, y_pred=p), [[0.5, -1.0, 1.0, -1.0, 0.0]])
    # delta 2, d = [1, -3]: 0.5 * 1 = 0.5; 2 * (3 - 1) = 4. Gradient [1, -2].
    t, p = [[1.0, 1.0]], [[2.0, -2.0]]
    np.testing.assert_array_equal(values("huber", {"delta": 2.0}, y_true=t, y_pred=p), [[0.5, 4.0]])
    np.testing.assert_array_equal(grad("huber", {"delta": 2.0}, y_true=t, y_pred=p), [[1.0, -2.0]])


def test_smooth_l1_by_hand() -> None:
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


def test_log_cosh_by_hand() -> None:
    # cosh(acosh 2) = 2: l = log 2, gradient tanh(acosh 2) = sqrt(3) / 2; d = 0: l = 0, gradient 0;
    # d = -0.5 (the small-|d| form): log(cosh 0.5) = 0.12011450695827752 (mpmath), gradient -tanh 0.5
    d = math.acosh(2.0)
    t, p = [[1.0, 1.0, 1.0]], [[1.0 + d, 1.0, 0.5]]
    expected = [math.log(2.0), 0.0, math.log(math.cosh(0.5))]
    np.testing.assert_allclose(values("log_cosh", y_true=t, y_pred=p), [expected], rtol=1e-14)
    np.testing.assert_allclose(
        grad("log_cosh", y_true=t, y_pred=p), [[math.sqrt(3) / 2, 0.0, -math.tanh(0.5)]], rtol=1e-14
    )


def test_msle_by_hand() -> None:
    # t = e - 1, p = e^2 - 1: (log(e^2) - log(e))^2 = 1; gradient 2 * 1 / (1 + p) = 2 e^-2.
    # t = 0 and p = -3 are both floored at 1e-7: l = 0, gradient 0 (the clip acted on p).
    t, p = [[math.e - 1, 0.0]], [[math.e**2 - 1, -3.0]]
    np.testing.assert_allclose(values("msle", y_true=t, y_pred=p), [[1.0, 0.0]], rtol=1e-15, atol=0)
    np.testing.assert_allclose(grad("msle", y_true=t, y_pred=p), [[2 * math.exp(-2), 0.0]], rtol=1e-15)


def test_mape_by_hand() -> None:
    # t = 4, p = 5: 100 * 1/4 = 25, gradient 100 / 4 = 25; t = -2, p = -1: 100 * 1/2 = 50, gradient
    # +100 / 2 (p above t); t = 0, p = 0.5: denominator eps = 1e-7, 100 * 0.5 / 1e-7 = 5e8.
    t, p = [[4.0, -2.0, 0.0]], [[5.0, -1.0, 0.5]]
    np.testing.assert_allclose(values("mape", y_true=t, y_pred=p), [[25.0, 50.0, 5e8]], rtol=1e-15)
    np.testing.assert_allclose(grad("mape", y_true=t, y_pred=p), [[25.0, 50.0, 1e9]], rtol=1e-15)
    # eps = 0.5 floors |t| = 0.25 at 0.5: 100 * 1 / 0.5 = 200
    assert values("mape", {"eps": 0.5}, y_true=[0.25], y_pred=[1.25])[0] == pytest.approx(200.0, rel=1e-15)


def test_poisson_nll_by_hand() -> None:
    # log-rate x = 0, t = 2: e^0 - 0 = 1, gradient e^0 - 2 = -1.
    # x = log 3, t = 3: 3 - 3 log 3, gradient 0 (the rate equals the count); x = 0, t = 1: 1, gradient 0.
    # full adds t log t - t + 0.5 log(2 pi t) for t = 3: 3 log 3 - 3 + 0.5 log(6 pi), so the total at
    # x = log 3 is 0.5 log(6 pi); for t = 2: 2 log 2 - 2 + 0.5 log(4 pi); t = 1: nothing (t <= 1).
    t, x = [[2.0, 3.0, 1.0]], [[0.0, math.log(3.0), 0.0]]
    np.testing.assert_allclose(values("poisson_nll", y_true=t, y_pred=x), [[1.0, 3 - 3 * math.log(3), 1.0]], rtol=1e-14)
    full = [1 + 2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi), 0.5 * math.log(6 * math.pi), 1.0]
    np.testing.assert_allclose(values("poisson_nll", {"full": True}, y_true=t, y_pred=x), [full], rtol=1e-14)
    np.testing.assert_allclose(grad("poisson_nll", {"full": True}, y_true=t, y_pred=x), [[-1.0, 0.0, 0.0]], atol=1e-15)
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


def test_gaussian_nll_by_hand() -> None:
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
def test_gaussian_nll_shared_variance_by_hand(var: list) -> None:
    # One variance 4 for d = [2, 0]: values 0.5 (log 4 + 1) and 0.5 log 4; dl/dvar is summed over the
    # shared axis: 0.5 (1/4 - 4/16) + 0.5 (1/4 - 0) = 0.125, returned in var's own shape.
    t, p = [[1.0, 1.0]], [[3.0, 1.0]]
    v = values("gaussian_nll", y_true=t, y_pred=p, var=var)
    np.testing.assert_allclose(v, [[0.5 * (math.log(4) + 1), 0.5 * math.log(4)]], rtol=1e-15)
    g = grads("gaussian_nll", y_true=t, y_pred=p, var=var)
    assert g["var"].shape == np.shape(var)
    np.testing.assert_allclose(g["var"].ravel(), [0.125], rtol=1e-15)
    np.testing.assert_allclose(g["y_pred"], [[0.5, 0.0]], rtol=1e-15)


def test_quantile_by_hand() -> None:
    # q = 0.25: t = 1, p = 0 (under-prediction): 0.25 * 1; t = 0, p = 1 (over): 0.75 * 1; t = p: 0.
    # Gradient -q, 1 - q, and at the kink 1 - 2q = 0.5 (see test_quantile_kink_is_torch_clamp_min).
    t, p = [[1.0, 0.0, 2.0]], [[0.0, 1.0, 2.0]]
    np.testing.assert_array_equal(values("quantile", {"quantile": 0.25}, y_true=t, y_pred=p), [[0.25, 0.75, 0.0]])
    np.testing.assert_array_equal(grad("quantile", {"quantile": 0.25}, y_true=t, y_pred=p), [[-0.25, 0.75, 0.5]])
    # the default q = 0.5 is half the absolute error
    assert values("quantile", reduction="sum", y_true=[1.0, -3.0], y_pred=[4.0, 1.0]) == 3.5


# Golden values from the reference libraries.


def test_log_cosh_matches_optax() -> None:
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
def test_log_cosh_is_exact_near_zero(d: float, exact: float) -> None:
    """mpmath's log(cosh(d)) (d^2 / 2 for 1e-150); optax gives 4.999989311471609e-11 at 1e-5 and
    1.1102230246251565e-16 at 1e-8 (its cancellation against log 2)."""
    assert values("log_cosh", y_true=[0.0], y_pred=[d])[0] == pytest.approx(exact, rel=1e-15)
    assert values("log_cosh", y_true=[d], y_pred=[0.0])[0] == pytest.approx(exact, rel=1e-15)


MSLE_TRUE = [0.0, 1.0, 3.0, -2.0, 0.5, 1e300, 1e-9, 7.0]
MSLE_PRED = [0.5, 1.0, -1.0, -3.0, 1e-7, 1e300, 0.25, 1e-12]


def test_msle_matches_keras() -> None:
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


def test_msle_keeps_precision_where_keras_cancels() -> None:
    # t = 2, p = 2.000001: exact (mpmath) (log1p(p) - log1p(t))^2 = 1.1111107410514715e-13; Keras's
    # log(p + 1) - log(t + 1) gives 1.1111107398671209e-13 (1.1e-9 off); log1p((p - t) / (1 + t)) is exact.
    assert values("msle", y_true=[2.0], y_pred=[2.000001])[0] == pytest.approx(1.1111107410514715e-13, rel=1e-14)


def test_mape_matches_keras() -> None:
    t = np.array([2.0, -4.0, 0.0, 1e-9, 0.5, 3.0, -1e6])[:, None]
    p = np.array([1.5, -3.0, 0.25, 1.0, 0.5, -3.0, 1.0])[:, None]
    keras_values = [25.0, 25.0, 250000000.0, 999999999.0, 0.0, 200.0, 100.00009999999999]
    # jax.grad of Keras; at the kink p == t (5th) JAX's abs'(0) = 1 gives -200, the torch convention 0
    keras_grad = [-50.0, 25.0, 1000000000.0, 1000000000.0, 0.0, -33.333333333333336, 0.0001]
    np.testing.assert_allclose(values("mape", y_true=t, y_pred=p)[:, 0], keras_values, rtol=1e-15)
    np.testing.assert_allclose(grad("mape", y_true=t, y_pred=p)[:, 0], keras_grad, rtol=1e-15)


@pytest.mark.parametrize(
    ("q", "sklearn"),
    [
        (0.5, [0.5, 0.25, 1.0, 0.0, 0.125, 10.0]),
        (0.1, [0.1, 0.45, 0.2, 0.0, 0.225, 2.0]),
        (0.9, [0.9, 0.04999999999999999, 1.8, 0.0, 0.024999999999999994, 18.0]),
        (0.73, [0.73, 0.135, 1.46, 0.0, 0.0675, 14.6]),
    ],
)
def test_quantile_matches_sklearn(q: float, sklearn: list[float]) -> None:
    t = [[1.0, 2.0, -1.0, 0.5, 3.0, 10.0]]
    p = [[0.0, 2.5, -3.0, 0.5, 3.25, -10.0]]
    np.testing.assert_allclose(values("quantile", {"quantile": q}, y_true=t, y_pred=p), [sklearn], rtol=1e-15)
    # sklearn's mean_pinball_loss over a column is the mean of these values
    assert values("quantile", {"quantile": q}, "mean", y_true=t, y_pred=p) == pytest.approx(np.mean(sklearn))


# Kinks: the gradient PyTorch's autograd gives (API.md section 4).


@pytest.mark.parametrize(
    ("loss", "params", "switch"),
    [
        ("mae", {}, 0.0),
        ("huber", {}, 1.0),
        ("huber", {"delta": 0.3}, 0.3),
        ("huber", {"delta": 2.5}, 2.5),
        ("smooth_l1", {}, 1.0),
        ("smooth_l1", {"beta": 0.4}, 0.4),
        ("smooth_l1", {"beta": 3.0}, 3.0),
        ("smooth_l1", {"beta": 0.0}, 0.0),
    ],
)
def test_gradient_at_the_kinks_is_torch_autograd(loss: str, params: dict, switch: float) -> None:
    """d = 0 and d = ±switch (Huber's delta, smooth L1's beta) exactly, against torch's autograd."""
    torch = _torch()
    from .cases_regression import torch_huber, torch_l1, torch_smooth_l1

    reference = {"mae": torch_l1, "huber": torch_huber, "smooth_l1": torch_smooth_l1}[loss]
    t = np.array([[1.5, 0.0, 0.0, -switch, switch, 0.0]])
    p = np.array([[1.5, switch, -switch, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(p - t, [[0.0, switch, -switch, switch, -switch, 0.0]])  # d exactly ±switch
    x = torch.tensor(p, requires_grad=True)
    expected = reference(torch, {"y_true": torch.tensor(t), "y_pred": x}, params, "sum")
    expected.backward()
    assert values(loss, params, "sum", y_true=t, y_pred=p) == pytest.approx(expected.item(), rel=1e-15, abs=0)
    np.testing.assert_array_equal(grad(loss, params, y_true=t, y_pred=p), x.grad.numpy())


@pytest.mark.parametrize("q", [0.5, 0.1, 0.9, 0.73])
def test_quantile_kink_is_torch_clamp_min(q: float) -> None:
    """At y_true == y_pred: 1 - 2q, what autograd gives for q clamp_min(y - p, 0) + (1 - q) clamp_min(p - y, 0)."""
    torch = _torch()
    from .cases_regression import torch_pinball

    t = np.array([[0.5, -2.0, 3.0]])
    p = np.array([[0.5, -2.0, 1.0]])
    x = torch.tensor(p, requires_grad=True)
    torch_pinball(torch, {"y_true": torch.tensor(t), "y_pred": x}, {"quantile": q}, "sum").backward()
    g = grad("quantile", {"quantile": q}, y_true=t, y_pred=p)
    np.testing.assert_array_equal(g, x.grad.numpy())
    np.testing.assert_allclose(g, [[1 - 2 * q, 1 - 2 * q, -q]], rtol=1e-15)


def test_gaussian_nll_variance_below_eps_follows_torch() -> None:
    """PyTorch clamps var to eps in place under no_grad: the value uses max(var, eps) and the gradient
    with respect to var is the formula at eps, not 0 (a straight-through clamp). Replicated exactly."""
    torch = _torch()
    p = np.array([[0.5, 1.0, 0.2], [-0.3, 0.0, 2.0]])
    t = np.zeros_like(p)
    var = np.array([[1e-8, 0.0, 0.5], [1e-6, 3e-7, 1.0]])
    for params in ({}, {"eps": 1e-3, "full": True}):
        tensors = {"y_true": torch.tensor(t), "y_pred": torch.tensor(p, requires_grad=True)}
        tensors["var"] = torch.tensor(var, requires_grad=True)
        from .cases_regression import torch_gaussian_nll

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


# Saturated and degenerate inputs.


def test_huge_errors_stay_finite_where_the_loss_is() -> None:
    t, p = [[0.0, 0.0]], [[1e300, -1e300]]
    np.testing.assert_array_equal(values("mae", y_true=t, y_pred=p), [[1e300, 1e300]])
    np.testing.assert_array_equal(grad("mae", y_true=t, y_pred=p), [[1.0, -1.0]])
    # huber: delta (|d| - delta / 2) = 1e300 (the 0.5 d^2 branch, which overflows, is not taken)
    np.testing.assert_array_equal(values("huber", y_true=t, y_pred=p), [[1e300, 1e300]])
    np.testing.assert_array_equal(grad("huber", y_true=t, y_pred=p), [[1.0, -1.0]])
    np.testing.assert_array_equal(values("smooth_l1", y_true=t, y_pred=p), [[1e300, 1e300]])
    np.testing.assert_array_equal(grad("smooth_l1", y_true=t, y_pred=p), [[1.0, -1.0]])
    # log cosh: |d| - log 2 (cosh itself overflows past 710), gradient tanh = ±1
    np.testing.assert_array_equal(values("log_cosh", y_true=t, y_pred=p), [[1e300, 1e300]])
    np.testing.assert_array_equal(grad("log_cosh", y_true=t, y_pred=p), [[1.0, -1.0]])
    assert values("log_cosh", y_true=[0.0], y_pred=[1000.0])[0] == pytest.approx(1000 - math.log(2), rel=1e-15)
    assert values("quantile", y_true=t, y_pred=p).tolist() == [[5e299, 5e299]]
    # msle: p = 1e300, t = 0 (floored at 1e-7): log1p(1e300 / (1 + 1e-7))^2
    expected = math.log1p(1e300 / (1 + 1e-7)) ** 2
    assert values("msle", y_true=[0.0], y_pred=[1e300])[0] == pytest.approx(expected, rel=1e-15)


def test_mse_like_overflow_is_a_non_finite_result() -> None:
    """Where the true loss exceeds float64 it is refused as not finite (422), not returned as inf."""
    with pytest.raises(InvalidInput, match="not finite"):
        values("mape", y_true=[[0.0]], y_pred=[[1e300]])  # 100 * 1e300 / 1e-7
    with pytest.raises(InvalidInput, match="not finite"):
        values("poisson_nll", y_true=[[1.0]], y_pred=[[1000.0]])  # exp(1000)
    with pytest.raises(InvalidInput, match="not finite"):
        values("gaussian_nll", y_true=[[0.0]], y_pred=[[1e200]], var=[[1.0]])  # d^2 / var
    # a very negative log-rate is fine: exp(-1000) = 0, l = -t x = 3000, gradient -t
    assert values("poisson_nll", y_true=[[3.0]], y_pred=[[-1000.0]]).tolist() == [[3000.0]]
    assert grad("poisson_nll", y_true=[[3.0]], y_pred=[[-1000.0]]).tolist() == [[-3.0]]


# Domains.


def _issue_locations(error: pytest.ExceptionInfo[InvalidInput]) -> list[tuple]:
    return [issue.location for issue in error.value.issues]


def test_poisson_nll_refuses_negative_counts_and_rates() -> None:
    with pytest.raises(InvalidInput, match="count >= 0") as error:
        values("poisson_nll", y_true=[[1.0, -1.0]], y_pred=[[0.0, 0.0]])
    assert _issue_locations(error) == [("y_true", 0, 1)]
    with pytest.raises(InvalidInput, match="rate >= 0") as error:
        values("poisson_nll", {"log_input": False}, y_true=[[1.0, 2.0]], y_pred=[[-0.5, 1.0]])
    assert _issue_locations(error) == [("y_pred", 0, 0)]
    # negative log-rates are fine, fractional counts too
    assert np.isfinite(values("poisson_nll", y_true=[[0.5, 2.5]], y_pred=[[-3.0, 1.0]])).all()


def test_gaussian_nll_refuses_negative_variances_and_misfit_shapes() -> None:
    with pytest.raises(InvalidInput, match="variance >= 0") as error:
        values("gaussian_nll", y_true=[[0.0, 0.0]], y_pred=[[1.0, 1.0]], var=[[1.0, -1e-12]])
    assert _issue_locations(error) == [("var", 0, 1)]
    for var in ([[1.0, 1.0, 1.0]], [[1.0], [1.0]], [1.0, 1.0]):
        with pytest.raises(InvalidInput, match="var does not fit") as error:
            values("gaussian_nll", y_true=[[0.0, 0.0]], y_pred=[[1.0, 1.0]], var=var)
        assert _issue_locations(error) == [("var",)]


def test_msle_accepts_negative_values_as_keras_does() -> None:
    """Keras floors both inputs at 1e-7 ("negative values and 0 values will be replaced with epsilon")."""
    v = values("msle", y_true=[[-5.0, 0.0]], y_pred=[[-1.0, -1e300]])
    np.testing.assert_array_equal(v, [[0.0, 0.0]])
    np.testing.assert_array_equal(grad("msle", y_true=[[-5.0, 0.0]], y_pred=[[-1.0, -1e300]]), [[0.0, 0.0]])


def test_float32_stays_float32() -> None:
    inputs = {"y_true": np.array([[1.0, 2.0]]), "y_pred": np.array([[1.5, 0.5]]), "var": np.array([[0.5, 2.0]])}
    for name in ("mae", "huber", "smooth_l1", "log_cosh", "msle", "mape", "poisson_nll", "gaussian_nll", "quantile"):
        spec = CATALOG[name]
        arrays = {i.name: inputs[i.name] for i in spec.inputs}
        result = compute(spec, arrays, reduction="none", return_grad=True, dtype="float32")
        assert isinstance(result.loss, np.ndarray) and result.loss.dtype == np.float32, name
        assert result.grads is not None and all(g.dtype == np.float32 for g in result.grads.values()), name


# Params through the API: bounds as published.


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


def test_gaussian_nll_through_the_api(api_client: Any) -> None:
    body = {"y_true": [[1.0, 1.0]], "y_pred": [[3.0, 1.0]], "var": [4.0], "return_grad": True, "reduction": "sum"}
    response = api_client.post("/losses/gaussian_nll", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["grad"]["var"] == [0.125]
    body["var"] = [-1.0]
    response = api_client.post("/losses/gaussian_nll", json=body)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/var/0"]
