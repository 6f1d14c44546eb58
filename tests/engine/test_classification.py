"""The classification losses of API.md section 8 (``service/engine/losses/classification.py``), one test
class per loss. The changed rows of ``categorical_crossentropy`` (``class_weight``) and
``categorical_focal`` (per-class ``alpha``) are tested in those losses' classes, in
``test_multiclass.py`` (one test class per loss); their HTTP checks are here, in ``TestOverHttp``.

References run live, in float64, values and gradients to rtol 1e-9 (atol 1e-12), every reduction,
with and without sample weights:
- kornia 0.9 ``focal_loss(alpha=None, weight=alpha)`` (times a number ``alpha``) for
  ``sparse_categorical_focal`` on logits, autograd gradients (``TorchParity``);
- optax 0.2.8 ``multiclass_hinge_loss``, ``multiclass_perceptron_loss``,
  ``multiclass_sparsemax_loss`` (row by row) and ``sparsemax_loss``, gradients by ``jax.grad``;
- Keras 3 on JAX in float64: ``categorical_focal_crossentropy`` on ``one_hot(y)`` for
  ``sparse_categorical_focal`` on probabilities;
- torch 2.13 ``linear_cross_entropy``.

Makers keep the inputs away from the kinks (a gap of at least 0.1 between the two largest entries
of what the hinge and perceptron maximise) and from the clipping boundaries, so that central
differences hold; ties and kinks have tests of their own, against ``jax.grad`` of optax.

The reference suites ported to HTTP (``TestReferenceSuitesOverHttp``): optax's
``_classification_test.py`` (``HingeTest.test_multi_class``, ``test_batched_multi_class``;
``PerceptronTest.test_multi_class``, ``test_batched_multi_class``; ``SparsemaxTest.test_binary``,
``test_batched_binary``, ``test_multi_class_zero_loss``, ``test_multi_class_gradient``), Keras's
``losses_test.py`` ``CategoricalFocalCrossentropyTest`` (``test_all_correct_unweighted``,
``test_unweighted``, ``test_scalar_weighted``, ``test_sample_weighted``, ``test_no_reduction``) on
``sparse_categorical_focal`` with the one-hot targets as class indices, and kornia's
``tests/losses/test_focal_loss.py`` (``TestBinaryFocalLossWithLogits.test_numeric_stability``'s
saturated logits and ``test_value_same_as_torch_bce_loss``'s gamma = 0 identity, in the multi-class
form).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute
from tests.support.api_parity import assert_served_alike, problem_pointers
from tests.support.calls import infer, post
from tests.support.engine import (
    Case,
    Inputs,
    LossTests,
    Maker,
    TorchParity,
    distribution,
    grad,
    grads,
    index_logits,
    index_probabilities,
    redraw_until,
    refused,
    torch_reduce,
    values,
)
from tests.support.jax_reference import JaxCaseReference as JaxReference
from tests.support.jax_reference import JaxParity
from tests.support.references import load
from tests.support.require import skip_unless_available

T = dict[str, Any]


# Makers.


def _top_two_gap(a: np.ndarray) -> np.ndarray:
    top = np.sort(a, axis=-1)
    return top[..., -1] - top[..., -2]


def hinge_scores(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Scores whose ``s + 1 - onehot`` has its maximum at least 0.1 above the runner-up: no kink, no tie."""

    def ok(inputs: Inputs) -> np.ndarray:
        one_hot = np.eye(shape[-1])[inputs["y_true"]]
        return _top_two_gap(inputs["y_pred"] + 1 - one_hot) >= 0.1

    return redraw_until(lambda: index_logits(rng, shape), ok)


def perceptron_scores(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return redraw_until(lambda: index_logits(rng, shape), lambda i: _top_two_gap(i["y_pred"]) >= 0.1)


def binary_labels(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Labels 0/1 and logits on every branch of sparse_plus (|z| < 1 and beyond)."""
    return {"y_true": rng.integers(0, 2, shape).astype(float), "y_pred": rng.normal(0, 1.5, shape)}


def linear_layer(targets: str, bias: bool = True) -> Maker:
    """``shape`` is (N, C, D): x (N, D), linear_weight (C, D), linear_bias (C,), and class indices (N,)
    (``targets="indices"``) or target distributions (N, C) (``"probabilities"``)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        n, c, d = shape
        inputs = {"x": rng.normal(0, 1, (n, d)), "linear_weight": rng.normal(0, 0.8, (c, d))}
        if bias:
            inputs["linear_bias"] = rng.normal(0, 1, (c,))
        inputs["y_true"] = rng.integers(0, c, n) if targets == "indices" else distribution(rng, (n, c))
        return inputs

    return make


# PyTorch and kornia references: (torch, tensors, params, reduction) -> the reduced loss.


def _alpha(params: dict[str, Any], default: Any) -> Any:
    return params.get("alpha", default)


def kornia_focal(torch: Any, t: T, p: T, reduction: str) -> Any:
    """kornia's focal_loss with alpha=None, its per-class ``weight`` the per-class alpha, the class axis
    moved to dim 1, its one-hot map summed over the classes (the target's term), times a number alpha."""
    kornia = load("kornia")
    alpha = _alpha(p, 1.0)
    per_class = isinstance(alpha, list)
    weight = torch.tensor(alpha, dtype=torch.float64) if per_class else None
    logits = t["y_pred"].movedim(-1, 1)
    terms = kornia.losses.focal_loss(
        logits, t["y_true"], alpha=None, gamma=p.get("gamma", 2.0), reduction="none", weight=weight
    )
    unreduced = terms.sum(dim=1) * (1.0 if per_class else alpha)
    return torch_reduce(torch, unreduced, reduction)


def torch_linear_ce(torch: Any, t: T, p: T, reduction: str) -> Any:
    weight = p.get("class_weight")
    kwargs: dict[str, Any] = {"reduction": reduction, "label_smoothing": p.get("label_smoothing", 0.0)}
    if weight is not None:
        kwargs["weight"] = torch.tensor(weight, dtype=torch.float64)
    if p.get("ignore_index") is not None:
        kwargs["ignore_index"] = p["ignore_index"]
    return torch.nn.functional.linear_cross_entropy(
        t["x"], t["linear_weight"], t["y_true"], linear_bias=t.get("linear_bias"), **kwargs
    )


# optax and Keras references (on JAX): (jax, arrays as jnp, params) -> the unreduced values.


def optax_multiclass_hinge(jax: Any, a: dict[str, Any], p: dict[str, Any]) -> Any:
    return load("optax").losses.multiclass_hinge_loss(a["y_pred"], a["y_true"])


def optax_multiclass_perceptron(jax: Any, a: dict[str, Any], p: dict[str, Any]) -> Any:
    return load("optax").losses.multiclass_perceptron_loss(a["y_pred"], a["y_true"])


def optax_multiclass_sparsemax(jax: Any, a: dict[str, Any], p: dict[str, Any]) -> Any:
    """optax maps over the first axis only: each row over the leading axes, then back to their shape."""
    scores, labels = a["y_pred"], a["y_true"]
    rows = load("optax").losses.multiclass_sparsemax_loss(scores.reshape(-1, scores.shape[-1]), labels.reshape(-1))
    return rows.reshape(labels.shape)


def optax_sparsemax(jax: Any, a: dict[str, Any], p: dict[str, Any]) -> Any:
    return load("optax").losses.sparsemax_loss(a["y_pred"], a["y_true"])


def keras_sparse_focal(jax: Any, a: dict[str, Any], p: dict[str, Any]) -> Any:
    keras = load("keras")
    keras.config.set_floatx("float64")
    one_hot = jax.nn.one_hot(a["y_true"], a["y_pred"].shape[-1], dtype=a["y_pred"].dtype)
    return keras.losses.categorical_focal_crossentropy(
        one_hot, a["y_pred"], alpha=_alpha(p, 1.0), gamma=p.get("gamma", 2.0), from_logits=False
    )


def _locations(error: InvalidInput) -> list[tuple]:
    return [issue.location for issue in error.issues]


# sparse_categorical_focal.

FOCAL_LOGIT_CASES = (
    Case("sparse_categorical_focal", index_logits, torch_reference=kornia_focal),
    Case("sparse_categorical_focal", index_logits, {"gamma": 0.5, "alpha": 0.3}, torch_reference=kornia_focal),
    Case("sparse_categorical_focal", index_logits, {"gamma": 0.0, "alpha": "per-class"}, torch_reference=kornia_focal),
    Case("sparse_categorical_focal", index_logits, {"gamma": 3.5, "alpha": "per-class"}, torch_reference=kornia_focal),
)
FOCAL_PROBABILITY_CASES = (
    Case("sparse_categorical_focal", index_probabilities, {"from_logits": False}),
    Case("sparse_categorical_focal", index_probabilities, {"from_logits": False, "gamma": 0.5, "alpha": "per-class"}),
)


class TestSparseCategoricalFocal(LossTests, TorchParity, JaxParity):
    cases = FOCAL_LOGIT_CASES + FOCAL_PROBABILITY_CASES
    jax_cases = tuple((case, keras_sparse_focal) for case in FOCAL_PROBABILITY_CASES)

    def test_by_hand(self) -> None:
        # logits [0, 0], target 0: ce = log 2, p_t = 1/2; gamma 2: l = (1/2)^2 log 2.
        # F = (1 - p)^gamma (1 + gamma p ce / (1 - p)) = (1 + 2 log 2) / 4;
        # dl/dx = F (softmax - onehot) = F [-1/2, 1/2].
        x, y = [[0.0, 0.0]], [0]
        assert values("sparse_categorical_focal", y_true=y, y_pred=x)[0] == pytest.approx(math.log(2) / 4, rel=1e-15)
        f = (1 + 2 * math.log(2)) / 4
        np.testing.assert_allclose(grad("sparse_categorical_focal", y_true=y, y_pred=x), [[-f / 2, f / 2]], rtol=1e-15)
        # alpha per class [2, 5]: a target of class 1 is weighted by 5; logits [0, log 3]: p_t = 3/4, ce = log(4/3)
        # gamma 1: l = 5 (1/4) log(4/3)
        v = values(
            "sparse_categorical_focal", {"alpha": [2.0, 5.0], "gamma": 1.0}, y_true=[1], y_pred=[[0.0, math.log(3)]]
        )
        assert v[0] == pytest.approx(5 * 0.25 * math.log(4 / 3), rel=1e-14)
        # gamma 0 is cross-entropy, times alpha
        x = np.array([[1.0, -2.0, 0.5]])
        ce = -(x[0, 2] - np.log(np.sum(np.exp(x))))
        v = values("sparse_categorical_focal", {"gamma": 0.0, "alpha": 0.5}, y_true=[2], y_pred=x)
        assert v[0] == pytest.approx(0.5 * ce, rel=1e-15)

    def test_probabilities_by_hand(self) -> None:
        # Keras's path: p / sum(p) = [0.2, 0.8], target 1: l = alpha (0.2)^2 (-log 0.8); alpha 1 (the default)
        v = values("sparse_categorical_focal", {"from_logits": False}, y_true=[1], y_pred=[[0.1, 0.4]])
        assert v[0] == pytest.approx(0.04 * -math.log(0.8), rel=1e-14)
        # a one-hot prediction is clipped to [eps, 1 - eps]: with q = fl(1 - eps), Keras's arithmetic gives
        # l = (1 - q)^2 (-log q) (1 - q is not eps exactly: 1.6e-9 apart), gradient 0 (the clip acted)
        q = 1.0 - 1e-7
        v = values("sparse_categorical_focal", {"from_logits": False}, y_true=[0], y_pred=[[1.0, 0.0]])
        assert v[0] == pytest.approx((1.0 - q) ** 2 * -math.log(q), rel=1e-12, abs=0.0)
        g = grad("sparse_categorical_focal", {"from_logits": False}, y_true=[0], y_pred=[[1.0, 0.0]])
        np.testing.assert_array_equal(g, [[0.0, 0.0]])

    @pytest.mark.parametrize("gamma", [2.0, 0.5, 0.0])
    def test_saturated_logits(self, gamma: float) -> None:
        """Where every other class's exp underflows, 1 - p_t is exactly 0: loss 0 and, as kornia, the factor
        (1 - p_t)^gamma passes no gradient (finite for 0 < gamma < 1; for gamma 0 it is cross-entropy's,
        softmax - onehot = 0 there). The wrong class at a 2000 margin: ce = 2000, the factor is 1."""
        x = [[1000.0, -1000.0], [-1000.0, 1000.0]]
        params = {"gamma": gamma}
        np.testing.assert_array_equal(
            values("sparse_categorical_focal", params, y_true=[0, 0], y_pred=x), [0.0, 2000.0]
        )
        np.testing.assert_array_equal(
            grad("sparse_categorical_focal", params, y_true=[0, 0], y_pred=x), [[0.0, 0.0], [-1.0, 1.0]]
        )

    def test_nearly_saturated_logits_keep_their_precision(self) -> None:
        """x = [40, 0], target 0: r = e^-40, ce = log1p(r), 1 - p_t = r / (1 + r) to full precision (PyTorch's
        log-sum-exp rounds ce to 0 here). gamma 2: l = (r / (1 + r))^2 log1p(r); gamma 0.5: the gradient
        -(1 - p)^(1/2) (1 + ce p / (2 (1 - p))) (1 - p) on the target, finite."""
        r = math.exp(-40)
        b, ce = r / (1 + r), math.log1p(r)
        v = values("sparse_categorical_focal", y_true=[0], y_pred=[[40.0, 0.0]])
        assert v[0] == pytest.approx(b * b * ce, rel=1e-14)
        g = grad("sparse_categorical_focal", {"gamma": 0.5}, y_true=[0], y_pred=[[40.0, 0.0]])
        expected = math.sqrt(b) * (1 + 0.5 * (1 - b) * ce / b) * b
        np.testing.assert_allclose(g, [[-expected, expected]], rtol=1e-14)

    def test_matches_kornia_at_ties_and_extreme_rows(self, torch: Any) -> None:
        """A target tied with another class (the argmax branch of the stable form), huge common offsets."""
        x = np.array([[2.0, 2.0, -1.0], [1e6, 1e6 + 1, 1e6 - 3], [-5.0, 30.0, 29.0], [0.0, 0.0, 0.0]])
        y = np.array([0, 1, 2, 1])
        for params in ({"gamma": 2.0}, {"gamma": 0.5, "alpha": [0.5, 1.0, 2.0]}):
            t = {"y_true": torch.tensor(y), "y_pred": torch.tensor(x, requires_grad=True)}
            expected = kornia_focal(torch, t, params, "none")
            expected.sum().backward()
            np.testing.assert_allclose(
                values("sparse_categorical_focal", params, y_true=y, y_pred=x), expected.detach().numpy(), rtol=1e-12
            )
            np.testing.assert_allclose(
                grad("sparse_categorical_focal", params, y_true=y, y_pred=x),
                t["y_pred"].grad.numpy(),
                rtol=1e-12,
                atol=1e-15,
            )

    def test_refusals(self) -> None:
        x = [[0.1, 0.2, 0.3]]
        assert _locations(refused("sparse_categorical_focal", y_true=[3], y_pred=x)) == [("y_true", 0)]
        error = refused("sparse_categorical_focal", {"alpha": [1.0, 2.0]}, y_true=[0], y_pred=x)
        assert error.issues[0].location == ("alpha",) and error.issues[0].argument == "param"
        error = refused("sparse_categorical_focal", {"alpha": [1.0, -2.0, 1.0]}, y_true=[0], y_pred=x)
        assert error.issues[0].location == ("alpha",) and "entry 1" in error.issues[0].detail
        # probabilities must be in [0, 1] and rows must have a positive sum
        assert _locations(refused("sparse_categorical_focal", {"from_logits": False}, y_true=[0], y_pred=[[1.5, 0]]))
        with pytest.raises(InvalidInput, match="positive sum"):
            values("sparse_categorical_focal", {"from_logits": False}, y_true=[0], y_pred=[[0.0, 0.0]])


# optax's multi-class margin losses.

HINGE_CASE = Case("multiclass_hinge", hinge_scores)
PERCEPTRON_CASE = Case("multiclass_perceptron", perceptron_scores)


def _jax_grad_of_optax(jax: Any, reference: JaxReference, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    jnp = jax.numpy
    labels = jnp.asarray(y)
    return np.asarray(jax.grad(lambda v: reference(jax, {"y_true": labels, "y_pred": v}, {}).sum())(jnp.asarray(s)))


class TestMulticlassHinge(LossTests, JaxParity):
    cases = (HINGE_CASE,)
    jax_cases = ((HINGE_CASE, optax_multiclass_hinge),)

    def test_by_hand(self) -> None:
        # s = [1, 0.5, 3], t = 0: a = s + 1 - onehot = [1, 1.5, 4]: l = 4 - 1 = 3, gradient [-1, 0, 1];
        # s = [3, 0.5, 1], t = 0: a = [3, 1.5, 2], the target is the maximum: 0, gradient 0.
        s, y = [[1.0, 0.5, 3.0], [3.0, 0.5, 1.0]], [0, 0]
        np.testing.assert_array_equal(values("multiclass_hinge", y_true=y, y_pred=s), [3.0, 0.0])
        np.testing.assert_array_equal(grad("multiclass_hinge", y_true=y, y_pred=s), [[-1, 0, 1], [0, 0, 0]])

    def test_ties_split_the_gradient_as_jax_grad_of_optax(self, jax: Any) -> None:
        """Rivals tied at the maximum share it; at the hinge's kink (s_t = 1 + max rival) the target's own
        entry of optax's max is tied too: [-1/2, 1/2] for one rival, not clamp_min's [-1, 1]."""
        s = np.array(
            [
                [0.0, 1.0, 1.0],  # two rivals tied: l = 2, gradient [-1, 1/2, 1/2]
                [2.0, 1.0, 0.0],  # kink: a = [2, 2, 1]: l = 0, gradient [-1/2, 1/2, 0]
                [1.0, 0.0, 0.0],  # kink with both rivals: a = [1, 1, 1]: [-2/3, 1/3, 1/3]
                [5.0, 5.0, 5.0],  # all equal: a = [5, 6, 6]: l = 1, [-1, 1/2, 1/2]
            ]
        )
        y = np.zeros(4, dtype=np.int64)
        expected = [[-1, 0.5, 0.5], [-0.5, 0.5, 0], [-2 / 3, 1 / 3, 1 / 3], [-1, 0.5, 0.5]]
        g = grad("multiclass_hinge", y_true=y, y_pred=s)
        np.testing.assert_allclose(g, expected, rtol=1e-15)
        np.testing.assert_array_equal(g, _jax_grad_of_optax(jax, optax_multiclass_hinge, y, s))
        np.testing.assert_array_equal(values("multiclass_hinge", y_true=y, y_pred=s), [2.0, 0.0, 0.0, 1.0])

    def test_leading_axes_and_huge_scores(self) -> None:
        s = np.array([[[1e300, -1e300], [0.0, 0.5]]])
        np.testing.assert_array_equal(values("multiclass_hinge", y_true=[[0, 1]], y_pred=s), [[0.0, 0.5]])
        with pytest.raises(InvalidInput, match="not finite"):  # 1e308 + 1 - (-1e308) overflows
            values("multiclass_hinge", y_true=[1], y_pred=[[1e308, -1e308]])


class TestMulticlassPerceptron(LossTests, JaxParity):
    cases = (PERCEPTRON_CASE,)
    jax_cases = ((PERCEPTRON_CASE, optax_multiclass_perceptron),)

    def test_by_hand(self) -> None:
        # s = [1, 3, 2], t = 0: 3 - 1 = 2, gradient [-1, 1, 0]; t = 1: the maximum, 0 and gradient 0.
        s = [[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]]
        np.testing.assert_array_equal(values("multiclass_perceptron", y_true=[0, 1], y_pred=s), [2.0, 0.0])
        np.testing.assert_array_equal(grad("multiclass_perceptron", y_true=[0, 1], y_pred=s), [[-1, 1, 0], [0, 0, 0]])

    def test_ties_split_the_gradient_as_jax_grad_of_optax(self, jax: Any) -> None:
        s = np.array([[2.0, 2.0, 0.0], [0.0, 1.0, 1.0], [4.0, 4.0, 4.0]])
        y = np.array([0, 0, 2])
        # target tied at the top: l = 0, [-1/2, 1/2, 0]; rivals tied: l = 1, [-1, 1/2, 1/2]; all: [1/3, 1/3, -2/3]
        expected = [[-0.5, 0.5, 0.0], [-1.0, 0.5, 0.5], [1 / 3, 1 / 3, -2 / 3]]
        g = grad("multiclass_perceptron", y_true=y, y_pred=s)
        np.testing.assert_allclose(g, expected, rtol=1e-15)
        np.testing.assert_array_equal(g, _jax_grad_of_optax(jax, optax_multiclass_perceptron, y, s))
        np.testing.assert_array_equal(values("multiclass_perceptron", y_true=y, y_pred=s), [0.0, 1.0, 0.0])

    def test_overflow_is_a_non_finite_result(self) -> None:
        with pytest.raises(InvalidInput, match="not finite") as caught:
            values("multiclass_perceptron", y_true=[0, 1], y_pred=[[0.0, 1.0], [1e308, -1e308]])
        assert _locations(caught.value) == [("y_pred", 1)]


# Sparsemax.

SPARSEMAX_CASE = Case("multiclass_sparsemax", index_logits, max_rank=4)
BINARY_SPARSEMAX_CASE = Case("binary_sparsemax", binary_labels, min_rank=1)


class TestMulticlassSparsemax(LossTests, JaxParity):
    cases = (SPARSEMAX_CASE,)
    jax_cases = ((SPARSEMAX_CASE, optax_multiclass_sparsemax),)

    def test_by_hand(self) -> None:
        # s = [0, 0], t = 0: p = [1/2, 1/2], l = 0 + (1 - 1/2) / 2 = 1/4, gradient p - onehot = [-1/2, 1/2].
        # s = [1, 0.5, 0], t = 1: k = 2 (1/2 + 0.5 - 1.5/2 > 0, 1/3 + 0 - 1.5/3 < 0), p = s - 1/4 = [3/4, 1/4, 0];
        # l = 3/4 (1 - 0.5) + (1 - 9/16 - 1/16) / 2 = 3/8 + 3/16 = 9/16, gradient [3/4, -3/4, 0].
        # s = [2, 0, 0], t = 0: p = [1, 0, 0] = onehot: 0, gradient 0.
        np.testing.assert_array_equal(values("multiclass_sparsemax", y_true=[0], y_pred=[[0.0, 0.0]]), [0.25])
        np.testing.assert_array_equal(grad("multiclass_sparsemax", y_true=[0], y_pred=[[0.0, 0.0]]), [[-0.5, 0.5]])
        s, y = [[1.0, 0.5, 0.0], [2.0, 0.0, 0.0]], [1, 0]
        np.testing.assert_array_equal(values("multiclass_sparsemax", y_true=y, y_pred=s), [9 / 16, 0.0])
        np.testing.assert_array_equal(grad("multiclass_sparsemax", y_true=y, y_pred=s), [[0.75, -0.75, 0], [0, 0, 0]])

    def test_ties_and_support_boundaries_match_jax_grad_of_optax(self, jax: Any) -> None:
        """Equal scores, an entry exactly on the support's edge (p_j = 0 at s_j = tau), huge scores."""
        s = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.5, 0.0], [1e5, 0.0, 0.0], [-1e300, 1e300, 0.0]])
        y = np.array([2, 1, 2, 0, 0])
        expected = np.asarray(optax_multiclass_sparsemax(jax, {"y_true": jax.numpy.asarray(y), "y_pred": s}, {}))
        np.testing.assert_allclose(values("multiclass_sparsemax", y_true=y, y_pred=s), expected, rtol=1e-15)
        g = grad("multiclass_sparsemax", y_true=y, y_pred=s)
        np.testing.assert_allclose(g, _jax_grad_of_optax(jax, optax_multiclass_sparsemax, y, s), rtol=1e-12, atol=1e-15)
        # the wrong class at 2e300 above the target: l = s_max - s_t + 0 = 2e300
        assert values("multiclass_sparsemax", y_true=y, y_pred=s)[4] == 2e300

    def test_scores_near_the_float_limit_are_projected_as_their_differences(self) -> None:
        """Equal scores of 1e308 or -1e308 project to [1/2, 1/2] (l = 1/4, gradient [-1/2, 1/2]) like [0, 0]:
        the projection depends on the differences only. optax 0.2.8 sums the raw scores, and its cumulative
        sum overflows: [1, 1] and l = -0.5 (below the loss's minimum 0) for 1e308, NaN for -1e308."""
        for score in (1e308, -1e308, 2.0**70):
            y_pred = [[score, score], [score, score - 1e292 * 3], [score, 0.0]]
            y_true = [0, 1, 1]
            v = values("multiclass_sparsemax", y_true=y_true, y_pred=y_pred)
            g = grad("multiclass_sparsemax", y_true=y_true, y_pred=y_pred)
            np.testing.assert_array_equal(v[0], 0.25)
            np.testing.assert_array_equal(g[0], [-0.5, 0.5])
            # the target 3e292 or the whole score below the other class: p = [1, 0], l = the gap
            gap = score - (score - 1e292 * 3)
            assert v[1] == (gap if gap > 1 else 0.25) and v[2] == (score if score > 0 else 0.0)
        # Past the support the cumulative sum may overflow to -inf; the condition there is not counted
        p = values("multiclass_sparsemax", y_true=[1], y_pred=[[0.0, 0.5, -1e308, -1e308, -1e308]])
        # (optax counts the overflowed entries as in the support: the threshold is -inf, p infinite, l NaN).
        # p = [1/4, 3/4, 0, 0, 0]: l = 1/4 (0 - 0.5) + (1 - 1/16 - 9/16) / 2 = 1/16
        np.testing.assert_array_equal(p, [0.0625])


class TestBinarySparsemax(LossTests, JaxParity):
    cases = (BINARY_SPARSEMAX_CASE,)
    jax_cases = ((BINARY_SPARSEMAX_CASE, optax_sparsemax),)

    def test_by_hand(self) -> None:
        # z = (1 - 2y) x: label 1, x = 0: z = 0, (0 + 1)^2 / 4 = 1/4, dl/dx = -(z + 1) / 2 = -1/2;
        # label 0, x = 0.5: 2.25 / 4, +0.75; label 1, x = 2: z = -2: 0, 0; label 0, x = 3: z = 3, gradient 1;
        # label 1, x = -1: z = 1, both branches give 1, gradient -1.
        y, x = [1.0, 0.0, 1.0, 0.0, 1.0], [0.0, 0.5, 2.0, 3.0, -1.0]
        np.testing.assert_array_equal(values("binary_sparsemax", y_true=y, y_pred=x), [0.25, 0.5625, 0.0, 3.0, 1.0])
        np.testing.assert_array_equal(grad("binary_sparsemax", y_true=y, y_pred=x), [-0.5, 0.75, 0.0, 1.0, -1.0])

    def test_switch_points_match_jax_grad_of_optax(self, jax: Any) -> None:
        y = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
        x = np.array([-1.0, 1.0, -1.0, 1.0, 1e300, -1e300])
        expected = np.asarray(
            optax_sparsemax(jax, {"y_true": jax.numpy.asarray(y), "y_pred": jax.numpy.asarray(x)}, {})
        )
        np.testing.assert_array_equal(values("binary_sparsemax", y_true=y, y_pred=x), expected)
        np.testing.assert_array_equal(
            grad("binary_sparsemax", y_true=y, y_pred=x), _jax_grad_of_optax(jax, optax_sparsemax, y, x)
        )

    def test_refuses_labels_other_than_0_and_1(self) -> None:
        assert _locations(refused("binary_sparsemax", y_true=[[0.0, 0.5]], y_pred=[[1.0, 1.0]])) == [("y_true", 0, 1)]
        assert _locations(refused("binary_sparsemax", y_true=[-1.0, 1.0], y_pred=[1.0, 1.0])) == [("y_true", 0)]


# linear_crossentropy.

LINEAR_CASES = (
    Case("linear_crossentropy", linear_layer("indices"), min_rank=3, torch_reference=torch_linear_ce),
    Case(
        "linear_crossentropy",
        linear_layer("indices", bias=False),
        {"class_weight": "per-class", "label_smoothing": 0.2},
        min_rank=3,
        torch_reference=torch_linear_ce,
    ),
    Case(
        "linear_crossentropy",
        linear_layer("indices"),
        {"class_weight": "per-class", "ignore_index": 1},
        min_rank=3,
        torch_reference=torch_linear_ce,
    ),
    Case("linear_crossentropy", linear_layer("probabilities"), min_rank=3, torch_reference=torch_linear_ce),
    Case(
        "linear_crossentropy",
        linear_layer("probabilities", bias=False),
        {"class_weight": "per-class", "label_smoothing": 0.1},
        min_rank=3,
        torch_reference=torch_linear_ce,
    ),
)


class TestLinearCrossentropy(LossTests, TorchParity):
    cases = LINEAR_CASES

    def test_by_hand(self) -> None:
        # x = [1, 2], W = I, b = [0.5, 0]: z = [1.5, 2]; target 1: l = log(1 + e^-0.5); G = softmax(z) - e_1 = [s, -s],
        # s = sigmoid(-0.5); dl/dx = G W = G, dl/dW = G^T x = [[s, 2s], [-s, -2s]], dl/db = G.
        inputs = {
            "x": [[1.0, 2.0]],
            "linear_weight": [[1.0, 0.0], [0.0, 1.0]],
            "linear_bias": [0.5, 0.0],
            "y_true": [1],
        }
        assert values("linear_crossentropy", **inputs)[0] == pytest.approx(math.log1p(math.exp(-0.5)), rel=1e-15)
        s = 1 / (1 + math.exp(0.5))
        g = grads("linear_crossentropy", **inputs)
        np.testing.assert_allclose(g["x"], [[s, -s]], rtol=1e-15)
        np.testing.assert_allclose(g["linear_weight"], [[s, 2 * s], [-s, -2 * s]], rtol=1e-15)
        np.testing.assert_allclose(g["linear_bias"], [s, -s], rtol=1e-15)
        # the same target as a one-hot distribution: the same loss and gradients
        one_hot = {**inputs, "y_true": [[0.0, 1.0]]}
        assert values("linear_crossentropy", **one_hot)[0] == pytest.approx(math.log1p(math.exp(-0.5)), rel=1e-15)
        np.testing.assert_allclose(grads("linear_crossentropy", **one_hot)["linear_weight"], g["linear_weight"])

    def test_the_bias_is_optional(self) -> None:
        inputs = {"x": [[1.0, 2.0], [0.0, -1.0]], "linear_weight": [[1.0, 0.5], [0.0, 1.0]], "y_true": [1, 0]}
        without = grads("linear_crossentropy", **inputs)
        assert set(without) == {"x", "linear_weight"}
        with_zero = grads("linear_crossentropy", **inputs, linear_bias=[0.0, 0.0])
        assert set(with_zero) == {"x", "linear_weight", "linear_bias"}
        np.testing.assert_array_equal(without["x"], with_zero["x"])
        spec = CATALOG["linear_crossentropy"]
        null_bias = compute(spec, {**inputs, "linear_bias": None}, reduction="none", return_grad=True)
        assert null_bias.grads is not None and set(null_bias.grads) == {"x", "linear_weight"}
        np.testing.assert_array_equal(null_bias.loss, values("linear_crossentropy", **inputs))

    def test_the_weighted_mean_follows_the_targets_kind(self, torch: Any) -> None:
        """Index targets with class weights: mean divides by sum(w_t); probability targets: by N (PyTorch)."""
        x, weight = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.eye(2)
        params = {"class_weight": [1.0, 3.0]}
        indices = np.array([0, 1, 1])
        none = values("linear_crossentropy", params, "none", x=x, linear_weight=weight, y_true=indices)
        mean = values("linear_crossentropy", params, "mean", x=x, linear_weight=weight, y_true=indices)
        assert mean == pytest.approx(none.sum() / (1 + 3 + 3), rel=1e-15)
        probabilities = np.eye(2)[indices]
        none_p = values("linear_crossentropy", params, "none", x=x, linear_weight=weight, y_true=probabilities)
        np.testing.assert_allclose(none_p, none, rtol=1e-15)
        mean_p = values("linear_crossentropy", params, "mean", x=x, linear_weight=weight, y_true=probabilities)
        assert mean_p == pytest.approx(none.sum() / 3, rel=1e-15)
        t = {k: torch.tensor(v) for k, v in {"x": x, "linear_weight": weight, "y_true": probabilities}.items()}
        assert mean_p == pytest.approx(torch_linear_ce(torch, t, params, "mean").item(), rel=1e-15)

    def test_all_targets_ignored(self) -> None:
        """Every target ignored: sum and none are 0 (and so is the gradient); mean is 0/0 (PyTorch's NaN), a 422."""
        inputs = {"x": [[1.0, 2.0]], "linear_weight": [[1.0, 0.0], [0.0, 1.0]], "y_true": [1]}
        params = {"ignore_index": 1}
        assert values("linear_crossentropy", params, "sum", **inputs) == 0.0
        assert not np.any(grads("linear_crossentropy", params, **inputs)["linear_weight"])
        with pytest.raises(InvalidInput, match="not finite"):
            values("linear_crossentropy", params, "mean", **inputs)

    def test_refusals(self) -> None:
        x, w = [[1.0, 2.0], [0.5, 0.5]], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
        assert _locations(refused("linear_crossentropy", x=x, linear_weight=w, y_true=[0.0, 1.5])) == [("y_true", 1)]
        assert _locations(refused("linear_crossentropy", x=x, linear_weight=w, y_true=[0, 3])) == [("y_true", 1)]
        assert _locations(refused("linear_crossentropy", x=x, linear_weight=[[1.0, 0.0, 0.0]], y_true=[0, 0])) == [
            ("linear_weight",)
        ]
        error = refused("linear_crossentropy", x=x, linear_weight=w, linear_bias=[0.0, 0.0], y_true=[0, 1])
        assert _locations(error) == [("linear_bias",)]
        error = refused("linear_crossentropy", x=x, linear_weight=w, y_true=[[0.5, 0.5], [1.0, 0.0]])
        assert _locations(error) == [("y_true",)]  # (N, C) with C = 3
        error = refused("linear_crossentropy", {"ignore_index": 0}, x=x, linear_weight=w, y_true=np.eye(3)[:2])
        assert error.issues[0].location == ("ignore_index",) and error.issues[0].argument == "param"
        error = refused("linear_crossentropy", {"class_weight": [1.0, 2.0]}, x=x, linear_weight=w, y_true=[0, 1])
        assert error.issues[0].location == ("class_weight",)
        assert _locations(refused("linear_crossentropy", x=x, linear_weight=w, y_true=[[1.5, 0, 0], [1, 0, 0]]))
        assert _locations(refused("linear_crossentropy", x=[1.0, 2.0], linear_weight=w, y_true=[0])) == [("x",)]


# Over HTTP: POST /losses/{name}, /v2 (in process), the catalog, the OpenAPI document, the 422s.

#: One request per new loss: inputs and params.
HTTP_REQUESTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "sparse_categorical_focal": (
        {"y_true": [0, 2, 1], "y_pred": [[1.0, -0.5, 0.2], [0.1, 0.3, 2.0], [0.0, 0.0, 0.0]]},
        {"alpha": [0.5, 1.0, 2.0], "gamma": 1.5},
    ),
    "multiclass_hinge": ({"y_true": [0, 2], "y_pred": [[1.0, 0.5, 3.0], [0.2, 0.1, 0.4]]}, {}),
    "multiclass_perceptron": ({"y_true": [0, 2], "y_pred": [[1.0, 0.5, 3.0], [0.2, 0.1, 0.4]]}, {}),
    "multiclass_sparsemax": ({"y_true": [1, 2], "y_pred": [[1.0, 0.5, 0.0], [0.2, 0.1, 0.4]]}, {}),
    "binary_sparsemax": ({"y_true": [[0, 1], [1, 1]], "y_pred": [[0.3, -0.2], [2.0, 0.5]]}, {}),
    "linear_crossentropy": (
        {
            "x": [[1.0, 2.0], [0.5, -1.0], [0.0, 0.3]],
            "linear_weight": [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]],
            "linear_bias": [0.1, -0.2, 0.0],
            "y_true": [2, 0, 1],
        },
        {"class_weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1},
    ),
}


class TestOverHttp:
    @pytest.mark.parametrize("name", sorted(HTTP_REQUESTS))
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_post_and_v2_give_the_engine_result(self, api_client: Any, name: str, reduction: str) -> None:
        inputs, params = HTTP_REQUESTS[name]
        assert_served_alike(api_client, name, inputs, params, reduction)

    def test_linear_bias_may_be_omitted_or_null(self, api_client: Any) -> None:
        inputs, params = HTTP_REQUESTS["linear_crossentropy"]
        without = {k: v for k, v in inputs.items() if k != "linear_bias"}
        for body in (without, {**without, "linear_bias": None}):
            response = post(api_client, "linear_crossentropy", {**body, "params": params, "return_grad": True})
            assert response.status_code == 200, response.text
            assert set(response.json()["grad"]) == {"x", "linear_weight"}
            expected = compute(CATALOG["linear_crossentropy"], without, params)
            assert response.json()["loss"] == expected.loss
        # over /v2 too; x is required there
        tensors = {**without, "class_weight": params["class_weight"]}
        response = infer(api_client, "linear_crossentropy", tensors, label_smoothing=0.1)
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == [expected.loss]
        response = infer(api_client, "linear_crossentropy", {k: v for k, v in tensors.items() if k != "x"})
        assert response.status_code == 400 and "['x']" in response.json()["error"]

    def test_probability_targets_over_http(self, api_client: Any) -> None:
        inputs, _ = HTTP_REQUESTS["linear_crossentropy"]
        inputs = {**inputs, "y_true": [[0.0, 0.2, 0.8], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]]}
        body = {**inputs, "reduction": "none"}
        response = post(api_client, "linear_crossentropy", body)
        assert response.status_code == 200, response.text
        expected = compute(CATALOG["linear_crossentropy"], inputs, reduction="none").loss
        np.testing.assert_array_equal(response.json()["loss"], expected)
        assert problem_pointers(post(api_client, "linear_crossentropy", {**body, "params": {"ignore_index": 0}})) == [
            "/params/ignore_index"
        ]

    def test_the_catalog_and_the_openapi_document_say_the_bias_is_optional(self, api_client: Any) -> None:
        entry = api_client.get("/losses/linear_crossentropy").json()
        assert [(i["name"], i["required"]) for i in entry["inputs"]] == [
            ("x", True),
            ("linear_weight", True),
            ("linear_bias", False),
            ("y_true", True),
        ]
        schemas = api_client.get("/openapi.json").json()["components"]["schemas"]
        request = schemas["LinearCrossentropyRequest"]
        assert set(request["required"]) == {"x", "linear_weight", "y_true"}
        assert {"type": "null"} in request["properties"]["linear_bias"]["anyOf"]
        metadata = api_client.get("/v2/models/linear_crossentropy").json()
        assert [(t["name"], t["shape"]) for t in metadata["inputs"]] == [
            ("x", [-1, -1]),
            ("linear_weight", [-1, -1]),
            ("linear_bias", [-1]),
            ("y_true", [-1]),
        ]
        assert [t["name"] for t in metadata["outputs"]] == ["loss", "grad_x", "grad_linear_weight", "grad_linear_bias"]
        for name in ("sparse_categorical_focal", "multiclass_hinge", "multiclass_perceptron", "multiclass_sparsemax"):
            metadata = api_client.get(f"/v2/models/{name}").json()
            assert metadata["inputs"][0] == {"name": "y_true", "datatype": "INT64", "shape": [-1]}
        assert api_client.get("/losses/binary_sparsemax").json()["family"] == "binary"

    @pytest.mark.parametrize(
        ("name", "change", "pointer"),
        [
            ("sparse_categorical_focal", {"params": {"alpha": -1.0}}, "/params/alpha"),
            ("sparse_categorical_focal", {"params": {"alpha": [1.0, 2.0]}}, "/params/alpha"),
            ("sparse_categorical_focal", {"params": {"alpha": [1.0, -2.0, 1.0]}}, "/params/alpha"),
            ("sparse_categorical_focal", {"params": {"gamma": -0.5}}, "/params/gamma"),
            ("sparse_categorical_focal", {"params": {"eps": 0.5}}, "/params/eps"),
            ("sparse_categorical_focal", {"y_true": [0, 3, 1]}, "/y_true/1"),
            ("sparse_categorical_focal", {"y_true": [0, 1.5, 1]}, "/y_true/1"),
            ("multiclass_hinge", {"y_true": [0, 2, 1]}, "/y_true"),
            ("multiclass_perceptron", {"params": {"margin": 1.0}}, "/params/margin"),
            ("multiclass_sparsemax", {"y_true": [-1, 0]}, "/y_true/0"),
            ("binary_sparsemax", {"y_true": [[0, 0.5], [1, 1]]}, "/y_true/0/1"),
            ("linear_crossentropy", {"y_true": [2.0, 0.5, 1.0]}, "/y_true/1"),
            ("linear_crossentropy", {"linear_bias": [0.0, 0.0]}, "/linear_bias"),
            ("linear_crossentropy", {"linear_weight": [[1.0, 0.0, 0.0]]}, "/linear_weight"),
            ("linear_crossentropy", {"params": {"class_weight": [1.0]}}, "/params/class_weight"),
            ("linear_crossentropy", {"params": {"label_smoothing": 1.5}}, "/params/label_smoothing"),
        ],
    )
    def test_422s_point_at_the_fault(self, api_client: Any, name: str, change: dict[str, Any], pointer: str) -> None:
        inputs, params = HTTP_REQUESTS[name]
        body = {**inputs, "params": params, **change}
        assert pointer in problem_pointers(post(api_client, name, body))

    def test_changed_rows_over_http(self, api_client: Any) -> None:
        body = {"y_true": [[0.5, 0.5]], "y_pred": [[0.25, 0.75]], "params": {"class_weight": [2.0, 4.0]}}
        response = post(api_client, "categorical_crossentropy", body)
        assert response.status_code == 200
        assert response.json()["loss"] == pytest.approx(-(math.log(0.25) + 2 * math.log(0.75)), rel=1e-15)
        body = {"y_true": [[0.0, 1.0]], "y_pred": [[0.1, 0.4]], "params": {"alpha": [0.1, 3.0]}}
        response = post(api_client, "categorical_focal", body)
        assert response.json()["loss"] == pytest.approx(3 * 0.04 * -math.log(0.8), rel=1e-14)
        for alpha, pointer in ((1.5, "/params/alpha"), ([0.5, -1.0], "/params/alpha"), ([0.5], "/params/alpha")):
            assert set(
                problem_pointers(post(api_client, "categorical_focal", {**body, "params": {"alpha": alpha}}))
            ) == {pointer}
        body = {"y_true": [[0.5, 0.5]], "y_pred": [[0.25, 0.75]], "params": {"class_weight": [2.0]}}
        assert problem_pointers(post(api_client, "categorical_crossentropy", body)) == ["/params/class_weight"]
        # over /v2, the per-class alpha is a tensor input
        tensors = [
            {"name": "y_true", "shape": [1, 2], "datatype": "FP64", "data": [0.0, 1.0]},
            {"name": "y_pred", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 0.4]},
            {"name": "alpha", "shape": [2], "datatype": "FP64", "data": [0.1, 3.0]},
        ]
        response = api_client.post("/v2/models/categorical_focal/infer", json={"inputs": tensors})
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"][0] == pytest.approx(3 * 0.04 * -math.log(0.8), rel=1e-14)
        # its number form still travels among the parameters, as before alpha took a list; a list there, or
        # alpha given twice, is a 400
        body = {"inputs": tensors[:2], "parameters": {"alpha": 0.5}}
        response = api_client.post("/v2/models/categorical_focal/infer", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"][0] == pytest.approx(0.5 * 0.04 * -math.log(0.8), rel=1e-14)
        for inputs, parameters in ((tensors[:2], {"alpha": [0.1, 3.0]}), (tensors, {"alpha": 0.5})):
            response = api_client.post(
                "/v2/models/categorical_focal/infer", json={"inputs": inputs, "parameters": parameters}
            )
            assert response.status_code == 400 and "alpha" in response.json()["error"]


class TestReferenceSuitesOverHttp:
    """The reference libraries' own test cases, through ``POST /losses/{name}``, with their tolerances."""

    def _loss(self, client: Any, name: str, body: dict[str, Any]) -> Any:
        response = post(client, name, body)
        assert response.status_code == 200, response.text
        return response.json()

    def test_optax_hinge_multi_class(self, api_client: Any) -> None:
        # HingeTest.test_multi_class and test_batched_multi_class: jnp.max(scores + 1 - onehot) - scores[label]
        loss = self._loss(api_client, "multiclass_hinge", {"y_true": [1], "y_pred": [[10.0, 3.0]], "reduction": "none"})
        np.testing.assert_allclose(loss["loss"], [8.0], atol=1e-4)
        body = {"y_true": [1, 0], "y_pred": [[10.0, 3.0], [11.0, -2.0]], "reduction": "none"}
        np.testing.assert_allclose(self._loss(api_client, "multiclass_hinge", body)["loss"], [8.0, 0.0], atol=1e-4)

    def test_optax_perceptron_multi_class(self, api_client: Any) -> None:
        # PerceptronTest.test_multi_class and test_batched_multi_class: jnp.max(scores) - scores[label]
        body = {"y_true": [1], "y_pred": [[10.0, 3.0]], "reduction": "none"}
        np.testing.assert_allclose(self._loss(api_client, "multiclass_perceptron", body)["loss"], [7.0], atol=1e-4)
        body = {"y_true": [1, 0], "y_pred": [[10.0, 3.0], [11.0, -2.0]], "reduction": "none"}
        np.testing.assert_allclose(self._loss(api_client, "multiclass_perceptron", body)["loss"], [7.0, 0.0], atol=1e-4)

    def test_optax_sparsemax_binary(self, api_client: Any) -> None:
        # SparsemaxTest.test_binary and test_batched_binary: label 1, score 10: z = -10 <= -1: 0; label 0, 20: 20
        body = {"y_true": [1], "y_pred": [10.0], "reduction": "none"}
        np.testing.assert_allclose(self._loss(api_client, "binary_sparsemax", body)["loss"], [0.0], atol=1e-4)
        body = {"y_true": [1, 0], "y_pred": [10.0, 20.0], "reduction": "none"}
        np.testing.assert_allclose(self._loss(api_client, "binary_sparsemax", body)["loss"], [0.0, 20.0], atol=1e-4)

    def test_optax_sparsemax_multi_class_zero_loss_and_gradient(self, api_client: Any) -> None:
        # SparsemaxTest.test_multi_class_zero_loss and test_multi_class_gradient (of the mean):
        # projection_simplex(scores) - one_hot(labels) = 0 here
        scores = [[0.0, 1e5, 0.0], [1e5, 0.0, 0.0], [0.0, 0.0, 1e5]]
        body = {"y_true": [1, 0, 2], "y_pred": scores, "reduction": "none"}
        np.testing.assert_allclose(self._loss(api_client, "multiclass_sparsemax", body)["loss"], [0, 0, 0], atol=1e-4)
        document = self._loss(api_client, "multiclass_sparsemax", {**body, "reduction": "mean", "return_grad": True})
        np.testing.assert_allclose(document["grad"]["y_pred"], np.zeros((3, 3)), atol=1e-4)

    KERAS_TRUE: ClassVar[list[Any]] = [0, 1, 2]  # Keras's one-hot [[1, 0, 0], [0, 1, 0], [0, 0, 1]] as class indices
    KERAS_PRED: ClassVar[list[Any]] = [[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]]
    KERAS_LOGITS: ClassVar[list[Any]] = [[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]]

    def _focal(self, client: Any, from_logits: bool, **extra: Any) -> Any:
        body = {
            "y_true": self.KERAS_TRUE,
            "y_pred": self.KERAS_LOGITS if from_logits else self.KERAS_PRED,
            "params": {"alpha": 0.25, "gamma": 2.0, "from_logits": from_logits},
            **extra,
        }
        return self._loss(client, "sparse_categorical_focal", body)["loss"]

    def test_keras_categorical_focal_all_correct_unweighted(self, api_client: Any) -> None:
        body = {"y_true": [0, 1, 2], "y_pred": np.eye(3).tolist(), "params": {"alpha": 0.25, "from_logits": False}}
        assert self._loss(api_client, "sparse_categorical_focal", body)["loss"] == pytest.approx(0.0, abs=1e-3)
        body = {"y_true": [0, 1, 2], "y_pred": (10 * np.eye(3)).tolist(), "params": {"alpha": 0.25}}
        assert self._loss(api_client, "sparse_categorical_focal", body)["loss"] == pytest.approx(0.0, abs=1e-3)

    def test_keras_categorical_focal_unweighted_and_weighted(self, api_client: Any) -> None:
        # test_unweighted, test_scalar_weighted (sample_weight 2.3), test_sample_weighted ([1.2, 3.4, 5.6]);
        # Keras's sum_over_batch_size is this service's mean
        assert self._focal(api_client, False) == pytest.approx(0.02059, abs=1e-3)
        assert self._focal(api_client, True) == pytest.approx(0.000345, abs=1e-3)
        assert self._focal(api_client, False, sample_weight=[2.3] * 3) == pytest.approx(0.047368, abs=1e-3)
        assert self._focal(api_client, True, sample_weight=[2.3] * 3) == pytest.approx(0.000794, abs=1e-4)
        weights = [1.2, 3.4, 5.6]
        assert self._focal(api_client, False, sample_weight=weights) == pytest.approx(0.06987, abs=1e-3)
        assert self._focal(api_client, True, sample_weight=weights) == pytest.approx(0.001933, abs=1e-3)

    def test_keras_categorical_focal_no_reduction(self, api_client: Any) -> None:
        loss = self._focal(api_client, True, reduction="none")
        np.testing.assert_allclose(loss, [1.5096224e-09, 2.4136547e-11, 1.0360638e-03], rtol=1e-6, atol=1e-6)

    def test_kornia_focal_numeric_stability_and_the_gamma_0_identity(self, api_client: Any, torch: Any) -> None:
        # test_numeric_stability: logits 200 apart, the right class: 0 to kornia's tolerance (kornia rounds it to
        # 0; here it is the exact value: r = e^-200, 0.25 (r / (1 + r))^2 log1p(r) ~ 0.25 e^-600 per sample)
        body = {"y_true": [0, 1], "y_pred": [[100.0, -100.0], [-100.0, 100.0]], "return_grad": True}
        document = self._loss(api_client, "sparse_categorical_focal", {**body, "params": {"alpha": 0.25}})
        assert document["loss"] == pytest.approx(0.25 * math.exp(-600), rel=1e-12)
        np.testing.assert_allclose(document["grad"]["y_pred"], np.zeros((2, 2)), atol=1e-5)
        # test_value_same_as_torch_bce_loss, multi-class: gamma 0, alpha 1 is torch's cross_entropy
        logits = np.random.default_rng(5).uniform(0, 1, (2, 3))
        labels = [2, 0]
        body = {"y_true": labels, "y_pred": logits.tolist(), "params": {"gamma": 0.0}}
        expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
        assert self._loss(api_client, "sparse_categorical_focal", body)["loss"] == pytest.approx(expected, rel=1e-14)


class TestTritonClient:
    """``tritonclient.http`` against the real server, for two of the new losses: the answer is bit for bit
    what ``POST /losses/{name}`` gives on the same server."""

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls) -> Any:
        from tests.support.http import running_server

        with running_server() as url:
            yield url

    def test_focal_and_linear_layer_through_tritonclient(self, server: str) -> None:
        import httpx

        try:
            import tritonclient.http as triton
        except ImportError as error:  # pragma: no cover - depends on the environment
            skip_unless_available("tritonclient", f"tritonclient[http] cannot be imported ({error})")

        def tensor(name: str, array: np.ndarray, datatype: str) -> Any:
            item = triton.InferInput(name, list(array.shape), datatype)
            item.set_data_from_numpy(array, binary_data=True)
            return item

        client = triton.InferenceServerClient(server.removeprefix("http://"), network_timeout=30)
        try:
            focal_inputs, focal_params = HTTP_REQUESTS["sparse_categorical_focal"]
            linear_inputs, linear_params = HTTP_REQUESTS["linear_crossentropy"]
            scenarios = [
                ("sparse_categorical_focal", focal_inputs, focal_params, "alpha"),
                ("linear_crossentropy", linear_inputs, linear_params, "class_weight"),
                (
                    "linear_crossentropy",
                    {k: v for k, v in linear_inputs.items() if k != "linear_bias"},
                    linear_params,
                    "class_weight",
                ),
            ]
            with httpx.Client(base_url=server, timeout=30) as http:
                for name, inputs, params, array_param in scenarios:
                    spec = CATALOG[name]
                    tensors = []
                    for key, value in inputs.items():
                        integer = key == "y_true" and np.asarray(value).dtype.kind == "i"
                        array = np.asarray(value, dtype=np.int64 if integer else np.float64)
                        tensors.append(tensor(key, array, "INT64" if integer else "FP64"))
                    tensors.append(tensor(array_param, np.asarray(params[array_param], dtype=np.float64), "FP64"))
                    scalar = {k: v for k, v in params.items() if k != array_param}
                    result = client.infer(name, tensors, parameters={**scalar, "return_grad": True, "reduction": "sum"})
                    body = {**inputs, "params": params, "return_grad": True, "reduction": "sum"}
                    want = http.post(f"/losses/{name}", json=body).json()
                    assert result.as_numpy("loss").tobytes() == np.float64(want["loss"]).tobytes()
                    for key in [n for n in spec.differentiable if n in inputs]:
                        got = result.as_numpy(f"grad_{key}")
                        assert got.tobytes() == np.asarray(want["grad"][key], dtype=np.float64).tobytes(), key
        finally:
            client.close()
