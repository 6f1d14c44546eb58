"""The binary and multi-label losses (``service/engine/losses/binary.py``), one test class per loss.

PyTorch is the reference of binary_crossentropy and binary_focal on logits, soft_margin,
multilabel_soft_margin and multilabel_margin; Keras of the probability forms, hinge and
squared_hinge; optax of perceptron. Where the reference is not PyTorch the ``torch_reference``
is the reference's formula written with torch ops (``clamp_min`` at the kinks), which pins the
values and, through autograd, the gradients; the reference library's own numbers are golden
values below.

The Keras numbers were produced with Keras 3.15.1 on the JAX backend in float64
(``JAX_ENABLE_X64=1``, ``keras.config.set_floatx("float64")``, and Keras's float32 ``ops.mean``
patched to a float64 ``jnp.mean``, since Keras reduces ``mean(axis=-1)`` in float32 even under
float64) and agree with the formulas to ~1e-16; each is also derived here. This service returns
elementwise values where Keras averages the last axis, so those comparisons average ``none`` over
the last axis (or use one label per row of an ``(n, 1)`` array).

``multilabel_soft_margin`` with ``class_weight`` keeps a plain mean (PyTorch's
``multilabel_soft_margin_loss`` averages the per-sample values whatever the weights): it is not
in ``WEIGHTED_MEAN_LOSSES``. Makers keep every input away from the kinks: hinge arguments at
least 0.1 from 0, and every target-minus-non-target difference of multilabel_margin at least 0.1
from the margin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute
from tests.support.engine import (
    Case,
    Inputs,
    LossTests,
    TorchParity,
    binary_logits,
    grad,
    margin_away_from_kink,
    matches_torch,
    probabilities,
    refused,
    run,
    soft_targets,
    torch_reduce,
    values,
)

T = dict[str, Any]
EPS = 1e-7


# Input makers.


def binary_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": soft_targets(rng, shape), "y_pred": probabilities(rng, shape)}


def signed_hinge(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    y = rng.choice([-1.0, 1.0], shape)
    return {"y_true": y, "y_pred": margin_away_from_kink(rng, y, 1.0)}


def binary_hinge(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    inputs = signed_hinge(rng, shape)
    return {"y_true": (inputs["y_true"] + 1) / 2, "y_pred": inputs["y_pred"]}


def signed_perceptron(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    y = rng.choice([-1.0, 1.0], shape)
    return {"y_true": y, "y_pred": margin_away_from_kink(rng, y, 0.0)}


def signed_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.choice([-1.0, 1.0], shape), "y_pred": rng.normal(0, 3, shape)}


def multilabel_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, 2, shape).astype(float), "y_pred": rng.normal(0, 3, shape)}


def multilabel_targets(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Per sample, a few target classes (sometimes one listed twice, sometimes none) then -1
    padding, sometimes followed by more class indices (ignored after the first -1), and scores
    with every target-minus-non-target difference at least 0.1 from the margin 1."""
    n = shape[-1]
    samples = shape[:-1]
    y = np.full(shape, -1, dtype=np.int64)
    for index in np.ndindex(samples):
        k = int(rng.integers(0, n + 1))
        listed = rng.permutation(n)[:k]
        if k >= 2 and rng.uniform() < 0.3:
            listed[-1] = listed[0]  # a class listed twice counts twice
        y[index][:k] = listed
        if k + 1 < n and rng.uniform() < 0.5:
            y[index][k + 1 :] = rng.integers(-1, n, n - k - 1)  # after the first -1: ignored

    def draw_scores() -> np.ndarray:
        return rng.normal(0, 1.2, shape)

    x = draw_scores()
    for index in np.ndindex(samples):
        row = y[index]
        listed = row[: int(np.argmax(row < 0)) if (row < 0).any() else n]
        others = np.setdiff1d(np.arange(n), listed)
        for _ in range(10_000):
            z = 1 - x[index][listed][:, None] + x[index][others][None, :]
            if z.size == 0 or np.min(np.abs(z)) >= 0.1:
                break
            x[index] = rng.normal(0, 1.2, n)
        else:  # pragma: no cover
            raise AssertionError("could not draw scores away from the kinks")
    return {"y_true": y, "y_pred": x}


# PyTorch references.


def torch_bce_logits(torch: Any, t: T, p: T, reduction: str) -> Any:
    ls = p.get("label_smoothing", 0.0)
    target = t["y_true"] * (1 - ls) + 0.5 * ls  # label smoothing as Keras defines it
    pos_weight = p.get("pos_weight")
    if pos_weight is not None:
        pos_weight = torch.as_tensor(pos_weight, dtype=torch.float64)
    return torch.nn.functional.binary_cross_entropy_with_logits(
        t["y_pred"], target, pos_weight=pos_weight, reduction=reduction
    )


def sigmoid_focal_loss(torch: Any, inputs: Any, targets: Any, alpha: float, gamma: float, reduction: str) -> Any:
    """``torchvision.ops.sigmoid_focal_loss`` (0.29), verbatim: torchvision has no CPU wheel here."""
    p = torch.sigmoid(inputs)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


def torch_focal_logits(torch: Any, t: T, p: T, reduction: str) -> Any:
    ls = p.get("label_smoothing", 0.0)
    target = t["y_true"] * (1 - ls) + 0.5 * ls
    alpha = p.get("alpha", 0.25)
    return sigmoid_focal_loss(
        torch, t["y_pred"], target, alpha=-1 if alpha is None else alpha, gamma=p.get("gamma", 2.0), reduction=reduction
    )


def torch_hinge(torch: Any, t: T, p: T, reduction: str) -> Any:
    """Keras's hinge written with ``clamp_min`` (labels already ±1 or all 0/1)."""
    y = t["y_true"]
    y = 2 * y - 1 if bool(((y == 0) | (y == 1)).all()) else y
    return torch_reduce(torch, torch.clamp_min(1 - y * t["y_pred"], 0), reduction)


def torch_perceptron(torch: Any, t: T, p: T, reduction: str) -> Any:
    """optax's ``max(0, -y f)`` written with ``clamp_min``, which fixes the gradient at the kink."""
    return torch_reduce(torch, torch.clamp_min(-t["y_true"] * t["y_pred"], 0), reduction)


def torch_squared_hinge(torch: Any, t: T, p: T, reduction: str) -> Any:
    """Keras's squared hinge written with torch ops."""
    y = t["y_true"]
    y = 2 * y - 1 if bool(((y == 0) | (y == 1)).all()) else y
    return torch_reduce(torch, torch.clamp_min(1 - y * t["y_pred"], 0) ** 2, reduction)


def torch_soft_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.soft_margin_loss(t["y_pred"], t["y_true"], reduction=reduction)


def torch_multilabel_soft_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    weight = p.get("class_weight")
    return torch.nn.functional.multilabel_soft_margin_loss(
        t["y_pred"],
        t["y_true"],
        weight=None if weight is None else torch.as_tensor(weight, dtype=torch.float64),
        reduction=reduction,
    )


def torch_multilabel_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    """PyTorch takes (N, C) only: (N, ..., C) goes through the flattened (-1, C) scores."""
    x = t["y_pred"]
    loss = torch.nn.functional.multilabel_margin_loss(
        x.reshape(-1, x.shape[-1]), t["y_true"].long().reshape(-1, x.shape[-1]), reduction=reduction
    )
    return loss.reshape(x.shape[:-1]) if reduction == "none" else loss


def _kink_matches_torch(torch: Any, loss: str, f: list[list[float]]) -> None:
    """At the kink, the gradient is what autograd gives for the ``clamp_min`` form."""
    y = np.array([[1.0, -1.0, 1.0, -1.0]])
    tensors = {"y_true": torch.tensor(y), "y_pred": torch.tensor(f, dtype=torch.float64, requires_grad=True)}
    expected = (torch_perceptron if loss == "perceptron" else torch_hinge)(torch, tensors, {}, "sum")
    expected.backward()
    result = compute(CATALOG[loss], {"y_true": y, "y_pred": np.array(f)}, reduction="sum", return_grad=True)
    assert result.grads is not None
    np.testing.assert_array_equal(result.grads["y_pred"], tensors["y_pred"].grad.numpy())


class TestBinaryCrossentropy(LossTests, TorchParity):
    cases = (
        Case("binary_crossentropy", binary_logits, {"from_logits": True}, torch_reference=torch_bce_logits),
        Case(
            "binary_crossentropy",
            binary_logits,
            {"from_logits": True, "label_smoothing": 0.2},
            torch_reference=torch_bce_logits,
        ),
        Case(
            "binary_crossentropy",
            binary_logits,
            {"from_logits": True, "pos_weight": 2.5},
            torch_reference=torch_bce_logits,
        ),
        Case(
            "binary_crossentropy",
            binary_logits,
            {"from_logits": True, "pos_weight": "per-class"},
            torch_reference=torch_bce_logits,
        ),
        Case("binary_crossentropy", binary_probabilities, {}),
        Case("binary_crossentropy", binary_probabilities, {"label_smoothing": 0.1, "pos_weight": 3.0}),
    )

    def test_logits_by_hand(self) -> None:
        # x = 0: log 2 for either label; x = 2, y = 1: log(1 + e^-2); x = -1, y = 0: log(1 + e^-1)
        v = values(
            "binary_crossentropy", {"from_logits": True}, y_true=[[1.0, 0.0, 1.0, 0.0]], y_pred=[[0.0, 0.0, 2.0, -1.0]]
        )
        np.testing.assert_allclose(
            v, [[math.log(2), math.log(2), math.log1p(math.exp(-2)), math.log1p(math.exp(-1))]], rtol=1e-15
        )
        # pos_weight 3 on y = 1, x = 0: 3 log 2; gradient 3 * (sigmoid(0) - 1) = -1.5
        v = values("binary_crossentropy", {"from_logits": True, "pos_weight": 3.0}, y_true=[[1.0]], y_pred=[[0.0]])
        np.testing.assert_allclose(v, [[3 * math.log(2)]], rtol=1e-15)
        g = grad("binary_crossentropy", {"from_logits": True, "pos_weight": 3.0}, y_true=[[1.0]], y_pred=[[0.0]])
        np.testing.assert_allclose(g, [[-1.5]], rtol=1e-15)

    def test_saturated_logits_are_finite_and_exact(self) -> None:
        x = [[1000.0, -1000.0, 1000.0, -1000.0, -30.0]]
        y = [[1.0, 0.0, 0.0, 1.0, 0.0]]
        v = values("binary_crossentropy", {"from_logits": True}, y_true=y, y_pred=x)
        np.testing.assert_allclose(v, [[0.0, 0.0, 1000.0, 1000.0, math.log1p(math.exp(-30))]], rtol=1e-15)
        np.testing.assert_allclose(
            grad("binary_crossentropy", {"from_logits": True}, y_true=y, y_pred=x),
            [[0, 0, 1, -1, 1 / (1 + math.exp(30))]],
        )

    def test_probability_clipping_and_its_zero_gradient(self) -> None:
        """Keras clips probabilities to [eps, 1 - eps]; the gradient is 0 where the clip acted."""
        y, p = [[1.0, 0.0, 1.0, 0.0]], [[0.0, 1.0, 1.0, 0.5]]
        v = values("binary_crossentropy", y_true=y, y_pred=p)
        # log of the clipped value: -log(1e-7) and -log(1 - (1 - 1e-7)) for the two wrong certainties
        # (1 - 1e-7 rounds in float64, as in Keras), -log(1 - 1e-7) for the right one
        expected = [-math.log(EPS), -math.log(1 - (1 - EPS)), -math.log(1 - EPS), math.log(2)]
        np.testing.assert_allclose(v, [expected], rtol=1e-14)
        g = grad("binary_crossentropy", y_true=y, y_pred=p)
        np.testing.assert_array_equal(g[0, :3], [0.0, 0.0, 0.0])
        assert g[0, 3] == pytest.approx(1 / 0.5, rel=1e-15)  # (1 - y) / (1 - p)

    def test_matches_keras_with_label_smoothing(self) -> None:
        y, p = [[0, 1, 1], [1, 0, 0]], [[0.1, 0.8, 1.0], [0.6, 0.0, 0.3]]
        keras = [0.43786163048969295, 0.5786811978924709]
        v = values("binary_crossentropy", {"label_smoothing": 0.1}, y_true=y, y_pred=p).mean(axis=-1)
        np.testing.assert_allclose(v, keras, rtol=1e-13)


class TestBinaryFocal(LossTests, TorchParity):
    cases = (
        Case("binary_focal", binary_logits, {}, torch_reference=torch_focal_logits),
        Case("binary_focal", binary_logits, {"gamma": 0.5, "alpha": None}, torch_reference=torch_focal_logits),
        Case(
            "binary_focal",
            binary_logits,
            {"gamma": 0.0, "alpha": 0.7, "label_smoothing": 0.1},
            torch_reference=torch_focal_logits,
        ),
        Case("binary_focal", binary_probabilities, {"from_logits": False}),
        Case("binary_focal", binary_probabilities, {"from_logits": False, "gamma": 1.5, "alpha": None}),
    )

    def test_matches_keras_on_probabilities(self) -> None:
        y, p = [[0, 1, 1], [1, 0, 0]], [[0.1, 0.8, 1.0], [0.6, 0.0, 0.3]]
        unbalanced = values("binary_focal", {"from_logits": False, "alpha": None}, y_true=y, y_pred=p).mean(axis=-1)
        np.testing.assert_allclose(unbalanced, [0.00332644906971555, 0.03794428158568149], rtol=1e-13)
        balanced = values(
            "binary_focal",
            {"from_logits": False, "alpha": 0.3, "gamma": 1.5, "label_smoothing": 0.2},
            y_true=y,
            y_pred=p,
        ).mean(axis=-1)
        np.testing.assert_allclose(balanced, [0.01667394010793015, 0.04747438137023673], rtol=1e-13)

    def test_saturated_logits_stay_finite_for_small_gamma(self) -> None:
        """PyTorch's autograd gives NaN here ((1 - p_t)^(gamma - 1) overflows); the log-space form does not."""
        x = [[1000.0, -1000.0, 1000.0, -1000.0, 40.0]]
        y = [[1.0, 0.0, 0.0, 1.0, 1.0]]
        for gamma in (0.0, 0.25, 0.5, 2.0):
            result = compute(
                CATALOG["binary_focal"],
                {"y_true": np.array(y), "y_pred": np.array(x)},
                {"gamma": gamma},
                reduction="none",
                return_grad=True,
            )
            assert result.grads is not None
            assert np.isfinite(result.loss).all() and np.isfinite(result.grads["y_pred"]).all()
            # Confidently right: loss 0 and gradient 0. Confidently wrong: alpha_t * 1000 and gradient ±alpha_t.
            np.testing.assert_allclose(result.loss[0, :2], [0.0, 0.0], atol=1e-300)
            np.testing.assert_allclose(result.loss[0, 2:4], [0.75 * 1000, 0.25 * 1000], rtol=1e-15)
            np.testing.assert_allclose(result.grads["y_pred"][0, 2:4], [0.75, -0.25], rtol=1e-12)


class TestHinge(LossTests, TorchParity):
    cases = (
        Case("hinge", signed_hinge, torch_reference=torch_hinge),
        Case("hinge", binary_hinge, torch_reference=torch_hinge),
    )

    def test_keras_label_mapping(self) -> None:
        p = [[0.3, -0.2], [1.5, 0.4]]
        # 0/1 labels are mapped to -1/1 (Keras: [1.25, 0.7] after its mean over the last axis)
        np.testing.assert_allclose(
            values("hinge", y_true=[[0, 1], [1, 0]], y_pred=p).mean(axis=-1), [1.25, 0.7], rtol=1e-15
        )
        np.testing.assert_allclose(
            values("hinge", y_true=[[-1, 1], [1, -1]], y_pred=p).mean(axis=-1), [1.25, 0.7], rtol=1e-15
        )
        # An all-ones tensor counts as binary (1 -> 1), as in Keras
        np.testing.assert_allclose(values("hinge", y_true=[[1, 1]], y_pred=[[0.5, 2.0]]), [[0.5, 0.0]])
        # Keras would leave a 0 among -1/1 labels as a 0 label; this service refuses the mix
        error = refused("hinge", y_true=[[0, 1], [1, -1]], y_pred=p)
        assert error.issues[0].location == ("y_true", 0, 0)

    def test_gradient_at_the_kink_is_torch_clamp_min(self, torch: Any) -> None:
        _kink_matches_torch(torch, "hinge", [[1.0, -1.0, 0.0, 0.0]])


class TestPerceptron(LossTests, TorchParity):
    cases = (Case("perceptron", signed_perceptron, torch_reference=torch_perceptron),)

    def test_by_hand(self) -> None:
        # max(0, -y f): y = 1, f = -2 -> 2; y = -1, f = -2 -> 0; 0/1 labels map to -1/1
        np.testing.assert_array_equal(values("perceptron", y_true=[[1.0, -1.0]], y_pred=[[-2.0, -2.0]]), [[2.0, 0.0]])
        np.testing.assert_array_equal(values("perceptron", y_true=[[1.0, 0.0]], y_pred=[[-2.0, 3.0]]), [[2.0, 3.0]])

    def test_gradient_at_the_kink_is_torch_clamp_min(self, torch: Any) -> None:
        _kink_matches_torch(torch, "perceptron", [[0.0, 0.0, 1.0, -1.0]])


class TestSquaredHinge(LossTests, TorchParity):
    cases = (
        Case("squared_hinge", signed_hinge, torch_reference=torch_squared_hinge),
        Case("squared_hinge", binary_hinge, torch_reference=torch_squared_hinge),
    )

    def test_matches_keras_values_and_gradient(self) -> None:
        f = [[0.3, -0.4, 1.7], [0.5, -2.0, 0.9]]
        # 0/1 labels are mapped to -1/1: y = [[-1, 1, 1], [1, -1, -1]]
        # (1 + 0.3)^2 = 1.69, (1 + (-0.4))... (1 - (-0.4))^2 = 1.96, 1 - 1.7 < 0 -> 0;
        # (1 - 0.5)^2 = 0.25, 1 - 2 < 0 -> 0, (1 + 0.9)^2 = 3.61
        keras = [[1.6900000000000002, 1.9599999999999997, 0.0], [0.25, 0.0, 3.61]]
        np.testing.assert_allclose(values("squared_hinge", y_true=[[0, 1, 1], [1, 0, 0]], y_pred=f), keras, rtol=1e-15)
        # Keras's own gradient (jax.grad through keras.losses.squared_hinge): -2 y max(1 - y f, 0)
        keras_grad = [[2.6, -2.8, 0.0], [-1.0, 0.0, 3.8]]
        np.testing.assert_allclose(grad("squared_hinge", y_true=[[0, 1, 1], [1, 0, 0]], y_pred=f), keras_grad)
        keras_signed = [[0.48999999999999994, 0.36, 0.0], [2.25, 9.0, 3.61]]
        signed = values("squared_hinge", y_true=[[1, -1, 1], [-1, 1, -1]], y_pred=f)
        np.testing.assert_allclose(signed, keras_signed, rtol=1e-15)
        # Keras's mean over the last axis (its float32 mean patched): [0.28333333333333327, 4.953333333333333]
        np.testing.assert_allclose(signed.mean(axis=-1), [0.28333333333333327, 4.953333333333333], rtol=1e-15)

    def test_kink_has_zero_gradient_and_labels_are_checked(self) -> None:
        # y f = 1: max(0, 0)^2 = 0 and its derivative -2 y * 0 = 0 whatever the convention
        g = grad("squared_hinge", y_true=[[1.0, -1.0]], y_pred=[[1.0, -1.0]])
        np.testing.assert_array_equal(g, [[0.0, 0.0]])
        error = refused("squared_hinge", y_true=[[0.0, 1.0], [1.0, -1.0]], y_pred=[[0.0, 0.0], [0.0, 0.0]])
        assert error.issues[0].location == ("y_true", 0, 0)  # a mix of 0 and -1
        refused("squared_hinge", y_true=[[0.5, 1.0]], y_pred=[[0.0, 0.0]])


class TestSoftMargin(LossTests, TorchParity):
    cases = (Case("soft_margin", signed_logits, torch_reference=torch_soft_margin),)

    def test_by_hand(self) -> None:
        # y = 1, x = 0: log(1 + e^0) = log 2; y = -1, x = 2: log(1 + e^2)
        v = values("soft_margin", y_true=[[1.0, -1.0]], y_pred=[[0.0, 2.0]])
        np.testing.assert_allclose(v, [[math.log(2), math.log1p(math.exp(2))]], rtol=1e-15)
        # dl/dx = -y sigmoid(-y x): -0.5 and sigmoid(2) = 1 / (1 + e^-2); mean divides by 2
        g = grad("soft_margin", reduction="mean", y_true=[[1.0, -1.0]], y_pred=[[0.0, 2.0]])
        np.testing.assert_allclose(g, [[-0.25, 0.5 / (1 + math.exp(-2))]], rtol=1e-15)

    def test_saturated_is_finite_where_torch_overflows(self, torch: Any) -> None:
        # -y x = 1000: softplus(1000) = 1000 (PyTorch's log1p(exp(1000)) = inf, gradient NaN);
        # -y x = -1000: log1p(e^-1000) = 0
        result = run("soft_margin", y_true=[[1.0, -1.0, 1.0]], y_pred=[[-1000.0, 1000.0, 1000.0]])
        assert result.grads is not None
        np.testing.assert_array_equal(result.loss, [[1000.0, 1000.0, 0.0]])
        np.testing.assert_array_equal(result.grads["y_pred"], [[-1.0, 1.0, 0.0]])
        # Where PyTorch is still finite (-y x = 700) the two agree
        matches_torch(
            torch,
            "soft_margin",
            lambda y_true, y_pred: torch.nn.functional.soft_margin_loss(y_pred, y_true, reduction="sum"),
            y_true=[[1.0, -1.0, 1.0]],
            y_pred=[[-700.0, 30.0, 1e-3]],
        )

    def test_labels_are_minus_one_or_one(self) -> None:
        error = refused("soft_margin", y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])
        assert error.issues[0].location == ("y_true", 0, 1)
        assert "{-1, 1}" in error.issues[0].detail


class TestMultilabelSoftMargin(LossTests, TorchParity):
    cases = (
        Case("multilabel_soft_margin", multilabel_logits, torch_reference=torch_multilabel_soft_margin),
        Case(
            "multilabel_soft_margin",
            multilabel_logits,
            {"class_weight": "per-class"},
            torch_reference=torch_multilabel_soft_margin,
        ),
    )

    def test_by_hand(self) -> None:
        # x = 0: every class costs log 2; the mean over C = 2 classes is log 2
        assert values("multilabel_soft_margin", y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])[0] == pytest.approx(
            math.log(2), rel=1e-15
        )
        # class weights [1, 3]: (1 log 2 + 3 log 2) / 2 = 2 log 2; dl/dx_c = w_c (sigmoid(x_c) - y_c) / C
        params = {"class_weight": [1.0, 3.0]}
        assert values("multilabel_soft_margin", params, y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])[0] == pytest.approx(
            2 * math.log(2), rel=1e-15
        )
        g = grad("multilabel_soft_margin", params, y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])
        np.testing.assert_allclose(g, [[(0.5 - 1) / 2, 3 * 0.5 / 2]], rtol=1e-15)
        # The mean over samples is plain, whatever the class weights (PyTorch): (2 log 2 + 0.5 log 2 ... ) / N
        two = values(
            "multilabel_soft_margin", params, "mean", y_true=[[1.0, 0.0], [0.0, 0.0]], y_pred=[[0.0, 0.0], [0.0, 0.0]]
        )
        # row 2: (1 log 2 + 3 log 2) / 2 = 2 log 2 too, so the mean is 2 log 2
        assert two == pytest.approx(2 * math.log(2), rel=1e-15)

    def test_saturated_logits(self) -> None:
        # right and certain: 0; wrong and certain: 1000 each; mean over 4 classes: 500
        y, x = [[1.0, 0.0, 1.0, 0.0]], [[1000.0, -1000.0, -1000.0, 1000.0]]
        result = run("multilabel_soft_margin", y_true=y, y_pred=x)
        assert result.grads is not None
        np.testing.assert_array_equal(result.loss, [500.0])
        np.testing.assert_array_equal(result.grads["y_pred"], [[0.0, 0.0, -0.25, 0.25]])

    def test_domain(self) -> None:
        error = refused("multilabel_soft_margin", y_true=[[1.0, -1.0]], y_pred=[[0.0, 0.0]])
        assert error.issues[0].location == ("y_true", 0, 1)
        refused("multilabel_soft_margin", y_true=[[1.0, 0.5]], y_pred=[[0.0, 0.0]])
        error = refused("multilabel_soft_margin", {"class_weight": [1.0]}, y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])
        assert error.issues[0].location == ("class_weight",)
        assert error.issues[0].argument == "param"


def _naive_multilabel_margin(y: np.ndarray, x: np.ndarray) -> float:
    """PyTorch's double loop, for one sample."""
    n = x.size
    listed = y[: int(np.argmax(y < 0))] if (y < 0).any() else y
    others = np.setdiff1d(np.arange(n), listed)
    z = 1 - x[listed][:, None] + x[others][None, :]
    return float(np.sum(np.maximum(z, 0)) / n)


class TestMultilabelMargin(LossTests, TorchParity):
    cases = (Case("multilabel_margin", multilabel_targets, torch_reference=torch_multilabel_margin),)

    def test_pytorch_documentation_example(self) -> None:
        # PyTorch's docs: x = [0.1, 0.2, 0.4, 0.8], targets 3 and 0 (then -1): 0.85.
        # Non-targets 1, 2. Target 3: (1 - 0.8 + 0.2) + (1 - 0.8 + 0.4) = 1.0; target 0:
        # (1 - 0.1 + 0.2) + (1 - 0.1 + 0.4) = 2.4; (1.0 + 2.4) / 4 = 0.85
        x = [[0.1, 0.2, 0.4, 0.8]]
        assert values("multilabel_margin", y_true=[[3, 0, -1, 1]], y_pred=x)[0] == pytest.approx(0.85, rel=1e-15)
        # every pair active: +2/4 on each non-target, -2/4 on each target
        np.testing.assert_allclose(
            grad("multilabel_margin", y_true=[[3, 0, -1, 1]], y_pred=x), [[-0.5, 0.5, 0.5, -0.5]]
        )
        # entries after the first -1 are ignored
        assert values("multilabel_margin", y_true=[[3, 0, -1, -1]], y_pred=x)[0] == pytest.approx(0.85, rel=1e-15)
        # a class listed twice counts twice: target 3 against 0, 1, 2: 0.3 + 0.4 + 0.6 = 1.3, twice: 2.6 / 4
        assert values("multilabel_margin", y_true=[[3, 3, -1, 1]], y_pred=x)[0] == pytest.approx(0.65, rel=1e-15)
        # no targets (a leading -1), or every class a target: nothing to compare, 0
        np.testing.assert_array_equal(
            values("multilabel_margin", y_true=[[-1, 2, 1, 0], [0, 1, 2, 3]], y_pred=x * 2), 0
        )
        # one class: the only class is the target or there is none
        np.testing.assert_array_equal(values("multilabel_margin", y_true=[[0], [-1]], y_pred=[[5.0], [5.0]]), [0, 0])

    def test_kink_follows_pytorch_kernel(self, torch: Any) -> None:
        """PyTorch's kernel counts a pair only where ``z = 1 - x_t + x_i > 0``: at ``z == 0`` the pair adds nothing."""
        # target 0 (x = 1): against class 1 z = 1 - 1 + 0 = 0 (the kink), against class 2 z = 0.5
        y, x = [[0, -1, 0]], [[1.0, 0.0, 0.5]]
        tensor = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        expected = torch.nn.functional.multilabel_margin_loss(tensor, torch.tensor(y), reduction="sum")
        expected.backward()
        ours = run("multilabel_margin", reduction="sum", y_true=y, y_pred=x)
        assert ours.grads is not None
        assert ours.loss == pytest.approx(expected.item(), rel=1e-15)
        assert ours.loss == pytest.approx(0.5 / 3, rel=1e-15)
        np.testing.assert_array_equal(ours.grads["y_pred"], tensor.grad.numpy())
        np.testing.assert_allclose(ours.grads["y_pred"], [[-1 / 3, 0.0, 1 / 3]])

    def test_ties_on_a_grid_match_pytorch(self, torch: Any) -> None:
        """Scores on a half-integer grid hit ``z == 0`` and equal scores often: values and gradients exactly
        PyTorch's."""
        rng = np.random.default_rng(5)
        for _ in range(200):
            n, c = int(rng.integers(1, 5)), int(rng.integers(1, 7))
            x = rng.integers(-3, 4, (n, c)) * 0.5
            y = rng.integers(-1, c, (n, c))
            tensor = torch.tensor(x, requires_grad=True)
            expected = torch.nn.functional.multilabel_margin_loss(tensor, torch.tensor(y), reduction="none")
            expected.sum().backward()
            ours = run("multilabel_margin", y_true=y, y_pred=x)
            assert ours.grads is not None
            np.testing.assert_allclose(ours.loss, expected.detach().numpy(), rtol=1e-15, atol=1e-15)
            np.testing.assert_allclose(ours.grads["y_pred"], tensor.grad.numpy(), rtol=1e-15, atol=0)  # k / C

    def test_many_classes_is_accurate_and_not_quadratic(self) -> None:
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
        assert result.grads is not None
        assert np.isfinite(result.loss) and result.loss > 0 and np.isfinite(result.grads["y_pred"]).all()

    def test_domain(self) -> None:
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
