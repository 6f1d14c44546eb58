"""The overlap losses (``service/engine/losses/overlap.py``): multiclass_dice, binary_dice, generalized_dice.

References, live (``tests/support/references.py``, JAX in float64): ``optax.losses.dice_loss``,
``binary_dice_loss`` and ``multiclass_generalized_dice_loss`` (optax 0.2.8), gradients by
``jax.grad``. ``binary_dice`` with probabilities, which ``binary_dice_loss`` refuses, is compared
with optax's ``dice_loss`` on the two channels ``[1 - p, p]`` (``apply_softmax=False``,
``reduction='none'``), whose class-1 column is the same formula on ``p``. optax's own tests
(``optax/losses/_segmentation_test.py``) are ported in ``TestOptaxSuite``: the same inputs (drawn
with ``jax.random`` as there) through ``POST /losses/{name}``.

Every maker keeps probabilities inside (0, 1) and logits moderate, so central differences hold;
the losses have no kinks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, NonFiniteResult, compute
from tests.support.api_parity import assert_served_alike, post, problem_pointers, v2_infer
from tests.support.engine import (
    ATOL,
    RTOL,
    Case,
    Inputs,
    LossTests,
    distribution,
    grad,
    one_hot_logits,
    refused,
    soft_targets,
    values,
)
from tests.support.optax_parity import OptaxParity


def soft_class_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Class-probability targets (rows summing to 1) and logits."""
    return {"y_true": distribution(rng, shape), "y_pred": rng.normal(0, 2, shape)}


def one_hot_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """One-hot targets and predicted class probabilities (softmax rows: they sum to 1)."""
    inputs = one_hot_logits(rng, shape)
    z = np.exp(inputs["y_pred"])
    return {"y_true": inputs["y_true"], "y_pred": z / z.sum(axis=-1, keepdims=True)}


def one_channel_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """C = 1: binary targets (hard or soft) and logits, (N, ..., 1)."""
    shape = (*shape[:-1], 1)
    return {"y_true": soft_targets(rng, shape), "y_pred": rng.normal(0, 2, shape)}


def mask_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": soft_targets(rng, shape), "y_pred": rng.normal(0, 2, shape)}


def mask_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": soft_targets(rng, shape), "y_pred": rng.uniform(0.05, 0.95, shape)}


def absent_class_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """One-hot targets that never use the last class: its frequency is 0 over the batch."""
    index = rng.integers(0, max(shape[-1] - 1, 1), shape[:-1])
    return {"y_true": np.eye(shape[-1])[index], "y_pred": rng.normal(0, 2, shape)}


def _dice_kwargs(jnp: Any, params: dict[str, Any]) -> dict[str, Any]:
    weights = params.get("class_weight")
    return {
        "class_weights": None if weights is None else jnp.asarray(weights),
        "smooth": params.get("smooth", 1.0),
        "alpha": params.get("alpha", 0.5),
        "beta": params.get("beta", 0.5),
        "apply_softmax": params.get("from_logits", True),
        "ignore_background": params.get("ignore_background", False),
    }


def optax_binary_dice_on_probabilities(optax: Any, jnp: Any, p: Any, t: Any, smooth: float) -> Any:
    """optax's dice_loss formula on probabilities ``p`` of one channel: the class-1 column of the two
    channels ``[1 - p, p]`` (rows sum to 1, as optax requires), the sums over every non-batch axis."""
    two = optax.losses.dice_loss(
        jnp.stack([1 - p, p], axis=-1),
        jnp.stack([1 - t, t], axis=-1),
        smooth=smooth,
        apply_softmax=False,
        reduction="none",
    )
    return two[..., 1]


class TestMulticlassDice(LossTests, OptaxParity):
    cases = (
        Case("multiclass_dice", one_hot_logits, max_rank=4),
        Case("multiclass_dice", soft_class_logits, {"alpha": 0.3, "beta": 0.8, "smooth": 0.5}),
        Case("multiclass_dice", one_hot_logits, {"class_weight": "per-class", "ignore_background": True}),
        Case("multiclass_dice", one_hot_logits, {"ignore_background": True, "alpha": 0.0, "beta": 2.0}),
        Case(
            "multiclass_dice", one_hot_probabilities, {"from_logits": False, "smooth": 0.0, "alpha": 1.0, "beta": 1.0}
        ),
        Case("multiclass_dice", one_hot_probabilities, {"from_logits": False, "class_weight": "per-class"}),
        Case("multiclass_dice", one_channel_logits, {"ignore_background": True, "smooth": 2.0}),
    )

    @staticmethod
    def optax_reference(optax: Any, jnp: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        return optax.losses.dice_loss(inputs["y_pred"], inputs["y_true"], **_dice_kwargs(jnp, params))

    def test_by_hand_from_logits(self) -> None:
        # One pixel, C = 2, logits 0: p = [1/2, 1/2], y = [1, 0], smooth 1, alpha = beta = 1/2.
        # Class 0: I = 1/2, P = 1/2, T = 1: D = 1/2 + 0 + 1/4 + 1 = 7/4, N = 3/2, l0 = 1 - 6/7 = 1/7.
        # Class 1: I = 0, P = 1/2, T = 0: D = 1/4 + 1 = 5/4, N = 1, l1 = 1 - 4/5 = 1/5. l = (1/7 + 1/5) / 2 = 6/35.
        y, z = [[1.0, 0.0]], [[0.0, 0.0]]
        assert values("multiclass_dice", y_true=y, y_pred=z)[0] == pytest.approx(6 / 35, rel=1e-15)
        # dl/dp_c = ((N/D) (1/2) - y) / D / 2: class 0 ((6/7)(1/2) - 1) / (7/4) / 2 = -8/49;
        # class 1 (4/5)(1/2) / (5/4) / 2 = 4/25. Softmax at p = [1/2, 1/2]:
        # dz0 = p0 (dp0 - (dp0 + dp1) / 2) = (dp0 - dp1) / 4 = -99/1225 = -dz1.
        np.testing.assert_allclose(
            grad("multiclass_dice", y_true=y, y_pred=z), [[-99 / 1225, 99 / 1225]], rtol=1e-14, atol=0
        )

    def test_by_hand_probabilities_ported_from_optax(self) -> None:
        """optax's test_dice_loss_weighting_parameters: probs (1, 2, 2), alpha 0.3, beta 0.7, smooth 1."""
        probs, targets = [[[0.1, 0.9], [0.8, 0.2]]], [[[0.0, 1.0], [1.0, 0.0]]]
        # Class 0: p = [0.1, 0.8], t = [0, 1]: I = 0.8, FP = P - I = 0.1, FN = T - I = 0.2:
        # D = 0.8 + 0.03 + 0.14 + 1 = 1.97, N = 1.8. Class 1: p = [0.9, 0.2], t = [1, 0]: I = 0.9, FP = 0.2,
        # FN = 0.1: D = 0.9 + 0.06 + 0.07 + 1 = 2.03, N = 1.9.
        expected = ((1 - 1.8 / 1.97) + (1 - 1.9 / 2.03)) / 2
        params = {"from_logits": False, "alpha": 0.3, "beta": 0.7}
        assert values("multiclass_dice", params, y_true=targets, y_pred=probs)[0] == pytest.approx(expected, rel=1e-14)
        # alpha = beta = 0.5: D0 = 0.8 + 0.05 + 0.1 + 1 = 1.95, D1 = 0.9 + 0.1 + 0.05 + 1 = 2.05
        expected = ((1 - 1.8 / 1.95) + (1 - 1.9 / 2.05)) / 2
        assert values("multiclass_dice", {"from_logits": False}, y_true=targets, y_pred=probs)[0] == pytest.approx(
            expected, rel=1e-14
        )

    def test_class_weight_and_background(self) -> None:
        """The mean is over the classes kept (C, or C - 1 without the background) of w_c l_c; the weights
        apply before the background is dropped (class_weight always has length C)."""
        rng = np.random.default_rng(5)
        inputs = one_hot_logits(rng, (3, 4, 3))
        per_class = np.stack(
            [values("multiclass_dice", {"class_weight": list(np.eye(3)[c] * 3)}, **inputs) for c in range(3)], axis=-1
        )  # l_c for each sample: a one-hot weight times C picks one class out of the mean
        weights = [0.5, 2.0, 1.5]
        np.testing.assert_allclose(values("multiclass_dice", **inputs), per_class.mean(-1), rtol=1e-14)
        np.testing.assert_allclose(
            values("multiclass_dice", {"class_weight": weights}, **inputs), (per_class * weights).mean(-1), rtol=1e-14
        )
        np.testing.assert_allclose(
            values("multiclass_dice", {"class_weight": weights, "ignore_background": True}, **inputs),
            (per_class * weights)[:, 1:].sum(-1) / 2,
            rtol=1e-14,
        )

    def test_one_channel_uses_the_sigmoid_and_ignores_ignore_background(self) -> None:
        rng = np.random.default_rng(8)
        inputs = one_channel_logits(rng, (3, 5, 1))
        with_background = values("multiclass_dice", **inputs)
        np.testing.assert_array_equal(values("multiclass_dice", {"ignore_background": True}, **inputs), with_background)
        # the same as binary_dice on the channel (sigmoid, alpha = beta = 1/2)
        np.testing.assert_allclose(with_background, values("binary_dice", **inputs), rtol=1e-15)

    def test_saturated_logits_are_finite(self) -> None:
        """Logits of ±1000: the softmax is exactly one-hot (max-shifted log-softmax), the loss is
        s / s = 0 for a perfect prediction and finite for a wrong one, with finite gradients (0 where the
        softmax saturates)."""
        y = np.eye(3)[[[0, 1, 2, 1]]]
        perfect = np.where(y == 1, 1000.0, -1000.0)
        assert values("multiclass_dice", y_true=y, y_pred=perfect)[0] == 0.0
        g = grad("multiclass_dice", y_true=y, y_pred=perfect)
        np.testing.assert_array_equal(g, np.zeros_like(g))
        wrong = -perfect
        v = values("multiclass_dice", y_true=y, y_pred=wrong)
        # the true class gets -1000, the two others +1000: p = 1/2 on each of them, exactly. Labels [0, 1, 2, 1]:
        # class 0: I = 0, P = 3/2, T = 1: 1 - 1 / (3/4 + 1/2 + 1) = 5/9; class 1: P = 1, T = 2: 1 - 1 / (1/2 + 1 + 1)
        # = 3/5; class 2: P = 3/2, T = 1: 5/9. Mean (5/9 + 3/5 + 5/9) / 3 = 77/135.
        assert v[0] == pytest.approx(77 / 135, rel=1e-15)
        assert np.isfinite(grad("multiclass_dice", y_true=y, y_pred=wrong)).all()

    def test_empty_class_with_smooth_zero_is_a_non_finite_result(self) -> None:
        """Probabilities with a class that neither the target nor the prediction has: with smooth 0 its
        ratio is 0/0, refused (422); with the default smooth it is s / s = 1, loss 0."""
        y = np.array([[[1.0, 0.0], [1.0, 0.0]]])
        p = np.array([[[1.0, 0.0], [1.0, 0.0]]])
        with pytest.raises(NonFiniteResult, match="not finite"):
            values("multiclass_dice", {"from_logits": False, "smooth": 0.0}, y_true=y, y_pred=p)
        assert values("multiclass_dice", {"from_logits": False}, y_true=y, y_pred=p)[0] == 0.0

    def test_probability_rows_must_sum_to_one(self) -> None:
        y = np.eye(3)[[[0, 1], [2, 0]]]
        p = np.array([[[0.2, 0.3, 0.5], [0.1, 0.1, 0.1]], [[0.5, 0.5, 0.0], [0.3, 0.3, 0.4 + 2e-5]]])
        error = refused("multiclass_dice", {"from_logits": False}, y_true=y, y_pred=p)
        assert "do not sum to 1" in error.detail
        assert [issue.location for issue in error.issues] == [("y_pred", 0, 1), ("y_pred", 1, 1)]
        # within optax's tolerance (|sum - 1| <= 1e-8 + 1e-5): accepted
        p[0, 1] = [0.2, 0.2, 0.6 + 9e-6]
        p[1, 1, 2] = 0.4 + 9e-6
        assert np.isfinite(values("multiclass_dice", {"from_logits": False}, y_true=y, y_pred=p)).all()
        # one channel of probabilities sums to 1 only where p = 1 (binary_dice takes one-channel probabilities)
        error = refused("multiclass_dice", {"from_logits": False}, y_true=[[1.0], [0.0]], y_pred=[[0.7], [1.0]])
        assert [issue.location for issue in error.issues] == [("y_pred", 0)]

    def test_domains_and_shapes(self) -> None:
        z = np.zeros((2, 3))
        assert refused("multiclass_dice", y_true=[[0.0, 1.5, 0.0], [1.0, 0.0, 0.0]], y_pred=z).issues[0].location == (
            "y_true",
            0,
            1,
        )
        error = refused("multiclass_dice", {"from_logits": False}, y_true=np.eye(3)[:2], y_pred=[[1.2, -0.2, 0.0]] * 2)
        assert error.issues[0].location == ("y_pred", 0, 0)
        error = refused("multiclass_dice", {"class_weight": [1.0, 2.0]}, y_true=np.eye(3)[:2], y_pred=z)
        assert error.issues[0].location == ("class_weight",) and error.issues[0].argument == "param"
        with pytest.raises(InvalidInput, match="rank"):
            values("multiclass_dice", y_true=[1.0, 0.0], y_pred=[0.5, 0.5])
        with pytest.raises(InvalidInput, match="shapes do not match"):
            values("multiclass_dice", y_true=np.eye(3)[:2], y_pred=np.zeros((2, 2)))


class TestBinaryDice(LossTests, OptaxParity):
    parity_shapes = ((5,), (3, 4), (2, 3, 4))  # (N,) too: optax's binary_dice_loss takes it
    cases = (
        Case("binary_dice", mask_logits, min_rank=1, max_rank=4),
        Case("binary_dice", mask_logits, {"smooth": 0.25}),
        Case("binary_dice", mask_probabilities, {"from_logits": False}, min_rank=1),
        Case("binary_dice", mask_probabilities, {"from_logits": False, "smooth": 0.0}),
    )

    @staticmethod
    def optax_reference(optax: Any, jnp: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        smooth = params.get("smooth", 1.0)
        if params.get("from_logits", True):
            return optax.losses.binary_dice_loss(inputs["y_pred"], inputs["y_true"], smooth=smooth)
        return optax_binary_dice_on_probabilities(optax, jnp, inputs["y_pred"], inputs["y_true"], smooth)

    def test_by_hand(self) -> None:
        # logits 0: p = 1/2; y = [1, 0, 1, 1]: I = 3/2, P = 2, T = 3; D = 3/2 + 1/4 + 3/4 + 1 = 7/2, N = 5/2:
        # l = 1 - 5/7 = 2/7. dl/dp = ((N/D)/2 - y) / D = (5/14 - y) * 2/7: -9/49 where y = 1, 5/49 where y = 0;
        # times the sigmoid's slope 1/4.
        y, z = [[1.0, 0.0, 1.0, 1.0]], [[0.0, 0.0, 0.0, 0.0]]
        assert values("binary_dice", y_true=y, y_pred=z)[0] == pytest.approx(2 / 7, rel=1e-15)
        np.testing.assert_allclose(
            grad("binary_dice", y_true=y, y_pred=z), [[-9 / 196, 5 / 196, -9 / 196, -9 / 196]], rtol=1e-14
        )
        # probabilities as given: p = [1, 0.5, 0, 1], y = [1, 1, 0, 0], smooth 0: I = 1.5, P = 2.5, T = 2:
        # 1 - 1.5 / (1.5 + 0.5 + 0.25) = 1/3
        assert values(
            "binary_dice",
            {"from_logits": False, "smooth": 0.0},
            y_true=[[1.0, 1.0, 0.0, 0.0]],
            y_pred=[[1.0, 0.5, 0.0, 1.0]],
        )[0] == pytest.approx(1 / 3, rel=1e-15)

    def test_every_non_batch_axis_is_summed_and_rank_one_is_per_element(self) -> None:
        rng = np.random.default_rng(3)
        inputs = mask_logits(rng, (2, 3, 4))
        flat = {k: v.reshape(2, 12) for k, v in inputs.items()}
        np.testing.assert_allclose(values("binary_dice", **inputs), values("binary_dice", **flat), rtol=1e-15)
        # (N,): each element is its own sample, as optax's binary_dice_loss on (N,)
        row = {k: v[:, 0, 0] for k, v in inputs.items()}
        per_element = {k: v[:, None] for k, v in row.items()}
        np.testing.assert_array_equal(values("binary_dice", **row), values("binary_dice", **per_element))

    def test_empty_masks(self) -> None:
        """An empty target predicted empty (probabilities): s / s, loss 0, gradient s-independent and finite;
        with smooth 0 it is 0/0, refused (422). From logits the prediction is never exactly empty."""
        zeros = np.zeros((1, 2, 2))
        params = {"from_logits": False}
        assert values("binary_dice", params, y_true=zeros, y_pred=zeros)[0] == 0.0
        # dl/dp = ((N/D)/2 - y)/D = (1/2) / 1 with N = D = s = 1
        np.testing.assert_array_equal(grad("binary_dice", params, y_true=zeros, y_pred=zeros), np.full((1, 2, 2), 0.5))
        with pytest.raises(NonFiniteResult):
            values("binary_dice", {"from_logits": False, "smooth": 0.0}, y_true=zeros, y_pred=zeros)

    def test_saturated_logits(self) -> None:
        """±1000: sigmoid exactly 0 or 1, its slope sigmoid(z) sigmoid(-z) exactly 0: finite value, zero gradient."""
        y = np.array([[1.0, 0.0, 1.0]])
        assert values("binary_dice", y_true=y, y_pred=[[1000.0, -1000.0, 1000.0]])[0] == 0.0
        # all wrong: I = 0, P = 1, T = 2: 1 - 1 / (0.5 + 1 + 1) = 0.6
        wrong = [[-1000.0, 1000.0, -1000.0]]
        assert values("binary_dice", y_true=y, y_pred=wrong)[0] == pytest.approx(0.6, rel=1e-15)
        np.testing.assert_array_equal(grad("binary_dice", y_true=y, y_pred=wrong), [[0.0, 0.0, 0.0]])

    def test_domains(self) -> None:
        assert refused("binary_dice", y_true=[[0.5, 1.1]], y_pred=[[0.0, 0.0]]).issues[0].location == ("y_true", 0, 1)
        error = refused("binary_dice", {"from_logits": False}, y_true=[[0.5, 1.0]], y_pred=[[0.2, -0.1]])
        assert error.issues[0].location == ("y_pred", 0, 1)
        with pytest.raises(InvalidInput, match="shapes do not match"):
            values("binary_dice", y_true=[[0.5, 1.0]], y_pred=[0.2, 0.1])


class TestGeneralizedDice(LossTests, OptaxParity):
    cases = (
        Case("generalized_dice", one_hot_logits, max_rank=4),
        Case("generalized_dice", one_hot_logits, {"ignore_background": True, "smooth": 0.5}),
        Case("generalized_dice", one_hot_probabilities, {"from_logits": False}),
        Case("generalized_dice", absent_class_logits, {"smooth": 2.0}),
        Case("generalized_dice", one_channel_logits, {"ignore_background": True}),
    )

    @staticmethod
    def optax_reference(optax: Any, jnp: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        return optax.losses.multiclass_generalized_dice_loss(
            inputs["y_pred"],
            inputs["y_true"],
            smooth=params.get("smooth", 1.0),
            apply_softmax=params.get("from_logits", True),
            ignore_background=params.get("ignore_background", False),
        )

    def test_by_hand(self) -> None:
        # One sample, two pixels, y = [[1, 0], [0, 1]]: f = [1, 1], equal weights 1. p = [[3/4, 1/4], [1/4, 3/4]]:
        # each class I = 3/4, P = T = 1: 1 - (7/4) / (3/4 + 1/8 + 1/8 + 1) = 1/8.
        y, p = [[[1.0, 0.0], [0.0, 1.0]]], [[[0.75, 0.25], [0.25, 0.75]]]
        assert values("generalized_dice", {"from_logits": False}, "mean", y_true=y, y_pred=p) == pytest.approx(0.125)
        # Class frequencies f = [3, 1] over a batch of two: w = 1 / (f^2 + 1e-7), normalised to sum to C = 2.
        y = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])
        p = np.array([[[0.75, 0.25], [0.5, 0.5]], [[1.0, 0.0], [0.25, 0.75]]])
        raw = 1 / (np.array([3.0, 1.0]) ** 2 + 1e-7)
        w = raw / raw.sum() * 2
        per_class = np.stack(
            [
                values(
                    "multiclass_dice",
                    {"from_logits": False, "class_weight": list(np.eye(2)[c] * 2)},
                    y_true=y,
                    y_pred=p,
                )
                for c in range(2)
            ],
            axis=-1,
        )  # Dice per sample and class
        expected = float(np.mean(per_class * w))
        assert values("generalized_dice", {"from_logits": False}, "mean", y_true=y, y_pred=p) == pytest.approx(
            expected, rel=1e-14
        )
        # without the background: the same weights, mean over the N (C - 1) kept values
        assert values(
            "generalized_dice", {"from_logits": False, "ignore_background": True}, "mean", y_true=y, y_pred=p
        ) == pytest.approx(float(np.mean((per_class * w)[:, 1:])), rel=1e-14)

    def test_the_batch_is_coupled(self) -> None:
        """The class weights come from the whole batch: a sample's contribution changes with the others."""
        rng = np.random.default_rng(2)
        inputs = one_hot_logits(rng, (4, 5, 3))
        whole = values("generalized_dice", reduction="mean", **inputs)
        halves = [
            values("generalized_dice", reduction="mean", **{k: v[s] for k, v in inputs.items()})
            for s in (slice(0, 2), slice(2, 4))
        ]
        assert whole != pytest.approx(np.mean(halves), rel=1e-6)

    def test_absent_class_dominates_the_weights(self) -> None:
        """f_c = 0 gives the raw weight 1 / 1e-7 = 1e7: after normalisation nearly all of C, as in optax."""
        y = np.eye(3)[[[0, 1, 0, 1]]]  # class 2 never occurs
        z = np.zeros((1, 4, 3))
        # classes 0 and 1: f = 2, raw weight 1 / (4 + 1e-7); class 2: 1e7. p = 1/3 everywhere:
        # class 2: I = 0, P = 4/3, T = 0: 1 - 1 / (2/3 + 1) = 2/5; classes 0, 1: I = 2/3, P = 4/3, T = 2:
        # 1 - (5/3) / (2/3 + 1/3 + 2/3 + 1) = 3/8.
        raw = np.array([1 / (4 + 1e-7), 1 / (4 + 1e-7), 1 / 1e-7])
        w = raw / raw.sum() * 3
        expected = (w[0] * 3 / 8 + w[1] * 3 / 8 + w[2] * 2 / 5) / 3
        assert values("generalized_dice", reduction="mean", y_true=y, y_pred=z) == pytest.approx(expected, rel=1e-14)

    def test_scalar_reductions_and_weights_are_refused(self) -> None:
        inputs = one_hot_logits(np.random.default_rng(0), (2, 3))
        for reduction in ("sum", "none"):
            with pytest.raises(InvalidInput, match="does not support reduction") as error:
                compute(CATALOG["generalized_dice"], inputs, reduction=reduction)  # type: ignore[arg-type]
            assert error.value.issues[0].location == ("reduction",)
        with pytest.raises(InvalidInput, match="takes no sample_weight"):
            compute(CATALOG["generalized_dice"], inputs, sample_weight=np.ones(2))


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[labels]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class TestOptaxSuite:
    """optax's ``_segmentation_test.py``, ported through ``POST /losses/{name}``: its inputs (the same
    shapes and distributions; drawn with NumPy, as ``jax.random`` takes seconds per new shape to compile
    its generator), its assertions, and optax's own results on the same arrays, live. Not portable: the
    jit/vmap tests (no such thing over HTTP); optax's ``reduction='none'`` per-class output (the contract's
    ``none`` is per sample); inputs of different ranks (``(N, H, W)`` against ``(N, H, W, 1)``: the contract
    wants equal shapes, a 422 here)."""

    rng = np.random.default_rng(42)

    @staticmethod
    def served(
        client: Any, name: str, y_true: Any, y_pred: Any, params: dict | None = None, reduction: str = "none"
    ) -> np.ndarray:
        body = {"y_true": np.asarray(y_true, dtype=np.float64), "y_pred": np.asarray(y_pred, dtype=np.float64)}
        response = post(client, name, {**body, "params": params or {}, "reduction": reduction})
        assert response.status_code == 200, response.text
        return np.asarray(response.json()["loss"])

    def normal(self, *shape: int) -> np.ndarray:
        return self.rng.normal(size=shape)

    def bernoulli(self, p: float, *shape: int) -> np.ndarray:
        return (self.rng.uniform(size=shape) < p).astype(float)

    def one_hot(self, *shape: int) -> np.ndarray:
        return _one_hot(self.rng.integers(0, shape[-1], shape[:-1]), shape[-1])

    def test_dice_loss_shapes(self, api_client: Any, optax: Any) -> None:
        for shape in ((4, 64, 64, 1), (2, 32, 32, 32, 1), (1, 128, 128, 1)):
            predictions, targets = self.normal(*shape), self.bernoulli(0.5, *shape)
            loss = self.served(api_client, "multiclass_dice", targets, predictions)
            assert loss.shape == shape[:1] and np.isfinite(loss).all()
            np.testing.assert_allclose(loss, optax.losses.dice_loss(predictions, targets), rtol=RTOL, atol=ATOL)
        for shape in ((4, 64, 64, 3), (2, 32, 32, 5), (1, 128, 128, 10)):
            predictions, targets = self.normal(*shape), self.one_hot(*shape)
            loss = self.served(api_client, "multiclass_dice", targets, predictions)
            assert loss.shape == shape[:1] and np.isfinite(loss).all()
            np.testing.assert_allclose(loss, optax.losses.dice_loss(predictions, targets), rtol=RTOL, atol=ATOL)

    def test_perfect_and_no_overlap(self, api_client: Any) -> None:
        targets = np.array([[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]])[..., None]
        perfect = np.where(targets, 10.0, -10.0)
        assert np.mean(self.served(api_client, "multiclass_dice", targets, perfect)) < 0.01
        assert np.mean(self.served(api_client, "multiclass_dice", targets, -perfect)) > 0.7
        targets = _one_hot(np.array([[0, 1, 2], [1, 0, 2], [2, 2, 1]]), 3)[None]
        assert np.mean(self.served(api_client, "multiclass_dice", targets, np.where(targets, 10.0, -10.0))) < 0.01

    def test_loss_bounds(self, api_client: Any) -> None:
        for _ in range(10):
            loss = self.served(
                api_client, "multiclass_dice", self.bernoulli(0.3, 2, 16, 16, 1), self.normal(2, 16, 16, 1)
            )
            assert ((loss >= 0) & (loss <= 1)).all()
            loss = self.served(api_client, "multiclass_dice", self.one_hot(2, 16, 16, 4), self.normal(2, 16, 16, 4))
            assert ((loss >= 0) & (loss <= 1)).all()

    @pytest.mark.parametrize("smooth", [0.0, 1.0, 10.0])
    def test_smoothing_parameter(self, api_client: Any, optax: Any, smooth: float) -> None:
        predictions, targets = self.normal(2, 8, 8, 1), self.bernoulli(0.5, 2, 8, 8, 1)
        loss = self.served(api_client, "multiclass_dice", targets, predictions, {"smooth": smooth})
        assert np.isfinite(loss).all() and ((loss >= 0) & (loss <= 1)).all()
        expected = optax.losses.dice_loss(predictions, targets, smooth=smooth)
        np.testing.assert_allclose(loss, expected, rtol=RTOL, atol=ATOL)

    def test_class_weights(self, api_client: Any) -> None:
        predictions, targets = self.normal(2, 16, 16, 3), self.one_hot(2, 16, 16, 3)
        unweighted = self.served(api_client, "multiclass_dice", targets, predictions)
        equal = self.served(api_client, "multiclass_dice", targets, predictions, {"class_weight": [1.0, 1.0, 1.0]})
        np.testing.assert_allclose(equal, unweighted, rtol=1e-15)
        custom = self.served(api_client, "multiclass_dice", targets, predictions, {"class_weight": [1.0, 2.0, 0.5]})
        assert not np.allclose(custom, unweighted)

    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_reduction_modes(self, api_client: Any, reduction: str) -> None:
        """optax's reduction is over classes; the contract's over samples: ``none`` is (N,) here."""
        predictions, targets = self.normal(2, 16, 16, 3), self.one_hot(2, 16, 16, 3)
        loss = self.served(api_client, "multiclass_dice", targets, predictions, reduction=reduction)
        assert loss.shape == ((2,) if reduction == "none" else ()) and np.isfinite(loss).all()

    def test_gradient_computation(self, api_client: Any, jax: Any, optax: Any) -> None:
        predictions, targets = self.normal(1, 8, 8, 1), self.bernoulli(0.3, 1, 8, 8, 1)
        body = {"y_true": targets, "y_pred": predictions, "return_grad": True}
        gradient = np.asarray(post(api_client, "multiclass_dice", body).json()["grad"]["y_pred"])
        assert gradient.shape == predictions.shape and np.isfinite(gradient).all() and (gradient != 0).any()
        expected = jax.grad(lambda x: jax.numpy.mean(optax.losses.dice_loss(x, targets)))(predictions)
        np.testing.assert_allclose(gradient, expected, rtol=RTOL, atol=ATOL)

    def test_numerical_stability_and_edge_cases(self, api_client: Any) -> None:
        ones = np.ones((1, 4, 4, 1))
        assert np.isfinite(self.served(api_client, "multiclass_dice", ones, np.full((1, 4, 4, 1), 100.0))).all()
        assert np.isfinite(self.served(api_client, "multiclass_dice", ones, np.full((1, 4, 4, 1), -100.0))).all()
        predictions = self.normal(1, 4, 4, 1)
        assert np.isfinite(self.served(api_client, "multiclass_dice", np.zeros((1, 4, 4, 1)), predictions)).all()
        assert np.isfinite(self.served(api_client, "multiclass_dice", ones, predictions)).all()

    def test_apply_softmax_flag(self, api_client: Any) -> None:
        logits, targets = self.normal(1, 8, 8, 3), self.one_hot(1, 8, 8, 3)
        from_logits = self.served(api_client, "multiclass_dice", targets, logits)
        given = self.served(api_client, "multiclass_dice", targets, _softmax(logits), {"from_logits": False})
        np.testing.assert_allclose(from_logits, given, rtol=1e-6)

    def test_binary_dice_loss_convenience(self, api_client: Any, optax: Any) -> None:
        predictions, targets = self.normal(2, 16, 16), self.bernoulli(0.3, 2, 16, 16)
        loss = self.served(api_client, "binary_dice", targets, predictions)
        assert loss.shape == (2,) and np.isfinite(loss).all()
        with_channel = self.served(api_client, "binary_dice", targets[..., None], predictions[..., None])
        np.testing.assert_allclose(loss, with_channel, rtol=1e-5)
        np.testing.assert_allclose(loss, optax.losses.binary_dice_loss(predictions, targets), rtol=RTOL, atol=ATOL)

    def test_multiclass_generalized_dice_loss(self, api_client: Any, optax: Any) -> None:
        predictions = self.normal(4, 32, 32, 3)
        targets = _one_hot(self.rng.choice(3, (4, 32, 32), p=[0.8, 0.15, 0.05]), 3)  # imbalanced classes
        loss = self.served(api_client, "generalized_dice", targets, predictions, reduction="mean")
        assert loss.shape == () and np.isfinite(loss)
        regular = self.served(api_client, "multiclass_dice", targets, predictions, reduction="mean")
        assert not np.allclose(loss, regular)
        expected = optax.losses.multiclass_generalized_dice_loss(predictions, targets)
        np.testing.assert_allclose(loss, expected, rtol=RTOL, atol=ATOL)

    def test_shape_mismatch_error(self, api_client: Any) -> None:
        body = {"y_true": self.bernoulli(0.5, 2, 16, 16, 2), "y_pred": self.normal(2, 16, 16, 3)}
        assert problem_pointers(post(api_client, "multiclass_dice", body)) == ["/y_true"]

    def test_ignore_background_parameter(self, api_client: Any) -> None:
        """optax compares its per-class losses; here the per-sample mean over classes gives the same relation:
        3 mean(l_0, l_1, l_2) = 2 mean(l_1, l_2) + l_0, and l_0 is the loss with class_weight [3, 0, 0]."""
        predictions, targets = self.normal(2, 8, 8, 3), self.one_hot(2, 8, 8, 3)
        with_background = self.served(api_client, "multiclass_dice", targets, predictions)
        without = self.served(api_client, "multiclass_dice", targets, predictions, {"ignore_background": True})
        background = self.served(api_client, "multiclass_dice", targets, predictions, {"class_weight": [3.0, 0.0, 0.0]})
        np.testing.assert_allclose(3 * with_background, 2 * without + background, rtol=1e-13)
        predictions, targets = self.normal(2, 8, 8, 1), self.bernoulli(0.5, 2, 8, 8, 1)
        np.testing.assert_array_equal(
            self.served(api_client, "multiclass_dice", targets, predictions, {"ignore_background": True}),
            self.served(api_client, "multiclass_dice", targets, predictions),
        )

    def test_improved_shape_handling_matching_shapes(self, api_client: Any) -> None:
        predictions, targets = self.normal(2, 8, 8, 1), self.bernoulli(0.5, 2, 8, 8, 1)
        loss = self.served(api_client, "multiclass_dice", targets, predictions)
        assert loss.shape == (2,) and np.isfinite(loss).all()
        body = {"y_true": targets[..., 0], "y_pred": predictions}
        assert problem_pointers(post(api_client, "multiclass_dice", body)) == ["/y_true"]

    def test_probability_validation(self, api_client: Any) -> None:
        valid = _softmax(self.normal(2, 8, 8, 3))
        targets = self.bernoulli(0.3, 2, 8, 8, 3)  # multi-hot targets are accepted, as in optax
        assert np.isfinite(self.served(api_client, "multiclass_dice", targets, valid, {"from_logits": False})).all()
        invalid = self.rng.uniform(size=(2, 8, 8, 3))
        body = {"y_true": targets, "y_pred": invalid, "params": {"from_logits": False}}
        response = post(api_client, "multiclass_dice", body)
        assert problem_pointers(response)[0].startswith("/y_pred/")
        assert "sum to 1" in response.json()["detail"]

    def test_generalized_dice_loss_ignore_background(self, api_client: Any, optax: Any) -> None:
        predictions, targets = self.normal(2, 16, 16, 4), self.one_hot(2, 16, 16, 4)
        with_background = self.served(api_client, "generalized_dice", targets, predictions, reduction="mean")
        without = self.served(
            api_client, "generalized_dice", targets, predictions, {"ignore_background": True}, reduction="mean"
        )
        assert not np.allclose(with_background, without) and np.isfinite([with_background, without]).all()
        expected = optax.losses.multiclass_generalized_dice_loss(predictions, targets, ignore_background=True)
        np.testing.assert_allclose(without, expected, rtol=RTOL, atol=ATOL)


class TestOverHttp:
    """Each loss through ``POST /losses/{name}`` and ``/v2/models/{name}/infer``, and the API's 422s."""

    def test_served_alike(self, api_client: Any) -> None:
        rng = np.random.default_rng(17)
        logits = one_hot_logits(rng, (3, 4, 3))
        probabilities = one_hot_probabilities(rng, (3, 4, 3))
        assert_served_alike(api_client, "multiclass_dice", logits, {"class_weight": [0.5, 1.0, 2.0], "alpha": 0.3})
        assert_served_alike(
            api_client,
            "multiclass_dice",
            probabilities,
            {"from_logits": False, "ignore_background": True},
            reduction="none",
            sample_weight=np.array([1.0, 0.5, 2.0]),
        )
        assert_served_alike(api_client, "binary_dice", mask_logits(rng, (2, 5)), {"smooth": 0.5}, reduction="sum")
        assert_served_alike(api_client, "binary_dice", mask_probabilities(rng, (3,)), {"from_logits": False})
        document = assert_served_alike(api_client, "generalized_dice", logits, {"ignore_background": True})
        assert isinstance(document["loss"], float)

    def test_scalar_loss_refusals_point_at_the_field(self, api_client: Any) -> None:
        inputs = one_hot_logits(np.random.default_rng(1), (2, 3))
        assert problem_pointers(post(api_client, "generalized_dice", {**inputs, "reduction": "sum"})) == ["/reduction"]
        assert problem_pointers(post(api_client, "generalized_dice", {**inputs, "reduction": "none"})) == ["/reduction"]
        response = post(api_client, "generalized_dice", {**inputs, "sample_weight": [1.0, 2.0]})
        assert problem_pointers(response) == ["/sample_weight"]
        entry = api_client.get("/losses/generalized_dice").json()
        assert entry["batch"] is True and entry["scalar"] is True and entry["reductions"] == ["mean"]
        status, error = v2_infer(api_client, "generalized_dice", {**inputs, "sample_weight": [1.0, 2.0]}, {})
        assert status == 400 and "sample_weight" in str(error)

    def test_invalid_params_point_at_the_param(self, api_client: Any) -> None:
        inputs = one_hot_logits(np.random.default_rng(1), (2, 3))
        for params, pointer in (
            ({"smooth": -1.0}, "/params/smooth"),
            ({"alpha": -0.5}, "/params/alpha"),
            ({"class_weight": [1.0, 2.0]}, "/params/class_weight"),
            ({"ignore_background": 1}, "/params/ignore_background"),
            ({"gamma": 2.0}, "/params/gamma"),
        ):
            assert problem_pointers(post(api_client, "multiclass_dice", {**inputs, "params": params})) == [pointer]
        body = {"y_true": [[1.0, 0.0, 0.0]], "y_pred": [[0.5, 0.4, 0.0]], "params": {"from_logits": False}}
        assert problem_pointers(post(api_client, "multiclass_dice", body)) == ["/y_pred/0"]
        assert problem_pointers(post(api_client, "binary_dice", {"y_true": [[2.0]], "y_pred": [[0.0]]})) == [
            "/y_true/0/0"
        ]
