"""The segmentation losses (``service/engine/losses/segmentation.py``), one test class per loss.

Keras is the reference (``keras.losses.dice`` and ``keras.losses.tversky`` over every non-batch
axis); the ``torch_reference`` is its formula written with torch ops, which pins values and,
through autograd, the gradients at 1e-9. Golden values were produced in a scratch venv with
Keras 3.15.1 on the JAX 0.10.2 backend (``KERAS_BACKEND=jax``, ``JAX_ENABLE_X64=1``,
``keras.config.set_floatx("float64")``), e.g. ``keras.losses.dice(y, p, axis=(1, 2))``; they reduce
with ``ops.sum`` (no float32 ``ops.mean``), so the numbers are float64-exact. Gradients marked
"JAX" are ``jax.grad`` of the same calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.engine import InvalidInput
from tests.support.engine import (
    Case,
    Inputs,
    LossTests,
    TorchParity,
    grad,
    probabilities,
    refused,
    soft_targets,
    torch_reduce,
    values,
)

T = dict[str, Any]
RTOL = 1e-13

Y_SEG = np.array([[0.0, 0.3, 1.0, 0.8, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0, 0.5, 0.2], [0, 0, 0, 0, 0, 0]]).reshape(3, 2, 3)
P_SEG = np.array([[0.1, 0.2, 0.9, 0.7, 0.05, 0.6], [0.3, 0.8, 0.4, 0.0, 1.0, 0.5], [0, 0, 0, 0, 0, 0]]).reshape(3, 2, 3)


def masks(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Hard or soft target masks and predicted probabilities in [0.05, 0.95]."""
    return {"y_true": soft_targets(rng, shape), "y_pred": probabilities(rng, shape)}


def hard_masks(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, 2, shape).astype(float), "y_pred": probabilities(rng, shape)}


def _example_sum(torch: Any, x: Any) -> Any:
    return torch.sum(x, dim=tuple(range(1, x.dim())))


def torch_dice(torch: Any, t: T, p: T, reduction: str) -> Any:
    y, x = t["y_true"], t["y_pred"]
    s = lambda v: _example_sum(torch, v)  # noqa: E731
    dice = 2.0 * s(y * x) / (s(y) + s(x) + p.get("eps", 1e-7))
    return torch_reduce(torch, 1 - dice, reduction)


def torch_tversky(torch: Any, t: T, p: T, reduction: str) -> Any:
    y, x = t["y_true"], t["y_pred"]
    s = lambda v: _example_sum(torch, v)  # noqa: E731
    intersection = s(y * x)
    # Keras >= 3.16 naming: alpha weighs the false positives (1 - y) x, beta the false negatives y (1 - x)
    denominator = (
        intersection + s((1 - y) * x) * p.get("alpha", 0.5) + s(y * (1 - x)) * p.get("beta", 0.5) + p.get("eps", 1e-7)
    )
    return torch_reduce(torch, 1 - intersection / denominator, reduction)


def _degenerate_masks(name: str, perfect: float) -> None:
    zeros, ones = np.zeros((1, 2, 2)), np.ones((1, 2, 2))
    # empty target and prediction: 1 - 0 / eps = 1, gradient 0 (y = 0, I = 0), and +0, not -0
    assert values(name, y_true=zeros, y_pred=zeros)[0] == 1.0
    g = grad(name, y_true=zeros, y_pred=zeros)
    np.testing.assert_array_equal(g, np.zeros((1, 2, 2)))
    assert not np.signbit(g).any()
    # a perfect prediction: a loss of eps over the mask's size, and a finite gradient
    assert values(name, y_true=ones, y_pred=ones)[0] == pytest.approx(perfect, rel=1e-6)
    assert np.isfinite(grad(name, y_true=ones, y_pred=ones)).all()


def _domain_and_shape(name: str) -> None:
    error = refused(name, y_true=[[0.0, 1.0]], y_pred=[[0.5, 1.5]])
    assert error.issues[0].location == ("y_pred", 0, 1)
    error = refused(name, y_true=[[-0.1, 1.0]], y_pred=[[0.5, 0.5]])
    assert error.issues[0].location == ("y_true", 0, 0)
    with pytest.raises(InvalidInput, match="rank"):
        values(name, y_true=[0.0, 1.0], y_pred=[0.5, 0.5])
    with pytest.raises(InvalidInput, match="shapes do not match"):
        values(name, y_true=[[0.0, 1.0]], y_pred=[[0.5, 0.5, 0.5]])


class TestDice(LossTests, TorchParity):
    cases = (
        Case("dice", masks, {}, max_rank=4, torch_reference=torch_dice),
        Case("dice", hard_masks, {"eps": 1.0}, torch_reference=torch_dice),
    )

    def test_by_hand(self) -> None:
        # y = [1, 1, 0, 0], p = [0, 1, 0, 1]: I = 1, D = 2 + 2 + 1e-7: 1 - 2 / (4 + 1e-7)
        v = values("dice", y_true=[[1.0, 1.0, 0.0, 0.0]], y_pred=[[0.0, 1.0, 0.0, 1.0]])
        assert v[0] == pytest.approx(1 - 2 / (4 + 1e-7), rel=1e-15)
        # gradient -2 (y - I / D) / D; with eps = 1 for round numbers, D = 5 and I / D = 0.2:
        # -2 ([1, 1, 0, 0] - 0.2) / 5 = [-0.32, -0.32, 0.08, 0.08]
        g = grad("dice", {"eps": 1.0}, y_true=[[1.0, 1.0, 0.0, 0.0]], y_pred=[[0.0, 1.0, 0.0, 1.0]])
        np.testing.assert_allclose(g, [[-0.32, -0.32, 0.08, 0.08]], rtol=1e-15)

    def test_matches_keras(self) -> None:
        # The keras.losses.dice docstring example, (2, 2, 2, 1) with axis=(1, 2, 3), in float64
        y = [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]]
        p = [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]]
        np.testing.assert_allclose(
            values("dice", y_true=y, y_pred=p), [0.5000000124999997, 0.7575757649219464], rtol=RTOL
        )
        # keras.losses.dice(Y_SEG, P_SEG, axis=(1, 2)); the all-zero example: 1 - 0 / eps = 1
        np.testing.assert_allclose(
            values("dice", y_true=Y_SEG, y_pred=P_SEG), [0.2495575354060614, 0.40350878239458277, 1.0], rtol=RTOL
        )
        # JAX gradient
        np.testing.assert_allclose(
            grad("dice", y_true=Y_SEG, y_pred=P_SEG),
            [
                [
                    [0.1328216727985436, 0.026626984412608884, -0.22116062182123877],
                    [-0.1503641628972823, 0.1328216727985436, -0.22116062182123877],
                ],
                [
                    [-0.24622960662660034, -0.24622960662660034, 0.10464758020011564],
                    [0.10464758020011564, -0.07079101321324235, 0.03447214283477244],
                ],
                [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
            ],
            rtol=RTOL,
        )

    def test_degenerate_masks(self) -> None:
        # perfect prediction: 1 - 8 / (8 + eps) = eps / (8 + eps)
        _degenerate_masks("dice", 1e-7 / 8)

    def test_domain_and_shape(self) -> None:
        _domain_and_shape("dice")


class TestTversky(LossTests, TorchParity):
    cases = (
        Case("tversky", masks, {}, max_rank=4, torch_reference=torch_tversky),
        Case("tversky", hard_masks, {"alpha": 0.7, "beta": 0.3}, torch_reference=torch_tversky),
        Case("tversky", masks, {"alpha": 0.0, "beta": 2.0, "eps": 0.5}, torch_reference=torch_tversky),
    )

    def test_matches_keras(self) -> None:
        # keras.losses.tversky(Y_SEG, P_SEG, alpha=b, beta=a, axis=(1, 2)) with Keras 3.15.1, whose naming is
        # swapped: it is this service's (Keras >= 3.16 naming) tversky with alpha=a, beta=b
        golden = {
            (0.5, 0.5): [0.24955754868822833, 0.4035087928593405, 1.0],
            (0.3, 0.7): [0.27768315919307796, 0.39068102542361904, 1.0],
            (2.0, 0.0): [0.2885906278996433, 0.6046511719848565, 1.0],
        }
        for (alpha, beta), expected in golden.items():
            np.testing.assert_allclose(
                values("tversky", {"alpha": alpha, "beta": beta}, y_true=Y_SEG, y_pred=P_SEG), expected, rtol=RTOL
            )
        # JAX gradient of Keras 3.15.1 with alpha 0.7, beta 0.3: here (Keras >= 3.16 naming) alpha 0.3, beta 0.7
        np.testing.assert_allclose(
            grad("tversky", {"alpha": 0.3, "beta": 0.7}, y_true=Y_SEG, y_pred=P_SEG),
            [
                [
                    [0.07383136111037156, -0.028383286173626836, -0.26688412983628973],
                    [-0.1987410316469575, 0.07383136111037156, -0.26688412983628973],
                ],
                [
                    [-0.2929047592604336, -0.2929047592604336, 0.06551816696096688],
                    [0.06551816696096688, -0.11369329614973336, -0.0061664182833132165],
                ],
                [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
            ],
            rtol=RTOL,
        )

    def test_argument_naming_and_dice(self) -> None:
        # y = [1, 1, 0, 0], p = [1, 0, 0, 0]: I = 1, false negatives sum(y (1 - p)) = 1, false positives
        # sum(p (1 - y)) = 0. beta weighs the false negatives (Keras >= 3.16 naming):
        # alpha 0, beta 1 -> 1 - 1 / (2 + eps); alpha 1, beta 0 -> 1 - 1 / (1 + eps)
        y, p = [[1.0, 1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0, 0.0]]
        assert values("tversky", {"alpha": 0.0, "beta": 1.0}, y_true=y, y_pred=p)[0] == pytest.approx(0.5, rel=1e-6)
        assert values("tversky", {"alpha": 1.0, "beta": 0.0}, y_true=y, y_pred=p)[0] == pytest.approx(1e-7, rel=1e-6)
        # alpha = beta = 0.5 is the Dice loss (I + (A + B) / 2 = (sum y + sum p) / 2)
        np.testing.assert_allclose(
            values("tversky", y_true=Y_SEG, y_pred=P_SEG), values("dice", y_true=Y_SEG, y_pred=P_SEG), rtol=1e-7
        )

    def test_degenerate_masks(self) -> None:
        # perfect prediction: 1 - 4 / (4 + eps)
        _degenerate_masks("tversky", 1e-7 / 4)

    def test_domain_and_shape(self) -> None:
        _domain_and_shape("tversky")
