"""Values of the margin losses: hand-worked cases, Keras golden values, PyTorch at the kinks,
saturated and degenerate inputs, and the domain errors.

PyTorch is the reference of every loss here but ``squared_hinge`` (Keras). The Keras numbers
were produced with Keras 3.15.1 on the JAX backend in float64 (``JAX_ENABLE_X64=1``,
``keras.config.set_floatx("float64")``, and Keras's float32 ``ops.mean`` patched to a float64
``jnp.mean``), one label per row of an ``(n, 1)`` array so that Keras's mean over the last
axis is the identity and the values are elementwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute
from service.engine.losses.embedding import COSINE_EPSILON

from .conftest import required_in_this_run


def run(name: str, params: dict | None = None, reduction: Any = "none", dtype: Any = "float64", **inputs: Any) -> Any:
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    return compute(CATALOG[name], arrays, params or {}, reduction=reduction, return_grad=True, dtype=dtype)


def values(name: str, params: dict | None = None, reduction: str = "none", **inputs: Any) -> np.ndarray:
    return np.asarray(run(name, params, reduction, **inputs).loss)


def grads(name: str, params: dict | None = None, reduction: str = "sum", **inputs: Any) -> dict[str, np.ndarray]:
    result = run(name, params, reduction, **inputs)
    assert result.grads is not None
    return result.grads


def refused(name: str, params: dict | None = None, **inputs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as error:
        run(name, params, **inputs)
    return error.value


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the machine
        if required_in_this_run("torch"):
            pytest.fail("torch is required in this run (LOSS_SERVICE_TEST_REQUIRE) but is not installed")
        pytest.skip("torch is not installed: pip install torch==2.13.0")
    return torch


def assert_matches_torch(name: str, torch_loss: Any, params: dict | None = None, exact: bool = False, **inputs: Any):
    """Our ``sum`` and its gradients against torch's: ``torch_loss(**tensors)`` returns torch's sum."""
    torch = _torch()
    spec = CATALOG[name]
    tensors = {
        k: torch.tensor(np.asarray(v, dtype=np.float64)).requires_grad_(k in spec.differentiable)
        for k, v in inputs.items()
    }
    expected = torch_loss(**tensors)
    expected.backward()
    result = run(name, params, "sum", **inputs)
    check = np.testing.assert_array_equal if exact else lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12)
    check(result.loss, expected.item())
    for k in spec.differentiable:
        check(result.grads[k], tensors[k].grad.numpy())
    return result


# squared_hinge (Keras)


def test_keras_squared_hinge_golden_values_and_gradient() -> None:
    f = [[0.3, -0.4, 1.7], [0.5, -2.0, 0.9]]
    # 0/1 labels are mapped to -1/1: y = [[-1, 1, 1], [1, -1, -1]]
    # (1 + 0.3)^2 = 1.69, (1 + (-0.4))... (1 - (-0.4))^2 = 1.96, 1 - 1.7 < 0 -> 0;
    # (1 - 0.5)^2 = 0.25, 1 - 2 < 0 -> 0, (1 + 0.9)^2 = 3.61
    keras = [[1.6900000000000002, 1.9599999999999997, 0.0], [0.25, 0.0, 3.61]]
    np.testing.assert_allclose(values("squared_hinge", y_true=[[0, 1, 1], [1, 0, 0]], y_pred=f), keras, rtol=1e-15)
    # Keras's own gradient (jax.grad through keras.losses.squared_hinge): -2 y max(1 - y f, 0)
    keras_grad = [[2.6, -2.8, 0.0], [-1.0, 0.0, 3.8]]
    np.testing.assert_allclose(grads("squared_hinge", y_true=[[0, 1, 1], [1, 0, 0]], y_pred=f)["y_pred"], keras_grad)
    keras_signed = [[0.48999999999999994, 0.36, 0.0], [2.25, 9.0, 3.61]]
    signed = values("squared_hinge", y_true=[[1, -1, 1], [-1, 1, -1]], y_pred=f)
    np.testing.assert_allclose(signed, keras_signed, rtol=1e-15)
    # Keras's mean over the last axis (its float32 mean patched): [0.28333333333333327, 4.953333333333333]
    np.testing.assert_allclose(signed.mean(axis=-1), [0.28333333333333327, 4.953333333333333], rtol=1e-15)


def test_squared_hinge_kink_has_zero_gradient_and_labels_are_checked() -> None:
    # y f = 1: max(0, 0)^2 = 0 and its derivative -2 y * 0 = 0 whatever the convention
    g = grads("squared_hinge", y_true=[[1.0, -1.0]], y_pred=[[1.0, -1.0]])["y_pred"]
    np.testing.assert_array_equal(g, [[0.0, 0.0]])
    error = refused("squared_hinge", y_true=[[0.0, 1.0], [1.0, -1.0]], y_pred=[[0.0, 0.0], [0.0, 0.0]])
    assert error.issues[0].location == ("y_true", 0, 0)  # a mix of 0 and -1
    refused("squared_hinge", y_true=[[0.5, 1.0]], y_pred=[[0.0, 0.0]])


# soft_margin


def test_soft_margin_by_hand() -> None:
    # y = 1, x = 0: log(1 + e^0) = log 2; y = -1, x = 2: log(1 + e^2)
    v = values("soft_margin", y_true=[[1.0, -1.0]], y_pred=[[0.0, 2.0]])
    np.testing.assert_allclose(v, [[math.log(2), math.log1p(math.exp(2))]], rtol=1e-15)
    # dl/dx = -y sigmoid(-y x): -0.5 and sigmoid(2) = 1 / (1 + e^-2); mean divides by 2
    g = grads("soft_margin", reduction="mean", y_true=[[1.0, -1.0]], y_pred=[[0.0, 2.0]])["y_pred"]
    np.testing.assert_allclose(g, [[-0.25, 0.5 / (1 + math.exp(-2))]], rtol=1e-15)


def test_soft_margin_saturated_is_finite_where_torch_overflows() -> None:
    # -y x = 1000: softplus(1000) = 1000 (PyTorch's log1p(exp(1000)) = inf, gradient NaN);
    # -y x = -1000: log1p(e^-1000) = 0
    result = run("soft_margin", y_true=[[1.0, -1.0, 1.0]], y_pred=[[-1000.0, 1000.0, 1000.0]])
    np.testing.assert_array_equal(result.loss, [[1000.0, 1000.0, 0.0]])
    np.testing.assert_array_equal(result.grads["y_pred"], [[-1.0, 1.0, 0.0]])
    # Where PyTorch is still finite (-y x = 700) the two agree
    torch = _torch()
    assert_matches_torch(
        "soft_margin",
        lambda y_true, y_pred: torch.nn.functional.soft_margin_loss(y_pred, y_true, reduction="sum"),
        y_true=[[1.0, -1.0, 1.0]],
        y_pred=[[-700.0, 30.0, 1e-3]],
    )


def test_soft_margin_labels_are_minus_one_or_one() -> None:
    error = refused("soft_margin", y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])
    assert error.issues[0].location == ("y_true", 0, 1)
    assert "{-1, 1}" in error.issues[0].detail


# multilabel_soft_margin


def test_multilabel_soft_margin_by_hand() -> None:
    # x = 0: every class costs log 2; the mean over C = 2 classes is log 2
    assert values("multilabel_soft_margin", y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])[0] == pytest.approx(
        math.log(2), rel=1e-15
    )
    # class weights [1, 3]: (1 log 2 + 3 log 2) / 2 = 2 log 2; dl/dx_c = w_c (sigmoid(x_c) - y_c) / C
    params = {"class_weight": [1.0, 3.0]}
    assert values("multilabel_soft_margin", params, y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])[0] == pytest.approx(
        2 * math.log(2), rel=1e-15
    )
    g = grads("multilabel_soft_margin", params, y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])["y_pred"]
    np.testing.assert_allclose(g, [[(0.5 - 1) / 2, 3 * 0.5 / 2]], rtol=1e-15)
    # The mean over samples is plain, whatever the class weights (PyTorch): (2 log 2 + 0.5 log 2 ... ) / N
    two = values(
        "multilabel_soft_margin", params, "mean", y_true=[[1.0, 0.0], [0.0, 0.0]], y_pred=[[0.0, 0.0], [0.0, 0.0]]
    )
    # row 2: (1 log 2 + 3 log 2) / 2 = 2 log 2 too, so the mean is 2 log 2
    assert two == pytest.approx(2 * math.log(2), rel=1e-15)


def test_multilabel_soft_margin_saturated_logits() -> None:
    # right and certain: 0; wrong and certain: 1000 each; mean over 4 classes: 500
    y, x = [[1.0, 0.0, 1.0, 0.0]], [[1000.0, -1000.0, -1000.0, 1000.0]]
    result = run("multilabel_soft_margin", y_true=y, y_pred=x)
    np.testing.assert_array_equal(result.loss, [500.0])
    np.testing.assert_array_equal(result.grads["y_pred"], [[0.0, 0.0, -0.25, 0.25]])


def test_multilabel_soft_margin_domain() -> None:
    error = refused("multilabel_soft_margin", y_true=[[1.0, -1.0]], y_pred=[[0.0, 0.0]])
    assert error.issues[0].location == ("y_true", 0, 1)
    refused("multilabel_soft_margin", y_true=[[1.0, 0.5]], y_pred=[[0.0, 0.0]])
    error = refused("multilabel_soft_margin", {"class_weight": [1.0]}, y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])
    assert error.issues[0].location == ("class_weight",)
    assert error.issues[0].argument == "param"


# multilabel_margin


def test_multilabel_margin_pytorch_documentation_example() -> None:
    # PyTorch's docs: x = [0.1, 0.2, 0.4, 0.8], targets 3 and 0 (then -1): 0.85.
    # Non-targets 1, 2. Target 3: (1 - 0.8 + 0.2) + (1 - 0.8 + 0.4) = 1.0; target 0:
    # (1 - 0.1 + 0.2) + (1 - 0.1 + 0.4) = 2.4; (1.0 + 2.4) / 4 = 0.85
    x = [[0.1, 0.2, 0.4, 0.8]]
    assert values("multilabel_margin", y_true=[[3, 0, -1, 1]], y_pred=x)[0] == pytest.approx(0.85, rel=1e-15)
    # every pair active: +2/4 on each non-target, -2/4 on each target
    np.testing.assert_allclose(
        grads("multilabel_margin", y_true=[[3, 0, -1, 1]], y_pred=x)["y_pred"], [[-0.5, 0.5, 0.5, -0.5]]
    )
    # entries after the first -1 are ignored
    assert values("multilabel_margin", y_true=[[3, 0, -1, -1]], y_pred=x)[0] == pytest.approx(0.85, rel=1e-15)
    # a class listed twice counts twice: target 3 against 0, 1, 2: 0.3 + 0.4 + 0.6 = 1.3, twice: 2.6 / 4
    assert values("multilabel_margin", y_true=[[3, 3, -1, 1]], y_pred=x)[0] == pytest.approx(0.65, rel=1e-15)
    # no targets (a leading -1), or every class a target: nothing to compare, 0
    np.testing.assert_array_equal(values("multilabel_margin", y_true=[[-1, 2, 1, 0], [0, 1, 2, 3]], y_pred=x * 2), 0)
    # one class: the only class is the target or there is none
    np.testing.assert_array_equal(values("multilabel_margin", y_true=[[0], [-1]], y_pred=[[5.0], [5.0]]), [0, 0])


def test_multilabel_margin_kink_follows_pytorch_kernel() -> None:
    """PyTorch's kernel counts a pair only where ``z = 1 - x_t + x_i > 0``: at ``z == 0`` the pair adds nothing."""
    torch = _torch()
    # target 0 (x = 1): against class 1 z = 1 - 1 + 0 = 0 (the kink), against class 2 z = 0.5
    y, x = [[0, -1, 0]], [[1.0, 0.0, 0.5]]
    tensor = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.multilabel_margin_loss(tensor, torch.tensor(y), reduction="sum")
    expected.backward()
    ours = run("multilabel_margin", reduction="sum", y_true=y, y_pred=x)
    assert ours.loss == pytest.approx(expected.item(), rel=1e-15)
    assert ours.loss == pytest.approx(0.5 / 3, rel=1e-15)
    np.testing.assert_array_equal(ours.grads["y_pred"], tensor.grad.numpy())
    np.testing.assert_allclose(ours.grads["y_pred"], [[-1 / 3, 0.0, 1 / 3]])


def test_multilabel_margin_ties_on_a_grid_match_pytorch() -> None:
    """Scores on a half-integer grid hit ``z == 0`` and equal scores often: values and gradients exactly PyTorch's."""
    torch = _torch()
    rng = np.random.default_rng(5)
    for _ in range(200):
        n, c = int(rng.integers(1, 5)), int(rng.integers(1, 7))
        x = rng.integers(-3, 4, (n, c)) * 0.5
        y = rng.integers(-1, c, (n, c))
        tensor = torch.tensor(x, requires_grad=True)
        expected = torch.nn.functional.multilabel_margin_loss(tensor, torch.tensor(y), reduction="none")
        expected.sum().backward()
        ours = run("multilabel_margin", y_true=y, y_pred=x)
        np.testing.assert_allclose(ours.loss, expected.detach().numpy(), rtol=1e-15, atol=1e-15)
        np.testing.assert_allclose(ours.grads["y_pred"], tensor.grad.numpy(), rtol=1e-15, atol=0)  # k / C


def _naive_multilabel_margin(y: np.ndarray, x: np.ndarray) -> float:
    """PyTorch's double loop, for one sample."""
    n = x.size
    listed = y[: int(np.argmax(y < 0))] if (y < 0).any() else y
    others = np.setdiff1d(np.arange(n), listed)
    z = 1 - x[listed][:, None] + x[others][None, :]
    return float(np.sum(np.maximum(z, 0)) / n)


def test_multilabel_margin_many_classes_is_accurate_and_not_quadratic() -> None:
    rng = np.random.default_rng(3)
    c = 3000
    x = rng.normal(0, 3, (2, c))
    y = np.full((2, c), -1)
    y[0, :1500] = rng.permutation(c)[:1500]
    y[1, :7] = rng.permutation(c)[:7]
    v = values("multilabel_margin", y_true=y, y_pred=x)
    for row in range(2):
        assert v[row] == pytest.approx(_naive_multilabel_margin(y[row], x[row]), rel=1e-13)
    # 200 000 classes, half of them targets: 1e10 pairs for the double loop, a sort here
    c = 200_000
    x = rng.normal(0, 1, (1, c))
    y = rng.permutation(c)[None, :]
    y[0, c // 2 :] = -1
    result = run("multilabel_margin", reduction="sum", y_true=y, y_pred=x)
    assert np.isfinite(result.loss) and result.loss > 0 and np.isfinite(result.grads["y_pred"]).all()


def test_multilabel_margin_domain() -> None:
    x = [[0.1, 0.2, 0.4]]
    error = refused("multilabel_margin", y_true=[[0, 3, -1]], y_pred=x)
    assert error.issues[0].location == ("y_true", 0, 1)
    # PyTorch checks the entries after the first -1 too, and -2 is not padding
    error = refused("multilabel_margin", y_true=[[0, -1, 5]], y_pred=x)
    assert error.issues[0].location == ("y_true", 0, 2)
    refused("multilabel_margin", y_true=[[0, -2, -1]], y_pred=x)
    with pytest.raises(InvalidInput, match="integer"):
        run("multilabel_margin", y_true=[[0.5, -1, -1]], y_pred=x)
    with pytest.raises(InvalidInput, match="shape"):
        run("multilabel_margin", y_true=[[0, -1]], y_pred=x)


# cosine_embedding

E = COSINE_EPSILON


def test_cosine_epsilon_is_pytorchs_float32_constant() -> None:
    assert E == 9.999999960041972e-13  # float(np.float32(1e-12)), ATen's ``constexpr float EPSILON``
    torch = _torch()
    # |x1|^2 = 1e-12 is comparable to E: the float32 rounding of E shows in the 9th digit
    x1, x2 = [[1e-6, 0.0]], [[1.0, 0.0]]
    expected = torch.nn.functional.cosine_embedding_loss(
        *(torch.tensor(v, dtype=torch.float64) for v in (x1, x2, [1.0])), reduction="sum"
    )
    ours = values("cosine_embedding", reduction="sum", x1=x1, x2=x2, y_true=[1.0])
    assert ours == pytest.approx(expected.item(), rel=1e-15)
    assert ours == pytest.approx(1 - 1e-6 / math.sqrt((1e-12 + E) * (1 + E)), rel=1e-15)


def test_cosine_embedding_by_hand() -> None:
    # pair 1: cos([1, 0], [1, 1]) = 1 / sqrt((1 + E)(2 + E)) ~ 1/sqrt(2), y = 1: 1 - cos
    # pair 2: cos([1, 0], [0, 1]) = 0, y = -1, margin 0: max(0, 0 - 0) = 0
    x1, x2 = [[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 1.0]]
    v = values("cosine_embedding", x1=x1, x2=x2, y_true=[1.0, -1.0])
    np.testing.assert_allclose(v, [1 - 1 / math.sqrt((1 + E) * (2 + E)), 0.0], rtol=1e-15)
    # margin -0.5: pair 2 costs max(0, 0 + 0.5) = 0.5
    v = values("cosine_embedding", {"margin": -0.5}, x1=x1, x2=x2, y_true=[1.0, -1.0])
    assert v[1] == 0.5
    # pair 1's gradient: -(x2 / sqrt(m1 m2) - cos x1 / m1) ~ -([1, 1] - [1, 0]) / sqrt(2) = [0, -1/sqrt(2)]
    g = grads("cosine_embedding", x1=x1[:1], x2=x2[:1], y_true=[1.0])
    np.testing.assert_allclose(g["x1"], [[0.0, -1 / math.sqrt(2)]], rtol=1e-11, atol=1e-12)
    # and for x2: -(x1 / sqrt(m1 m2) - cos x2 / m2) ~ -([1, 0] / sqrt(2) - [1, 1] / (2 sqrt(2))) = [-1, 1] / (2 sqrt 2)
    np.testing.assert_allclose(g["x2"], [[-1 / (2 * math.sqrt(2)), 1 / (2 * math.sqrt(2))]], rtol=1e-11)


def test_cosine_embedding_kinks_match_pytorch() -> None:
    torch = _torch()

    def loss(margin: float):
        def reference(x1: Any, x2: Any, y_true: Any) -> Any:
            return torch.nn.functional.cosine_embedding_loss(x1, x2, y_true, margin=margin, reduction="sum")

        return reference

    # y = -1 and cos == margin: clamp_min passes the gradient. cos([1, 0], [0, 1]) = 0 exactly.
    result = assert_matches_torch(
        "cosine_embedding", loss(0.0), {"margin": 0.0}, exact=True, x1=[[1.0, 0.0]], x2=[[0.0, 1.0]], y_true=[-1.0]
    )
    assert np.abs(result.grads["x1"]).sum() > 0
    # cos([1, 0], [1, 0]) = 1 / (1 + E) (the same ops in both), used as the margin
    cos = 1 / math.sqrt((1 + E) * (1 + E))
    assert_matches_torch(
        "cosine_embedding", loss(cos), {"margin": cos}, x1=[[1.0, 0.0]], x2=[[1.0, 0.0]], y_true=[-1.0]
    )


def test_cosine_embedding_zero_and_huge_vectors() -> None:
    torch = _torch()
    # A zero vector: cos = 0 / sqrt(E (14 + E)) = 0, loss 1 for y = 1; the gradient
    # -x2 / sqrt(E (14 + E)) is large but finite, as in PyTorch
    assert_matches_torch(
        "cosine_embedding",
        lambda x1, x2, y_true: torch.nn.functional.cosine_embedding_loss(x1, x2, y_true, reduction="sum"),
        x1=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        x2=[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]],
        y_true=[1.0, -1.0],
    )
    g = grads("cosine_embedding", x1=[[0.0, 0.0, 0.0]], x2=[[1.0, 2.0, 3.0]], y_true=[1.0])
    np.testing.assert_allclose(g["x1"], -np.array([[1.0, 2.0, 3.0]]) / math.sqrt(E * (14 + E)), rtol=1e-14)
    # Huge vectors: |x|^2 overflows in PyTorch (inf / inf = NaN); here the rows are scaled by a
    # power of two first, so cos([1e200, 1e200], [1e200, 0]) = 1/sqrt(2) as for small vectors
    result = run("cosine_embedding", x1=[[1e200, 1e200]], x2=[[1e200, 0.0]], y_true=[1.0])
    assert result.loss[0] == pytest.approx(1 - 1 / math.sqrt(2), rel=1e-15)
    assert np.isfinite(result.grads["x1"]).all() and np.isfinite(result.grads["x2"]).all()
    # d(1 - cos)/dx1 scales as 1/|x|: the small-vector gradient times 1e-200
    small = grads("cosine_embedding", x1=[[1.0, 1.0]], x2=[[1.0, 0.0]], y_true=[1.0])
    np.testing.assert_allclose(result.grads["x1"], small["x1"] * 1e-200, rtol=1e-10)  # E matters at 1e-12
    # Scaling by a power of two is exact: the same values and gradients as PyTorch where its
    # formula does not overflow, E included
    x1, x2 = np.array([[3.0, -1.5, 0.25], [1e-7, 0.0, 2e-7]]), np.array([[0.5, 2.0, -7.0], [0.5, 2.0, -7.0]])
    for k in (0, 10, 300):
        assert_matches_torch(
            "cosine_embedding",
            lambda x1, x2, y_true: torch.nn.functional.cosine_embedding_loss(x1, x2, y_true, reduction="sum"),
            x1=x1 * 2.0**k,
            x2=x2,
            y_true=[1.0, 1.0],
        )


def test_cosine_embedding_domain_and_shapes() -> None:
    x = [[1.0, 0.0], [0.0, 1.0]]
    error = refused("cosine_embedding", x1=x, x2=x, y_true=[1.0, 0.0])
    assert error.issues[0].location == ("y_true", 1)
    refused("cosine_embedding", x1=x, x2=x, y_true=[2.0, 1.0])
    with pytest.raises(InvalidInput, match="shape"):
        run("cosine_embedding", x1=x, x2=x, y_true=[[1.0], [1.0]])
    with pytest.raises(InvalidInput, match="rank"):
        run("cosine_embedding", x1=[[x]], x2=[[x]], y_true=[1.0])


# margin_ranking


def test_margin_ranking_by_hand_and_kink() -> None:
    # x1 = 2, x2 = 1, margin 0.5: y = 1 -> max(0, -(2 - 1) + 0.5) = 0; y = -1 -> max(0, 1 + 0.5) = 1.5
    v = values("margin_ranking", {"margin": 0.5}, x1=[2.0, 2.0], x2=[1.0, 1.0], y_true=[1.0, -1.0])
    np.testing.assert_array_equal(v, [0.0, 1.5])
    g = grads("margin_ranking", {"margin": 0.5}, x1=[2.0, 2.0], x2=[1.0, 1.0], y_true=[1.0, -1.0])
    np.testing.assert_array_equal(g["x1"], [0.0, 1.0])  # -y where active
    np.testing.assert_array_equal(g["x2"], [0.0, -1.0])
    torch = _torch()
    # At z = -y (x1 - x2) + margin = 0 clamp_min passes the gradient: -y and y
    result = assert_matches_torch(
        "margin_ranking",
        lambda x1, x2, y_true: torch.nn.functional.margin_ranking_loss(x1, x2, y_true, margin=0.5, reduction="sum"),
        {"margin": 0.5},
        exact=True,
        x1=[[1.5, 1.0]],
        x2=[[1.0, 1.5]],
        y_true=[[1.0, -1.0]],
    )
    np.testing.assert_array_equal(result.grads["x1"], [[-1.0, 1.0]])


def test_margin_ranking_domain() -> None:
    error = refused("margin_ranking", x1=[1.0, 2.0], x2=[1.0, 2.0], y_true=[1.0, 0.0])
    assert error.issues[0].location == ("y_true", 1)
    with pytest.raises(InvalidInput, match="shape"):
        run("margin_ranking", x1=[1.0, 2.0], x2=[1.0], y_true=[1.0, 1.0])


# hinge_embedding


def test_hinge_embedding_by_hand_and_kink() -> None:
    # margin 1: y = 1 -> x = 0.3; y = -1 -> max(0, 1 - 0.4) = 0.6 and max(0, 1 - 1.5) = 0
    v = values("hinge_embedding", y_true=[[1.0, -1.0, -1.0]], y_pred=[[0.3, 0.4, 1.5]])
    np.testing.assert_allclose(v, [[0.3, 0.6, 0.0]], rtol=1e-15)
    g = grads("hinge_embedding", y_true=[[1.0, -1.0, -1.0]], y_pred=[[0.3, 0.4, 1.5]])["y_pred"]
    np.testing.assert_array_equal(g, [[1.0, -1.0, 0.0]])
    torch = _torch()
    # x == margin with y = -1: clamp_min passes, -1
    result = assert_matches_torch(
        "hinge_embedding",
        lambda y_true, y_pred: torch.nn.functional.hinge_embedding_loss(y_pred, y_true, margin=2.0, reduction="sum"),
        {"margin": 2.0},
        exact=True,
        y_true=[[-1.0, 1.0]],
        y_pred=[[2.0, 2.0]],
    )
    np.testing.assert_array_equal(result.grads["y_pred"], [[-1.0, 1.0]])


def test_hinge_embedding_labels() -> None:
    # PyTorch would add both branches for a label 0; refused here
    error = refused("hinge_embedding", y_true=[[1.0, 0.0]], y_pred=[[0.5, 0.5]])
    assert error.issues[0].location == ("y_true", 0, 1)


# triplet_margin


def test_triplet_margin_by_hand() -> None:
    a, pos, neg = [[0.0, 0.0]], [[3.0, 4.0]], [[6.0, 8.0]]
    # eps 0, p 2: d_pos = 5, d_neg = 10; margin 1: max(0, 1 + 5 - 10) = 0; margin 6: 1
    assert values("triplet_margin", {"eps": 0.0}, anchor=a, positive=pos, negative=neg)[0] == 0
    params = {"eps": 0.0, "margin": 6.0}
    assert values("triplet_margin", params, anchor=a, positive=pos, negative=neg)[0] == 1
    # gradient: d d_pos/d a = (a - pos)/5 = [-0.6, -0.8], d d_neg/d a = (a - neg)/10 = [-0.6, -0.8]
    g = grads("triplet_margin", params, anchor=a, positive=pos, negative=neg)
    np.testing.assert_allclose(g["anchor"], [[0.0, 0.0]], atol=1e-16)
    np.testing.assert_allclose(g["positive"], [[0.6, 0.8]], rtol=1e-15)
    np.testing.assert_allclose(g["negative"], [[-0.6, -0.8]], rtol=1e-15)
    # p 1: d_pos = 7, d_neg = 14, margin 8: 8 + 7 - 14 = 1; the gradient is sign(diff)
    params = {"eps": 0.0, "margin": 8.0, "p": 1.0}
    assert values("triplet_margin", params, anchor=a, positive=pos, negative=neg)[0] == 1
    np.testing.assert_array_equal(grads("triplet_margin", params, anchor=a, positive=pos, negative=neg)["anchor"], 0)
    # p 3: d_pos = 91^(1/3), d_neg = 2 * 91^(1/3); margin 5: 5 - 91^(1/3)
    params = {"eps": 0.0, "margin": 5.0, "p": 3.0}
    assert values("triplet_margin", params, anchor=a, positive=pos, negative=neg)[0] == pytest.approx(
        5 - 91 ** (1 / 3), rel=1e-14
    )
    # the default eps = 1e-6 is added to every component of the difference
    d_pos, d_neg = np.linalg.norm([-3 + 1e-6, -4 + 1e-6]), np.linalg.norm([-6 + 1e-6, -8 + 1e-6])
    assert values("triplet_margin", {"margin": 6.0}, anchor=a, positive=pos, negative=neg)[0] == pytest.approx(
        6 + d_pos - d_neg, rel=1e-14
    )


def test_triplet_margin_swap_by_hand() -> None:
    # d(a, n) = 1.5, d(p, n) = 0.5: with swap the negative distance is 0.5
    a, pos, neg = [[0.0, 0.0]], [[0.0, 1.0]], [[0.0, 1.5]]
    assert values("triplet_margin", {"eps": 0.0}, anchor=a, positive=pos, negative=neg)[0] == 0.5  # 1 + 1 - 1.5
    swapped = {"eps": 0.0, "swap": True}
    assert values("triplet_margin", swapped, anchor=a, positive=pos, negative=neg)[0] == 1.5  # 1 + 1 - 0.5
    g = grads("triplet_margin", swapped, anchor=a, positive=pos, negative=neg)
    # d d_pos: a gets (a - p)/1 = [0, -1], p gets [0, 1]; d d_swap: p gets (p - n)/0.5 = [0, -1], n gets [0, 1];
    # loss = 1 + d_pos - d_swap
    np.testing.assert_array_equal(g["anchor"], [[0.0, -1.0]])
    np.testing.assert_array_equal(g["positive"], [[0.0, 2.0]])
    np.testing.assert_array_equal(g["negative"], [[0.0, -1.0]])


def _torch_triplet(**params: Any):
    torch = _torch()

    def reference(anchor: Any, positive: Any, negative: Any) -> Any:
        return torch.nn.functional.triplet_margin_loss(anchor, positive, negative, reduction="sum", **params)

    return reference


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_triplet_margin_kink_matches_pytorch(p: float) -> None:
    # margin + d_pos - d_neg == 0 exactly: axis-aligned, eps 0: d_pos = 1, d_neg = 3, margin 2 (clamp_min passes).
    # (For other p PyTorch's (sum |d|^p)^(1/p) rounds 3 to 3 - 4e-16 and misses the kink itself.)
    params = {"eps": 0.0, "margin": 2.0, "p": p}
    result = assert_matches_torch(
        "triplet_margin",
        _torch_triplet(**params),
        params,
        anchor=[[0.0, 0.0]],
        positive=[[1.0, 0.0]],
        negative=[[3.0, 0.0]],
    )
    assert result.loss == 0 and np.abs(result.grads["positive"]).sum() > 0  # clamp_min passed it


@pytest.mark.parametrize("p", [0.5, 1.0, 1.5, 2.0, 3.0])
def test_triplet_margin_zero_distances_match_pytorch(p: float) -> None:
    # anchor == positive with eps 0: d_pos = 0 and its gradient is 0 (PyTorch masks norm == 0);
    # a zero component of a difference: its gradient is 0 (sign(0) = 0; masked for p < 1)
    params = {"eps": 0.0, "margin": 1.0, "p": p}
    assert_matches_torch(
        "triplet_margin",
        _torch_triplet(**params),
        params,
        anchor=[[0.0, 1.0], [0.5, 2.0]],
        positive=[[0.0, 1.0], [0.5, 3.0]],
        negative=[[0.2, 1.3], [0.9, 2.3]],
    )
    both_active = values(
        "triplet_margin",
        params,
        anchor=[[0.0, 1.0], [0.5, 2.0]],
        positive=[[0.0, 1.0], [0.5, 3.0]],
        negative=[[0.2, 1.3], [0.9, 2.3]],
    )
    assert (both_active > 0).all()


def test_triplet_margin_swap_tie_splits_the_gradient_as_pytorch() -> None:
    # d(a, n) = d(p, n) = 1 (eps 0): torch.min(a, b) gives each half the gradient
    params = {"eps": 0.0, "swap": True}
    result = assert_matches_torch(
        "triplet_margin",
        _torch_triplet(**params),
        params,
        exact=True,
        anchor=[[0.0, 0.0]],
        positive=[[2.0, 0.0]],
        negative=[[1.0, 0.0]],
    )
    # loss = 1 + 2 - 1 = 2; d/dn of -min(d_an, d_pn) = -(0.5 (n - a)/1 + 0.5 (n - p)/1) = -(0.5 - 0.5) = 0
    assert result.loss == 2
    np.testing.assert_array_equal(result.grads["negative"], [[0.0, 0.0]])
    # anchor: (a - p)/2 - 0.5 (a - n)/1 = [-1, 0] + [0.5, 0]; positive: -(a - p)/2 - 0.5 (p - n)/1 = [1 - 0.5, 0]
    np.testing.assert_array_equal(result.grads["anchor"], [[-0.5, 0.0]])
    np.testing.assert_array_equal(result.grads["positive"], [[0.5, 0.0]])


def test_triplet_margin_extreme_inputs() -> None:
    # Huge vectors: PyTorch's sum of squares overflows; the scaled norm does not.
    a, pos, neg = [[1e200, 0.0]], [[-1e200, 0.0]], [[1e200, 1e200]]
    v = values("triplet_margin", anchor=a, positive=pos, negative=neg)
    assert v[0] == pytest.approx(2e200 - 1e200, rel=1e-14)
    # A large p: 10^400 overflows in PyTorch's sum of |d|^p; ||[10, 10]||_400 = 10 * 2^(1/400)
    params = {"eps": 0.0, "p": 400.0, "margin": 20.0}
    v = values("triplet_margin", params, anchor=[[0.0, 0.0]], positive=[[10.0, 10.0]], negative=[[0.0, 0.0]])
    assert v[0] == pytest.approx(20 + 10 * 2 ** (1 / 400), rel=1e-14)
    # A tiny p makes the quasi-norm itself overflow: (5 * 1)^(1/0.001) = 5^1000 -> a 422, not inf
    with pytest.raises(InvalidInput, match="not finite"):
        run(
            "triplet_margin",
            {"eps": 0.0, "p": 0.001},
            anchor=[[0.0] * 5],
            positive=[[1.0] * 5],
            negative=[[2.0] * 5],
        )


def test_triplet_margin_shapes() -> None:
    v = [[0.0, 1.0]]
    with pytest.raises(InvalidInput, match="rank") as error:
        run("triplet_margin", anchor=[v], positive=[v], negative=[v])
    assert error.value.issues[0].location == ("anchor",)
    with pytest.raises(InvalidInput, match="shape") as error:
        run("triplet_margin", anchor=v, positive=v, negative=[[0.0, 1.0, 2.0]])
    assert error.value.issues[0].location == ("negative",)


# Parameter bounds through the API


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
def test_api_refuses_out_of_range_params_and_labels(api_client: Any, name: str, body: dict, pointer: str) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "triplet_margin": {"anchor": [[0.0, 1.0]], "positive": [[1.0, 1.0]], "negative": [[2.0, 1.0]]},
        "cosine_embedding": {"x1": [[0.0, 1.0], [1.0, 0.0]], "x2": [[1.0, 1.0], [1.0, 1.0]], "y_true": [1.0, -1.0]},
        "multilabel_margin": {},
    }
    response = api_client.post(f"/losses/{name}", json={**bodies[name], **body})
    assert response.status_code == 422, response.text
    assert pointer in [error["pointer"] for error in response.json()["errors"]]


def test_api_triplet_margin_defaults_in_the_catalog(api_client: Any) -> None:
    entry = api_client.get("/losses/triplet_margin").json()
    assert {p["name"]: p["default"] for p in entry["params"]} == {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False}
