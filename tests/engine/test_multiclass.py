"""The multiclass losses (``service/engine/losses/multiclass.py``), one test class per loss.

PyTorch is the reference of the cross-entropies on logits, ``nll`` and ``multi_margin``; Keras of
the probability forms, ``categorical_focal``, ``categorical_hinge`` and
``generalized_crossentropy``; optax of ``poly1_crossentropy``. Where the reference is not
PyTorch the ``torch_reference`` is the reference's formula written with torch ops: it pins values
and, through autograd, the gradients at 1e-9; the reference libraries' own numbers are golden
values below.

Golden values were produced in a scratch venv with Keras 3.15.1 on the JAX 0.10.2 backend
(``KERAS_BACKEND=jax``, ``JAX_ENABLE_X64=1``, ``keras.config.set_floatx("float64")``) and optax
0.2.8. For the cross-entropies and focal losses Keras's float32 ``ops.mean`` was patched to a
float64 ``jnp.mean`` (Keras reduces ``mean(axis=-1)`` in float32 even under float64); the others
reduce with ``ops.sum``/``ops.max``, so their numbers are float64-exact. Gradients marked "JAX"
are ``jax.grad`` of the same calls.

``categorical_crossentropy`` with ``class_weight`` and ``categorical_focal`` with a per-class ``alpha``
are also checked live against Keras 3 on JAX in float64 (``JaxParity``, values and ``jax.grad``):
``categorical_crossentropy`` on the weighted targets ``w * y`` for the probability form, and
``categorical_focal_crossentropy`` with the list ``alpha``; on logits, ``class_weight`` is PyTorch's
``weight``.

``sparse_categorical_crossentropy`` and ``nll`` with ``class_weight`` or ``ignore_index`` take
PyTorch's weighted mean (``WEIGHTED_MEAN_LOSSES``); ``multi_margin`` with ``class_weight`` keeps a
plain mean (divided by the count whatever the weights, as ``multi_margin_loss`` does).
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute
from tests.support.engine import (
    Case,
    Inputs,
    LossTests,
    Maker,
    TorchParity,
    binary_logits,
    central_difference,
    distribution,
    grad,
    index_logits,
    index_probabilities,
    one_hot_logits,
    probabilities,
    redraw_until,
    refused,
    torch_reduce,
    total,
    values,
)
from tests.support.jax_reference import JaxParity
from tests.support.references import load

T = dict[str, Any]
EPS = 1e-7
RTOL = 1e-13


# Input makers.


def class_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": distribution(rng, shape), "y_pred": rng.normal(0, 2, shape)}


def class_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    # Unnormalised rows: Keras renormalises, and the gradient must follow that.
    return {"y_true": distribution(rng, shape), "y_pred": rng.uniform(0.05, 0.6, shape)}


def index_probabilities_as_given(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Class indices and probabilities in [0.05, 0.95], rows not normalised (Keras uses them as given)."""
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": probabilities(rng, shape)}


def index_log_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": np.log(distribution(rng, shape))}


def _hinge_ok(inputs: Inputs) -> np.ndarray:
    """Away from the outer kink (|m| >= 0.05) and from ties in the max over classes (gap >= 0.01)."""
    y, f = inputs["y_true"], inputs["y_pred"]
    scaled = np.sort((1 - y) * f, axis=-1)
    m = scaled[..., -1] - np.sum(y * f, axis=-1) + 1
    gap = scaled[..., -1] - scaled[..., -2] if f.shape[-1] > 1 else np.ones(m.shape)
    return (np.abs(m) >= 0.05) & (gap >= 0.01)


def hinge_one_hot(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    def draw() -> Inputs:
        return {
            "y_true": np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])],
            "y_pred": rng.normal(0, 1.5, shape),
        }

    return redraw_until(draw, _hinge_ok)


def hinge_soft(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return redraw_until(lambda: {"y_true": distribution(rng, shape), "y_pred": rng.normal(0, 1.5, shape)}, _hinge_ok)


def margin_scores(margin: float) -> Maker:
    """Class indices and scores with every ``z_c = margin - x_t + x_c`` (c != t) at least 0.1 from 0."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        target = rng.integers(0, shape[-1], shape[:-1])
        x_t = rng.normal(0, 1, (*shape[:-1], 1))
        z = rng.uniform(0.1, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        x = x_t - margin + z
        np.put_along_axis(x, target[..., None], x_t, axis=-1)
        return {"y_true": target, "y_pred": x}

    return make


# PyTorch references.


def _classes_second(x: Any) -> Any:
    """PyTorch puts the class axis second: (N, C, d1, ...)."""
    return x.movedim(-1, 1) if x.dim() > 2 else x


def _weight(torch: Any, p: T) -> Any:
    weight = p.get("class_weight")
    return None if weight is None else torch.as_tensor(weight, dtype=torch.float64)


def torch_cross_entropy_probabilities(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.cross_entropy(
        _classes_second(t["y_pred"]),
        _classes_second(t["y_true"]),
        weight=_weight(torch, p),
        label_smoothing=p.get("label_smoothing", 0.0),
        reduction=reduction,
    )


def torch_cross_entropy_indices(torch: Any, t: T, p: T, reduction: str) -> Any:
    ignore_index = p.get("ignore_index")
    return torch.nn.functional.cross_entropy(
        _classes_second(t["y_pred"]),
        t["y_true"].long(),
        weight=_weight(torch, p),
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=p.get("label_smoothing", 0.0),
        reduction=reduction,
    )


def torch_nll(torch: Any, t: T, p: T, reduction: str) -> Any:
    ignore_index = p.get("ignore_index")
    return torch.nn.functional.nll_loss(
        _classes_second(t["y_pred"]),
        t["y_true"].long(),
        weight=_weight(torch, p),
        ignore_index=-100 if ignore_index is None else ignore_index,
        reduction=reduction,
    )


def torch_categorical_hinge(torch: Any, t: T, p: T, reduction: str) -> Any:
    """Keras's formula with ``amax`` (ties split evenly) and ``clamp_min`` (passes at 0)."""
    y, f = t["y_true"], t["y_pred"]
    neg = torch.amax((1 - y) * f, dim=-1)
    pos = torch.sum(y * f, dim=-1)
    return torch_reduce(torch, torch.clamp_min(neg - pos + 1, 0), reduction)


def torch_multi_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    """PyTorch takes (N, C) only: (N, ..., C) goes through the flattened (-1, C) scores."""
    x = t["y_pred"]
    loss = torch.nn.functional.multi_margin_loss(
        x.reshape(-1, x.shape[-1]),
        t["y_true"].long().reshape(-1),
        p=p.get("p", 1),
        margin=p.get("margin", 1.0),
        weight=_weight(torch, p),
        reduction=reduction,
    )
    return loss.reshape(x.shape[:-1]) if reduction == "none" else loss


def torch_poly1(torch: Any, t: T, p: T, reduction: str) -> Any:
    """optax's formula: cross-entropy with probability targets + epsilon sum(y (1 - softmax))."""
    y, x = t["y_true"], t["y_pred"]
    ce = -torch.sum(y * torch.log_softmax(x, dim=-1), dim=-1)
    return torch_reduce(
        torch, ce + p.get("epsilon", 2.0) * torch.sum(y * (1 - torch.softmax(x, dim=-1)), dim=-1), reduction
    )


def torch_generalized_ce(torch: Any, t: T, p: T, reduction: str) -> Any:
    """Keras's formula: ``(1 - p_t^q) / q`` with ``p_t`` gathered at the target."""
    q = p.get("q", 0.5)
    p_t = torch.gather(t["y_pred"], -1, t["y_true"].long().unsqueeze(-1)).squeeze(-1)
    return torch_reduce(torch, (1 - p_t**q) / q, reduction)


# Keras references on JAX, for JaxParity: (jax, arrays as jnp, params) -> the unreduced values.


def keras_categorical_focal(jax: Any, a: dict[str, Any], p: dict[str, Any]) -> Any:
    keras = load("keras")
    keras.config.set_floatx("float64")
    return keras.losses.categorical_focal_crossentropy(
        a["y_true"],
        a["y_pred"],
        alpha=p.get("alpha", 0.25),
        gamma=p.get("gamma", 2.0),
        from_logits=p.get("from_logits", False),
        label_smoothing=p.get("label_smoothing", 0.0),
    )


def keras_weighted_cce(jax: Any, a: dict[str, Any], p: dict[str, Any]) -> Any:
    """Keras's categorical_crossentropy on the smoothed targets times the class weights (API.md: each class
    term times its weight)."""
    keras = load("keras")
    keras.config.set_floatx("float64")
    y = a["y_true"]
    ls = p.get("label_smoothing", 0.0)
    y = y * (1 - ls) + ls / y.shape[-1]
    if p.get("class_weight") is not None:
        y = y * jax.numpy.asarray(p["class_weight"])
    return keras.losses.categorical_crossentropy(y, a["y_pred"], from_logits=False)


#: ``class_weight`` on probabilities: Keras's formula, checked against Keras on JAX.
CCE_CLASS_WEIGHT_PROBABILITY_CASES = (
    Case("categorical_crossentropy", class_probabilities, {"class_weight": "per-class"}),
    Case("categorical_crossentropy", class_probabilities, {"class_weight": "per-class", "label_smoothing": 0.1}),
)


class TestCategoricalCrossentropy(LossTests, TorchParity, JaxParity):
    cases = (
        Case(
            "categorical_crossentropy",
            class_logits,
            {"from_logits": True},
            torch_reference=torch_cross_entropy_probabilities,
        ),
        Case(
            "categorical_crossentropy",
            one_hot_logits,
            {"from_logits": True, "label_smoothing": 0.1},
            torch_reference=torch_cross_entropy_probabilities,
        ),
        Case("categorical_crossentropy", class_probabilities, {}),
        Case("categorical_crossentropy", class_probabilities, {"label_smoothing": 0.2}),
        Case(
            "categorical_crossentropy",
            class_logits,
            {"from_logits": True, "class_weight": "per-class"},
            torch_reference=torch_cross_entropy_probabilities,
        ),
        Case(
            "categorical_crossentropy",
            class_logits,
            {"from_logits": True, "class_weight": "per-class", "label_smoothing": 0.15},
            torch_reference=torch_cross_entropy_probabilities,
        ),
        *CCE_CLASS_WEIGHT_PROBABILITY_CASES,
    )
    jax_cases = tuple((case, keras_weighted_cce) for case in CCE_CLASS_WEIGHT_PROBABILITY_CASES)

    def test_logits_by_hand(self) -> None:
        # logits [0, 0]: softmax 1/2 each, loss log 2; gradient softmax - y = [0.5, -0.5]
        assert values(
            "categorical_crossentropy", {"from_logits": True}, y_true=[[0.0, 1.0]], y_pred=[[0.0, 0.0]]
        ) == pytest.approx(math.log(2), rel=1e-15)
        np.testing.assert_allclose(
            grad("categorical_crossentropy", {"from_logits": True}, y_true=[[0.0, 1.0]], y_pred=[[0.0, 0.0]]),
            [[0.5, -0.5]],
        )

    def test_matches_keras_which_renormalises_then_clips(self) -> None:
        y, p = [[0, 1, 0], [0, 0, 1]], [[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]  # rows do not sum to 1
        np.testing.assert_allclose(
            values("categorical_crossentropy", y_true=y, y_pred=p),
            [0.4700036292457356, 0.5108256237659907],
            rtol=1e-14,
        )
        smoothed = values("categorical_crossentropy", {"label_smoothing": 0.2}, y_true=y, y_pred=p)
        np.testing.assert_allclose(smoothed, [0.6383855388662859, 0.6573072622550721], rtol=1e-14)
        # A zero probability on the target class is clipped: -log(1e-7)
        assert values("categorical_crossentropy", y_true=[[1.0, 0.0]], y_pred=[[0.0, 1.0]])[0] == pytest.approx(
            -math.log(EPS), rel=1e-12
        )

    def test_class_weight_by_hand(self) -> None:
        # targets [0.5, 0.5], probabilities [0.25, 0.75], weights [2, 4]: l = -(2 * 0.5 log 0.25 + 4 * 0.5 log 0.75)
        v = values("categorical_crossentropy", {"class_weight": [2.0, 4.0]}, y_true=[[0.5, 0.5]], y_pred=[[0.25, 0.75]])
        assert v[0] == pytest.approx(-(math.log(0.25) + 2 * math.log(0.75)), rel=1e-15)
        # mean divides by the number of samples, not by the weights (PyTorch, probability targets)
        y, x = [[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]
        params = {"class_weight": [2.0, 4.0], "from_logits": True}
        assert values("categorical_crossentropy", params, "mean", y_true=y, y_pred=x) == pytest.approx(3 * math.log(2))
        # logits gradient q sum(w y) - w y: row 0: [0.5 * 2 - 2, 0.5 * 2] / 2 (the mean)
        np.testing.assert_allclose(
            grad("categorical_crossentropy", params, "mean", y_true=y, y_pred=x), [[-0.5, 0.5], [1.0, -1.0]]
        )

    def test_class_weight_of_ones_is_unweighted(self) -> None:
        y, p = [[0.2, 0.8]], [[0.3, 0.6]]
        ones = values("categorical_crossentropy", {"class_weight": [1.0, 1.0]}, y_true=y, y_pred=p)
        np.testing.assert_array_equal(ones, values("categorical_crossentropy", y_true=y, y_pred=p))

    def test_refuses_a_weight_per_wrong_number_of_classes(self) -> None:
        error = refused("categorical_crossentropy", {"class_weight": [1.0]}, y_true=[[0.5, 0.5]], y_pred=[[0.5, 0.5]])
        assert error.issues[0].location == ("class_weight",) and error.issues[0].argument == "param"


class TestSparseCategoricalCrossentropy(LossTests, TorchParity):
    cases = (
        Case(
            "sparse_categorical_crossentropy",
            index_logits,
            {"from_logits": True},
            torch_reference=torch_cross_entropy_indices,
        ),
        Case(
            "sparse_categorical_crossentropy",
            index_logits,
            {"from_logits": True, "label_smoothing": 0.15},
            torch_reference=torch_cross_entropy_indices,
        ),
        Case(
            "sparse_categorical_crossentropy",
            index_logits,
            {"from_logits": True, "class_weight": "per-class"},
            torch_reference=torch_cross_entropy_indices,
        ),
        Case(
            "sparse_categorical_crossentropy",
            index_logits,
            {"from_logits": True, "ignore_index": 1},
            torch_reference=torch_cross_entropy_indices,
        ),
        Case(
            "sparse_categorical_crossentropy",
            index_logits,
            {"from_logits": True, "class_weight": "per-class", "ignore_index": 0, "label_smoothing": 0.1},
            torch_reference=torch_cross_entropy_indices,
        ),
        Case("sparse_categorical_crossentropy", index_probabilities, {}),
        Case(
            "sparse_categorical_crossentropy",
            index_probabilities,
            {"class_weight": "per-class", "label_smoothing": 0.1},
        ),
    )

    def test_weighted_mean_by_hand(self) -> None:
        # logits [0, 0, 0] -> every class log 3. Targets [0, 2, 1] with weights [1, 2, 4], ignore 1:
        # sum = 1 log 3 + 4 log 3 = 5 log 3, divided by the kept weights 1 + 4 = 5 -> log 3.
        params = {"from_logits": True, "class_weight": [1.0, 2.0, 4.0], "ignore_index": 1}
        logits = [[0.0, 0.0, 0.0]] * 3
        assert values(
            "sparse_categorical_crossentropy", params, "mean", y_true=[0, 2, 1], y_pred=logits
        ) == pytest.approx(math.log(3), rel=1e-15)
        np.testing.assert_allclose(
            values("sparse_categorical_crossentropy", params, "none", y_true=[0, 2, 1], y_pred=logits),
            [math.log(3), 4 * math.log(3), 0],
        )

    def test_class_indices_may_be_integral_floats_but_not_fractions(self) -> None:
        logits = [[0.0, 0.0]]
        assert values(
            "sparse_categorical_crossentropy", {"from_logits": True}, "sum", y_true=[1.0], y_pred=logits
        ) == pytest.approx(math.log(2))
        with pytest.raises(InvalidInput, match="integer"):
            values("sparse_categorical_crossentropy", {"from_logits": True}, y_true=[0.5], y_pred=logits)
        with pytest.raises(InvalidInput, match="class index"):
            values("sparse_categorical_crossentropy", {"from_logits": True}, y_true=[2], y_pred=logits)

    def test_matches_keras(self) -> None:
        p = [[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]
        np.testing.assert_allclose(
            values("sparse_categorical_crossentropy", y_true=[1, 2], y_pred=p),
            [0.4700036292457356, 0.5108256237659907],
            rtol=1e-14,
        )

    def test_all_targets_ignored_is_nan_in_torch_and_a_non_finite_result_here(self, torch: Any) -> None:
        logits = np.array([[0.1, 0.2], [0.3, -0.1]])
        targets = np.array([1, 1])
        expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(targets), ignore_index=1)
        assert torch.isnan(expected)
        spec = CATALOG["sparse_categorical_crossentropy"]
        with pytest.raises(InvalidInput, match="not finite"):
            compute(spec, {"y_true": targets, "y_pred": logits}, {"from_logits": True, "ignore_index": 1})
        summed = compute(
            spec, {"y_true": targets, "y_pred": logits}, {"from_logits": True, "ignore_index": 1}, reduction="sum"
        )
        assert summed.loss == 0.0


#: A per-class ``alpha``, checked against Keras on JAX.
FOCAL_PER_CLASS_ALPHA_CASES = (
    Case("categorical_focal", class_probabilities, {"alpha": "per-class"}),
    Case("categorical_focal", class_probabilities, {"alpha": "per-class", "gamma": 0.5, "label_smoothing": 0.1}),
    Case("categorical_focal", class_logits, {"alpha": "per-class", "from_logits": True}),
)


class TestCategoricalFocal(LossTests, JaxParity):
    cases = (
        Case("categorical_focal", class_probabilities, {}),
        Case("categorical_focal", class_probabilities, {"gamma": 0.5, "alpha": 1.0, "label_smoothing": 0.1}),
        Case("categorical_focal", class_logits, {"from_logits": True}),
        *FOCAL_PER_CLASS_ALPHA_CASES,
    )
    jax_cases = tuple((case, keras_categorical_focal) for case in FOCAL_PER_CLASS_ALPHA_CASES)

    def test_matches_keras(self) -> None:
        y, p = [[0, 1, 0], [0, 0, 1]], [[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]
        np.testing.assert_allclose(
            values("categorical_focal", y_true=y, y_pred=p), [0.01652356509067039, 0.02043302495063963], rtol=1e-13
        )
        tuned = values("categorical_focal", {"alpha": 0.4, "gamma": 3.0, "label_smoothing": 0.1}, y_true=y, y_pred=p)
        np.testing.assert_allclose(tuned, [0.03562528058614209, 0.03417951920161567], rtol=1e-13)
        # Worked by hand: one-hot on class 0, p = [0.5, 0.5]: -0.25 * (1 - 0.5)^2 * log 0.5
        by_hand = 0.25 * 0.25 * math.log(2)
        assert values("categorical_focal", y_true=[[1.0, 0.0]], y_pred=[[0.5, 0.5]])[0] == pytest.approx(
            by_hand, rel=1e-15
        )

    def test_per_class_alpha_by_hand(self) -> None:
        # one-hot target 1, p / sum(p) = [0.2, 0.8], alpha [0.1, 3]: l = 3 (0.2)^2 (-log 0.8)
        v = values("categorical_focal", {"alpha": [0.1, 3.0]}, y_true=[[0.0, 1.0]], y_pred=[[0.1, 0.4]])
        assert v[0] == pytest.approx(3 * 0.04 * -math.log(0.8), rel=1e-14)
        # the same alpha for every class, as a list, is the number
        y, p = [[0.3, 0.7]], [[0.4, 0.5]]
        listed = values("categorical_focal", {"alpha": [0.25, 0.25]}, y_true=y, y_pred=p)
        np.testing.assert_allclose(listed, values("categorical_focal", y_true=y, y_pred=p), rtol=1e-15)

    def test_refuses_a_wrong_per_class_alpha(self) -> None:
        y, p = [[0.0, 1.0]], [[0.5, 0.5]]
        assert refused("categorical_focal", {"alpha": [0.5, 0.5, 0.5]}, y_true=y, y_pred=p).issues[0].location == (
            "alpha",
        )
        assert refused("categorical_focal", {"alpha": [0.5, -0.1]}, y_true=y, y_pred=p).issues[0].location == ("alpha",)


class TestNll(LossTests, TorchParity):
    cases = (
        Case("nll", index_log_probabilities, {}, torch_reference=torch_nll),
        Case("nll", index_log_probabilities, {"class_weight": "per-class"}, torch_reference=torch_nll),
        Case("nll", index_log_probabilities, {"ignore_index": 1}, torch_reference=torch_nll),
        Case("nll", index_log_probabilities, {"ignore_index": -100}, torch_reference=torch_nll),
        Case(
            "nll",
            index_log_probabilities,
            {"class_weight": "per-class", "ignore_index": 0},
            torch_reference=torch_nll,
        ),
    )

    def test_by_hand(self) -> None:
        # log-probabilities of [0.2, 0.3, 0.5] and [0.6, 0.4, 0.0...]: l = -y_pred[t]
        lp = [[math.log(0.2), math.log(0.3), math.log(0.5)], [math.log(0.6), math.log(0.1), math.log(0.3)]]
        np.testing.assert_allclose(
            values("nll", y_true=[2, 0], y_pred=lp), [-math.log(0.5), -math.log(0.6)], rtol=1e-15
        )
        # mean over 2 samples: gradient -1/2 on each target
        np.testing.assert_array_equal(
            grad("nll", reduction="mean", y_true=[2, 0], y_pred=lp), [[0, 0, -0.5], [-0.5, 0, 0]]
        )

    def test_weighted_mean_by_hand(self) -> None:
        # targets [2, 0, 1], weights [1, 2, 4], ignore 1: none = [-4 x_2, -1 x_0, 0]
        # y_pred = -1 everywhere: none = [4, 1, 0], sum 5, mean 5 / (4 + 1) = 1
        params = {"class_weight": [1.0, 2.0, 4.0], "ignore_index": 1}
        lp = [[-1.0, -1.0, -1.0]] * 3
        np.testing.assert_array_equal(values("nll", params, y_true=[2, 0, 1], y_pred=lp), [4.0, 1.0, 0.0])
        assert values("nll", params, "mean", y_true=[2, 0, 1], y_pred=lp) == 1.0
        # d mean / d y_pred = -w_t / 5 on kept targets
        np.testing.assert_allclose(
            grad("nll", params, "mean", y_true=[2, 0, 1], y_pred=lp),
            [[0.0, 0.0, -0.8], [-0.2, 0.0, 0.0], [0.0, 0.0, 0.0]],
            rtol=1e-15,
        )
        # class weights alone: denominator 4 + 1 + 2 = 7
        assert values("nll", {"class_weight": [1.0, 2.0, 4.0]}, "mean", y_true=[2, 0, 1], y_pred=lp) == pytest.approx(
            1.0
        )

    def test_is_sparse_crossentropy_on_log_softmax(self) -> None:
        """The shared NLL core: nll(log_softmax(x)) = sparse_categorical_crossentropy(x, from_logits)."""
        rng = np.random.default_rng(3)
        x = rng.normal(0, 2, (4, 3, 5))
        t = rng.integers(0, 5, (4, 3))
        t[0, 0] = 2
        log_q = x - np.max(x, axis=-1, keepdims=True)
        log_q = log_q - np.log(np.sum(np.exp(log_q), axis=-1, keepdims=True))
        for params in ({}, {"class_weight": [0.5, 1.0, 2.0, 1.5, 0.7], "ignore_index": 2}, {"ignore_index": -100}):
            for reduction in ("none", "sum", "mean"):
                ours = values("nll", params, reduction, y_true=t, y_pred=log_q)
                sparse = values(
                    "sparse_categorical_crossentropy", {**params, "from_logits": True}, reduction, y_true=t, y_pred=x
                )
                np.testing.assert_allclose(ours, sparse, rtol=1e-13)

    def test_takes_any_finite_score_as_torch(self) -> None:
        # PyTorch does not check that y_pred are log-probabilities: nll_loss([[5, 2]], [0]) = -5
        assert values("nll", y_true=[0], y_pred=[[5.0, 2.0]])[0] == -5.0
        assert values("nll", y_true=[1], y_pred=[[1000.0, -1000.0]])[0] == 1000.0

    def test_all_targets_ignored(self) -> None:
        # mean: 0/0 (NaN in PyTorch) -> a non-finite result; sum: 0
        with pytest.raises(InvalidInput, match="not finite"):
            values("nll", {"ignore_index": 1}, "mean", y_true=[1, 1], y_pred=[[-1.0, -2.0]] * 2)
        assert values("nll", {"ignore_index": 1}, "sum", y_true=[1, 1], y_pred=[[-1.0, -2.0]] * 2) == 0.0

    def test_domain(self) -> None:
        error = refused("nll", y_true=[0, 3], y_pred=[[-1.0, -2.0, -3.0]] * 2)
        assert error.issues[0].location == ("y_true", 1)
        error = refused("nll", {"class_weight": [1.0, 2.0]}, y_true=[0], y_pred=[[-1.0, -2.0, -3.0]])
        assert error.issues[0].location == ("class_weight",)
        assert error.issues[0].argument == "param"


class TestCategoricalHinge(LossTests, TorchParity):
    cases = (
        Case("categorical_hinge", hinge_one_hot, torch_reference=torch_categorical_hinge),
        Case("categorical_hinge", hinge_soft, torch_reference=torch_categorical_hinge),
    )

    def test_matches_keras(self) -> None:
        y = [[0, 1, 0], [1, 0, 0], [0.2, 0.5, 0.3], [0, 0, 1]]
        f = [[0.5, 0.2, -1.0], [0.5, -3.0, -2.0], [1.5, -0.7, 0.9], [-0.3, -1.2, -2.5]]
        # keras.losses.categorical_hinge(y, f); gradient: JAX
        np.testing.assert_allclose(values("categorical_hinge", y_true=y, y_pred=f), [1.3, 0.5, 1.98, 3.5], rtol=RTOL)
        np.testing.assert_allclose(
            grad("categorical_hinge", y_true=y, y_pred=f),
            [[1.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.6000000000000001, -0.5, -0.3], [0.0, 0.0, -1.0]],
            rtol=RTOL,
        )

    def test_by_hand(self) -> None:
        # y = [0, 1, 0], f = [0.5, 0.2, -1]: pos = 0.2, neg = max(0.5, 0 (the target's own (1-1) f), -1) = 0.5,
        # l = 0.5 - 0.2 + 1 = 1.3; gradient d neg - y = [1, 0, 0] - [0, 1, 0]
        assert values("categorical_hinge", y_true=[[0, 1, 0]], y_pred=[[0.5, 0.2, -1.0]])[0] == pytest.approx(1.3)
        np.testing.assert_array_equal(
            grad("categorical_hinge", y_true=[[0, 1, 0]], y_pred=[[0.5, 0.2, -1.0]]), [[1, -1, 0]]
        )
        # Keras's max includes the target's zero: f = [0.5, -3, -2] on class 0 gives neg = 0, not -2:
        # l = 0 - 0.5 + 1 = 0.5, and no gradient reaches the other classes
        assert values("categorical_hinge", y_true=[[1, 0, 0]], y_pred=[[0.5, -3.0, -2.0]])[0] == 0.5
        # Separated by more than 1: 0, gradient 0
        assert values("categorical_hinge", y_true=[[1, 0]], y_pred=[[2.5, 1.0]])[0] == 0.0
        np.testing.assert_array_equal(grad("categorical_hinge", y_true=[[1, 0]], y_pred=[[2.5, 1.0]]), [[0, 0]])

    def test_ties_and_kink(self) -> None:
        # A tie in the max over classes: f = [0.3, 0.3, 0] on class 2, neg = 0.3 shared: [0.5, 0.5, -1]
        # (PyTorch amax and JAX max under Keras both split evenly; JAX gives the same)
        y, f = [[0, 0, 1.0]], [[0.3, 0.3, 0.0]]
        assert values("categorical_hinge", y_true=y, y_pred=f)[0] == pytest.approx(1.3)
        np.testing.assert_array_equal(grad("categorical_hinge", y_true=y, y_pred=f), [[0.5, 0.5, -1.0]])
        # At the kink m = neg - pos + 1 = 0.5 - 1.5 + 1 = 0: PyTorch's clamp_min passes the gradient,
        # [1, -1, 0]; Keras on JAX (jnp.maximum) would pass half, [0.5, -0.5, 0]
        y, f = [[0, 1.0, 0]], [[0.5, 1.5, 0.2]]
        assert values("categorical_hinge", y_true=y, y_pred=f)[0] == 0.0
        np.testing.assert_array_equal(grad("categorical_hinge", y_true=y, y_pred=f), [[1.0, -1.0, 0.0]])

    def test_saturated_and_domain(self) -> None:
        v = values("categorical_hinge", y_true=[[1, 0], [0, 1]], y_pred=[[-1000.0, 1000.0], [-1000.0, 1000.0]])
        np.testing.assert_array_equal(v, [2001.0, 0.0])
        error = refused("categorical_hinge", y_true=[[-1.0, 1.0]], y_pred=[[0.0, 1.0]])  # Keras's -1/1 form: refused
        assert error.issues[0].location == ("y_true", 0, 0)


class TestMultiMargin(LossTests, TorchParity):
    cases = (
        Case("multi_margin", margin_scores(1.0), {}, max_rank=2, torch_reference=torch_multi_margin),
        Case("multi_margin", margin_scores(1.0), {"p": 2}, max_rank=2, torch_reference=torch_multi_margin),
        Case("multi_margin", margin_scores(0.5), {"margin": 0.5}, max_rank=2, torch_reference=torch_multi_margin),
        Case(
            "multi_margin", margin_scores(2.0), {"p": 2, "margin": 2.0}, max_rank=2, torch_reference=torch_multi_margin
        ),
        Case(
            "multi_margin",
            margin_scores(1.0),
            {"class_weight": "per-class"},
            max_rank=2,
            torch_reference=torch_multi_margin,
        ),
        Case(
            "multi_margin",
            margin_scores(0.5),
            {"p": 2, "margin": 0.5, "class_weight": "per-class"},
            max_rank=2,
            torch_reference=torch_multi_margin,
        ),
        # (N, ..., C): the per-sample formula at every position, against PyTorch on (-1, C).
        Case(
            "multi_margin",
            margin_scores(1.0),
            {"margin": 1.0},
            min_rank=3,
            max_rank=3,
            torch_reference=torch_multi_margin,
        ),
        Case(
            "multi_margin",
            margin_scores(0.3),
            {"p": 2, "margin": 0.3},
            min_rank=3,
            max_rank=3,
            torch_reference=torch_multi_margin,
        ),
    )

    def test_by_hand(self) -> None:
        # x = [0.1, 0.2, 0.4, 0.8], t = 3: z = 1 - 0.8 + [0.1, 0.2, 0.4] = [0.3, 0.4, 0.6] -> 1.3 / 4 = 0.325
        # p = 2: (0.09 + 0.16 + 0.36) / 4 = 0.1525; with w_3 = 1.5: 0.4875 and 0.22875 (as torch)
        x = [[0.1, 0.2, 0.4, 0.8]]
        assert values("multi_margin", y_true=[3], y_pred=x)[0] == pytest.approx(0.325, rel=1e-15)
        assert values("multi_margin", {"p": 2}, y_true=[3], y_pred=x)[0] == pytest.approx(0.1525, rel=1e-15)
        w = [0.5, 1.0, 2.0, 1.5]
        assert values("multi_margin", {"class_weight": w}, y_true=[3], y_pred=x)[0] == pytest.approx(0.4875, rel=1e-15)
        assert values("multi_margin", {"p": 2, "class_weight": w}, y_true=[3], y_pred=x)[0] == pytest.approx(0.22875)
        # p = 1: each active class +1/4, the target -3/4; p = 2: 2 z / 4 = [0.15, 0.2, 0.3], target -0.65
        np.testing.assert_allclose(grad("multi_margin", y_true=[3], y_pred=x), [[0.25, 0.25, 0.25, -0.75]], rtol=1e-15)
        np.testing.assert_allclose(grad("multi_margin", {"p": 2}, y_true=[3], y_pred=x), [[0.15, 0.2, 0.3, -0.65]])
        # margin 0.5: z = [-0.2, -0.1, 0.1]: only class 2 counts, 0.1 / 4
        assert values("multi_margin", {"margin": 0.5}, y_true=[3], y_pred=x)[0] == pytest.approx(0.025)

    def test_kink_gives_zero_as_torch(self) -> None:
        # z = 1 - 1 + 0 = 0 exactly for class 0: torch's kernel tests z > 0, so no loss and no gradient
        for p in (1, 2):
            assert values("multi_margin", {"p": p}, y_true=[1], y_pred=[[0.0, 1.0, -5.0]])[0] == 0.0
            np.testing.assert_array_equal(
                grad("multi_margin", {"p": p}, y_true=[1], y_pred=[[0.0, 1.0, -5.0]]), [[0, 0, 0]]
            )

    def test_mean_ignores_the_class_weights(self) -> None:
        # torch: mean = sum / N even with weights (unlike nll): [0.4875, 0.0375] -> 0.2625
        x = [[0.1, 0.2, 0.4, 0.8], [1.0, -0.5, 0.3, 0.0]]
        w = [0.5, 1.0, 2.0, 1.5]
        assert values("multi_margin", {"class_weight": w}, "mean", y_true=[3, 0], y_pred=x) == pytest.approx(
            0.26249999999999996, rel=1e-15
        )

    def test_extra_axes_are_per_sample(self) -> None:
        rng = np.random.default_rng(1)
        x = rng.normal(size=(2, 3, 4))
        t = rng.integers(0, 4, (2, 3))
        flat = values("multi_margin", {"p": 2}, y_true=t.reshape(-1), y_pred=x.reshape(-1, 4))
        np.testing.assert_array_equal(values("multi_margin", {"p": 2}, y_true=t, y_pred=x), flat.reshape(2, 3))

    def test_saturated_and_single_class(self) -> None:
        v = values("multi_margin", y_true=[0, 1], y_pred=[[1000.0, -1000.0], [1000.0, -1000.0]])
        np.testing.assert_array_equal(v, [0.0, 2001.0 / 2])
        assert values("multi_margin", y_true=[0], y_pred=[[3.0]])[0] == 0.0  # C = 1: no other class

    @pytest.mark.parametrize("shape", [(5, 4), (3, 2, 4)])
    @pytest.mark.parametrize("params", [{"p": 1}, {"p": 2, "margin": 0.7}])
    def test_class_weight_matches_torch(self, torch: Any, params: dict, shape: tuple[int, ...]) -> None:
        """multi_margin with class_weight, against PyTorch (values, autograd, sample weights) and central
        differences, on shapes and weights of its own (the cases above draw their own)."""
        seed = zlib.crc32(f"{params}{shape}".encode())
        rng = np.random.default_rng(seed)
        inputs = margin_scores(params.get("margin", 1.0))(rng, shape)
        params = {**params, "class_weight": rng.uniform(0.5, 2.0, shape[-1]).tolist()}
        spec = CATALOG["multi_margin"]
        sample_weight = rng.uniform(0.2, 2.0, shape[:1])
        for weight in (None, sample_weight):
            for reduction in ("none", "mean", "sum"):
                x = torch.tensor(inputs["y_pred"], requires_grad=True)
                tensors = {"y_true": torch.tensor(inputs["y_true"]), "y_pred": x}
                if weight is None:
                    expected = torch_multi_margin(torch, tensors, params, reduction)
                else:
                    unreduced = torch_multi_margin(torch, tensors, params, "none")
                    weighted = unreduced * torch.tensor(weight).reshape((-1,) + (1,) * (len(shape) - 2))
                    expected = {"none": weighted, "sum": weighted.sum(), "mean": weighted.sum() / unreduced.numel()}[
                        reduction
                    ]
                expected.sum().backward()
                result = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
                assert result.grads is not None
                np.testing.assert_allclose(result.loss, expected.detach().numpy(), rtol=1e-9, atol=1e-12)
                np.testing.assert_allclose(result.grads["y_pred"], x.grad.numpy(), rtol=1e-9, atol=1e-12)

                def loss_at(value: np.ndarray, weight: Any = weight, reduction: Any = reduction) -> float:
                    changed = {**inputs, "y_pred": value}
                    return total(compute(spec, changed, params, sample_weight=weight, reduction=reduction).loss)

                numeric = central_difference(loss_at, inputs["y_pred"])
                np.testing.assert_allclose(result.grads["y_pred"], numeric, rtol=1e-6, atol=1e-7)


class TestPoly1Crossentropy(LossTests, TorchParity):
    cases = (
        Case("poly1_crossentropy", class_logits, {}, torch_reference=torch_poly1),
        Case("poly1_crossentropy", one_hot_logits, {"epsilon": -1.0}, torch_reference=torch_poly1),
        # soft labels in [0, 1] whose rows need not sum to 1 (optax allows it)
        Case("poly1_crossentropy", binary_logits, {"epsilon": 5.5}, torch_reference=torch_poly1),
    )

    def test_by_hand(self) -> None:
        # logits [0, 0], y = [1, 0]: CE = log 2, 1 - p_t = 1/2, epsilon 2: log 2 + 1
        assert values("poly1_crossentropy", y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])[0] == pytest.approx(
            math.log(2) + 1, rel=1e-15
        )
        # q sum(y) - y + eps (q sum(y q) - y q) = [-0.5, 0.5] + 2 [0.25 - 0.5, 0.25] = [-1, 1]
        np.testing.assert_allclose(grad("poly1_crossentropy", y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]]), [[-1.0, 1.0]])
        # epsilon = 0 is the cross-entropy with probability targets
        y, x = [[0.1, 0.6, 0.3]], [[0.9, -1.2, 1.1]]
        np.testing.assert_allclose(
            values("poly1_crossentropy", {"epsilon": 0.0}, y_true=y, y_pred=x),
            values("categorical_crossentropy", {"from_logits": True}, y_true=y, y_pred=x),
            rtol=1e-15,
        )

    def test_matches_optax(self) -> None:
        y = [[0.0, 1.0, 0.0], [0.1, 0.6, 0.3], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
        x = [[1.2, -0.8, -0.5], [0.9, -1.2, 1.1], [1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0]]
        # optax.losses.poly_loss_cross_entropy(x, y, epsilon=e); saturated rows: 0 and 1000 + e
        golden = {
            2.0: [4.070768018006428, 3.5911101269023877, 0.0, 1002.0],
            -1.0: [1.3788105493150926, 1.282143130330444, -0.0, 999.0],
            5.5: [7.211385064812985, 6.284904956236321, 0.0, 1005.5],
        }
        for epsilon, expected in golden.items():
            np.testing.assert_allclose(
                values("poly1_crossentropy", {"epsilon": epsilon}, y_true=y, y_pred=x), expected, rtol=RTOL
            )
        # JAX gradient for epsilon = 2; the saturated rows get exactly 0 and [1, 0, -1]
        np.testing.assert_allclose(
            grad("poly1_crossentropy", y_true=y, y_pred=x),
            [
                [0.9145254080388052, -1.0815941324150995, 0.16706872437629405],
                [0.43786877482230113, -0.586380153094972, 0.14851137827267097],
                [0.0, 0.0, 0.0],
                [1.0, 0.0, -1.0],
            ],
            rtol=RTOL,
            atol=1e-300,
        )

    def test_domain(self) -> None:
        error = refused("poly1_crossentropy", y_true=[[1.5, 0.0]], y_pred=[[0.0, 0.0]])
        assert error.issues[0].location == ("y_true", 0, 0)


class TestGeneralizedCrossentropy(LossTests, TorchParity):
    cases = (
        Case("generalized_crossentropy", index_probabilities_as_given, {}, torch_reference=torch_generalized_ce),
        Case(
            "generalized_crossentropy", index_probabilities_as_given, {"q": 1.0}, torch_reference=torch_generalized_ce
        ),
        Case(
            "generalized_crossentropy", index_probabilities_as_given, {"q": 0.1}, torch_reference=torch_generalized_ce
        ),
    )

    def test_by_hand(self) -> None:
        # p_t = 0.25, q = 0.5: (1 - 0.5) / 0.5 = 1; gradient -p_t^(q - 1) = -0.25^-0.5 = -2
        p = [[0.25, 0.5, 0.25]]
        assert values("generalized_crossentropy", y_true=[0], y_pred=p)[0] == pytest.approx(1.0, rel=1e-15)
        np.testing.assert_allclose(
            grad("generalized_crossentropy", y_true=[0], y_pred=p), [[-2.0, 0.0, 0.0]], rtol=1e-15
        )
        # q = 1: 1 - p_t, gradient -1
        assert values("generalized_crossentropy", {"q": 1.0}, y_true=[1], y_pred=p)[0] == pytest.approx(0.5)
        np.testing.assert_array_equal(grad("generalized_crossentropy", {"q": 1.0}, y_true=[1], y_pred=p), [[0, -1, 0]])

    def test_matches_keras(self) -> None:
        t = [0, 2, 1, 1]
        p = [[0.25, 0.5, 0.25], [0.1, 0.2, 0.3], [0.05, 0.9, 0.05], [0.7, 0.0, 0.3]]  # rows used as given
        # keras.losses.categorical_generalized_cross_entropy(t, p, q); the last row's p_t = 0 gives 1 / q.
        # -expm1(q log p_t) is more accurate than Keras's 1 - p_t^q near p_t = 1: rtol 1e-13.
        golden = {
            0.5: [1.0, 0.9045548849896679, 0.10263340389897246, 2.0],
            0.1: [1.2944943670387588, 1.1343184943478668, 0.10480741793785553, 10.0],
            1.0: [0.75, 0.7, 0.09999999999999998, 1.0],
        }
        for q, expected in golden.items():
            np.testing.assert_allclose(
                values("generalized_crossentropy", {"q": q}, y_true=t, y_pred=p), expected, rtol=1e-13
            )
        # JAX gradient (q = 0.5) of the first three rows
        np.testing.assert_allclose(
            grad("generalized_crossentropy", y_true=t[:3], y_pred=p[:3]),
            [[-2.0, 0.0, 0.0], [0.0, 0.0, -1.8257418583505538], [0.0, -1.0540925533894598, 0.0]],
            rtol=RTOL,
        )

    def test_zero_probability(self) -> None:
        # p_t = 0: the loss is 1 / q (finite), but its gradient -p_t^(q - 1) is infinite for q < 1
        # (JAX gives -inf): asking for it is a non-finite result (422). For q = 1 it is -1.
        p = [[0.7, 0.0, 0.3]]
        assert values("generalized_crossentropy", y_true=[1], y_pred=p)[0] == 2.0
        with pytest.raises(InvalidInput, match="not finite") as error:
            grad("generalized_crossentropy", y_true=[0, 1], y_pred=[[0.5, 0.3, 0.2], *p])
        assert error.value.issues[0].location == ("y_pred", 1, 1)
        np.testing.assert_array_equal(grad("generalized_crossentropy", {"q": 1.0}, y_true=[1], y_pred=p), [[0, -1, 0]])
        # p_t = 1: loss 0, gradient -1
        assert values("generalized_crossentropy", y_true=[0], y_pred=[[1.0, 0.0]])[0] == 0.0
        np.testing.assert_array_equal(grad("generalized_crossentropy", y_true=[0], y_pred=[[1.0, 0.0]]), [[-1.0, 0.0]])

    def test_domain(self) -> None:
        error = refused("generalized_crossentropy", y_true=[0], y_pred=[[1.2, -0.2]])
        assert {i.location for i in error.issues} == {("y_pred", 0, 0), ("y_pred", 0, 1)}
        error = refused("generalized_crossentropy", y_true=[2], y_pred=[[0.5, 0.5]])
        assert error.issues[0].location == ("y_true", 0)
