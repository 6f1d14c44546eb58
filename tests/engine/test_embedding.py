"""The embedding losses (``service/engine/losses/embedding.py``), one test class per loss.

PyTorch is the reference of every loss here. Makers keep every input away from the kinks: the
cosine at least 0.05 from the margin, ranking and hinge arguments at least 0.1 from it, triplet
distances at least 0.1 from the margin and, under ``swap``, the two negative distances at least
0.05 apart; the kinks themselves, zero and huge vectors are tested against torch's autograd.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.engine import InvalidInput
from service.engine.losses.embedding import COSINE_EPSILON
from tests.support.engine import (
    Case,
    Inputs,
    LossTests,
    Maker,
    TorchParity,
    grad,
    grads,
    margin_away_from_kink,
    matches_torch,
    redraw_until,
    refused,
    run,
    values,
)

T = dict[str, Any]
E = COSINE_EPSILON


def _rows(shape: tuple[int, ...]) -> tuple[int, int]:
    """The maker's ``shape`` as a batch of vectors ``(N, D)``: the first axis, and the others flattened."""
    return shape[0], int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1


# cosine_embedding


def cosine_pairs(margin: float) -> Maker:
    """Pairs of vectors ``(N, D)`` (D >= 2 so that the cosine varies), labels -1/1, and for
    ``y = -1`` a cosine at least 0.05 from ``margin``."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        n, d = _rows(shape)
        d = max(d, 2)

        def draw() -> Inputs:
            return {
                "x1": rng.normal(0, 1, (n, d)),
                "x2": rng.normal(0, 1, (n, d)),
                "y_true": rng.choice([-1.0, 1.0], n),
            }

        def ok(inputs: Inputs) -> np.ndarray:
            x1, x2 = inputs["x1"], inputs["x2"]
            cos = np.sum(x1 * x2, -1) / np.sqrt(np.sum(x1 * x1, -1) * np.sum(x2 * x2, -1))
            return (inputs["y_true"] == 1) | (np.abs(cos - margin) >= 0.05)

        return redraw_until(draw, ok)

    return make


def torch_cosine_embedding(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.cosine_embedding_loss(
        t["x1"], t["x2"], t["y_true"], margin=p.get("margin", 0.0), reduction=reduction
    )


class TestCosineEmbedding(LossTests, TorchParity):
    cases = (
        Case("cosine_embedding", cosine_pairs(0.0), torch_reference=torch_cosine_embedding),
        Case("cosine_embedding", cosine_pairs(0.3), {"margin": 0.3}, torch_reference=torch_cosine_embedding),
        Case("cosine_embedding", cosine_pairs(-0.4), {"margin": -0.4}, torch_reference=torch_cosine_embedding),
    )

    def test_cosine_epsilon_is_pytorchs_float32_constant(self, torch: Any) -> None:
        assert E == 9.999999960041972e-13  # float(np.float32(1e-12)), ATen's ``constexpr float EPSILON``
        # |x1|^2 = 1e-12 is comparable to E: the float32 rounding of E shows in the 9th digit
        x1, x2 = [[1e-6, 0.0]], [[1.0, 0.0]]
        expected = torch.nn.functional.cosine_embedding_loss(
            *(torch.tensor(v, dtype=torch.float64) for v in (x1, x2, [1.0])), reduction="sum"
        )
        ours = values("cosine_embedding", reduction="sum", x1=x1, x2=x2, y_true=[1.0])
        assert ours == pytest.approx(expected.item(), rel=1e-15)
        assert ours == pytest.approx(1 - 1e-6 / math.sqrt((1e-12 + E) * (1 + E)), rel=1e-15)

    def test_by_hand(self) -> None:
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
        # and for x2: -(x1 / sqrt(m1 m2) - cos x2 / m2) ~ -([1, 0] / sqrt(2) - [1, 1] / (2 sqrt(2)))
        #   = [-1, 1] / (2 sqrt 2)
        np.testing.assert_allclose(g["x2"], [[-1 / (2 * math.sqrt(2)), 1 / (2 * math.sqrt(2))]], rtol=1e-11)

    def test_kinks_match_pytorch(self, torch: Any) -> None:
        def loss(margin: float) -> Any:
            def reference(x1: Any, x2: Any, y_true: Any) -> Any:
                return torch.nn.functional.cosine_embedding_loss(x1, x2, y_true, margin=margin, reduction="sum")

            return reference

        # y = -1 and cos == margin: clamp_min passes the gradient. cos([1, 0], [0, 1]) = 0 exactly.
        result = matches_torch(
            torch,
            "cosine_embedding",
            loss(0.0),
            {"margin": 0.0},
            exact=True,
            x1=[[1.0, 0.0]],
            x2=[[0.0, 1.0]],
            y_true=[-1.0],
        )
        assert result.grads is not None
        assert np.abs(result.grads["x1"]).sum() > 0
        # cos([1, 0], [1, 0]) = 1 / (1 + E) (the same ops in both), used as the margin
        cos = 1 / math.sqrt((1 + E) * (1 + E))
        matches_torch(
            torch, "cosine_embedding", loss(cos), {"margin": cos}, x1=[[1.0, 0.0]], x2=[[1.0, 0.0]], y_true=[-1.0]
        )

    def test_zero_and_huge_vectors(self, torch: Any) -> None:
        def reference(x1: Any, x2: Any, y_true: Any) -> Any:
            return torch.nn.functional.cosine_embedding_loss(x1, x2, y_true, reduction="sum")

        # A zero vector: cos = 0 / sqrt(E (14 + E)) = 0, loss 1 for y = 1; the gradient
        # -x2 / sqrt(E (14 + E)) is large but finite, as in PyTorch
        matches_torch(
            torch,
            "cosine_embedding",
            reference,
            x1=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
            x2=[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]],
            y_true=[1.0, -1.0],
        )
        g = grads("cosine_embedding", x1=[[0.0, 0.0, 0.0]], x2=[[1.0, 2.0, 3.0]], y_true=[1.0])
        np.testing.assert_allclose(g["x1"], -np.array([[1.0, 2.0, 3.0]]) / math.sqrt(E * (14 + E)), rtol=1e-14)
        # Huge vectors: |x|^2 overflows in PyTorch (inf / inf = NaN); here the rows are scaled by a
        # power of two first, so cos([1e200, 1e200], [1e200, 0]) = 1/sqrt(2) as for small vectors
        result = run("cosine_embedding", x1=[[1e200, 1e200]], x2=[[1e200, 0.0]], y_true=[1.0])
        assert result.grads is not None
        assert result.loss[0] == pytest.approx(1 - 1 / math.sqrt(2), rel=1e-15)
        assert np.isfinite(result.grads["x1"]).all() and np.isfinite(result.grads["x2"]).all()
        # d(1 - cos)/dx1 scales as 1/|x|: the small-vector gradient times 1e-200
        small = grads("cosine_embedding", x1=[[1.0, 1.0]], x2=[[1.0, 0.0]], y_true=[1.0])
        np.testing.assert_allclose(result.grads["x1"], small["x1"] * 1e-200, rtol=1e-10)  # E matters at 1e-12
        # Scaling by a power of two is exact: the same values and gradients as PyTorch where its
        # formula does not overflow, E included
        x1, x2 = np.array([[3.0, -1.5, 0.25], [1e-7, 0.0, 2e-7]]), np.array([[0.5, 2.0, -7.0], [0.5, 2.0, -7.0]])
        for k in (0, 10, 300):
            matches_torch(torch, "cosine_embedding", reference, x1=x1 * 2.0**k, x2=x2, y_true=[1.0, 1.0])

    def test_domain_and_shapes(self) -> None:
        x = [[1.0, 0.0], [0.0, 1.0]]
        error = refused("cosine_embedding", x1=x, x2=x, y_true=[1.0, 0.0])
        assert error.issues[0].location == ("y_true", 1)
        refused("cosine_embedding", x1=x, x2=x, y_true=[2.0, 1.0])
        with pytest.raises(InvalidInput, match="shape"):
            run("cosine_embedding", x1=x, x2=x, y_true=[[1.0], [1.0]])
        with pytest.raises(InvalidInput, match="rank"):
            run("cosine_embedding", x1=[[x]], x2=[[x]], y_true=[1.0])


# margin_ranking


def ranking_pairs(margin: float) -> Maker:
    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        y = rng.choice([-1.0, 1.0], shape)
        x2 = rng.normal(0, 1, shape)
        # -y (x1 - x2) + margin = m, |m| >= 0.1  <=>  x1 = x2 + (margin - m) / y
        return {"x1": x2 + margin_away_from_kink(rng, y, margin), "x2": x2, "y_true": y}

    return make


def torch_margin_ranking(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.margin_ranking_loss(
        t["x1"], t["x2"], t["y_true"], margin=p.get("margin", 0.0), reduction=reduction
    )


class TestMarginRanking(LossTests, TorchParity):
    cases = (
        Case("margin_ranking", ranking_pairs(0.0), torch_reference=torch_margin_ranking),
        Case("margin_ranking", ranking_pairs(0.5), {"margin": 0.5}, torch_reference=torch_margin_ranking),
        Case("margin_ranking", ranking_pairs(-0.7), {"margin": -0.7}, torch_reference=torch_margin_ranking),
    )

    def test_by_hand_and_kink(self, torch: Any) -> None:
        # x1 = 2, x2 = 1, margin 0.5: y = 1 -> max(0, -(2 - 1) + 0.5) = 0; y = -1 -> max(0, 1 + 0.5) = 1.5
        v = values("margin_ranking", {"margin": 0.5}, x1=[2.0, 2.0], x2=[1.0, 1.0], y_true=[1.0, -1.0])
        np.testing.assert_array_equal(v, [0.0, 1.5])
        g = grads("margin_ranking", {"margin": 0.5}, x1=[2.0, 2.0], x2=[1.0, 1.0], y_true=[1.0, -1.0])
        np.testing.assert_array_equal(g["x1"], [0.0, 1.0])  # -y where active
        np.testing.assert_array_equal(g["x2"], [0.0, -1.0])
        # At z = -y (x1 - x2) + margin = 0 clamp_min passes the gradient: -y and y
        result = matches_torch(
            torch,
            "margin_ranking",
            lambda x1, x2, y_true: torch.nn.functional.margin_ranking_loss(x1, x2, y_true, margin=0.5, reduction="sum"),
            {"margin": 0.5},
            exact=True,
            x1=[[1.5, 1.0]],
            x2=[[1.0, 1.5]],
            y_true=[[1.0, -1.0]],
        )
        assert result.grads is not None
        np.testing.assert_array_equal(result.grads["x1"], [[-1.0, 1.0]])

    def test_domain(self) -> None:
        error = refused("margin_ranking", x1=[1.0, 2.0], x2=[1.0, 2.0], y_true=[1.0, 0.0])
        assert error.issues[0].location == ("y_true", 1)
        with pytest.raises(InvalidInput, match="shape"):
            run("margin_ranking", x1=[1.0, 2.0], x2=[1.0], y_true=[1.0, 1.0])


# hinge_embedding


def hinge_embedding_scores(margin: float) -> Maker:
    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        y = rng.choice([-1.0, 1.0], shape)
        away = margin + rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)  # |margin - x| >= 0.1
        return {"y_true": y, "y_pred": np.where(y == 1, rng.normal(0, 2, shape), away)}

    return make


def torch_hinge_embedding(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.hinge_embedding_loss(
        t["y_pred"], t["y_true"], margin=p.get("margin", 1.0), reduction=reduction
    )


class TestHingeEmbedding(LossTests, TorchParity):
    cases = (
        Case("hinge_embedding", hinge_embedding_scores(1.0), torch_reference=torch_hinge_embedding),
        Case("hinge_embedding", hinge_embedding_scores(2.5), {"margin": 2.5}, torch_reference=torch_hinge_embedding),
        Case("hinge_embedding", hinge_embedding_scores(-0.5), {"margin": -0.5}, torch_reference=torch_hinge_embedding),
    )

    def test_by_hand_and_kink(self, torch: Any) -> None:
        # margin 1: y = 1 -> x = 0.3; y = -1 -> max(0, 1 - 0.4) = 0.6 and max(0, 1 - 1.5) = 0
        v = values("hinge_embedding", y_true=[[1.0, -1.0, -1.0]], y_pred=[[0.3, 0.4, 1.5]])
        np.testing.assert_allclose(v, [[0.3, 0.6, 0.0]], rtol=1e-15)
        g = grad("hinge_embedding", y_true=[[1.0, -1.0, -1.0]], y_pred=[[0.3, 0.4, 1.5]])
        np.testing.assert_array_equal(g, [[1.0, -1.0, 0.0]])
        # x == margin with y = -1: clamp_min passes, -1
        result = matches_torch(
            torch,
            "hinge_embedding",
            lambda y_true, y_pred: torch.nn.functional.hinge_embedding_loss(
                y_pred, y_true, margin=2.0, reduction="sum"
            ),
            {"margin": 2.0},
            exact=True,
            y_true=[[-1.0, 1.0]],
            y_pred=[[2.0, 2.0]],
        )
        assert result.grads is not None
        np.testing.assert_array_equal(result.grads["y_pred"], [[-1.0, 1.0]])

    def test_labels(self) -> None:
        # PyTorch would add both branches for a label 0; refused here
        error = refused("hinge_embedding", y_true=[[1.0, 0.0]], y_pred=[[0.5, 0.5]])
        assert error.issues[0].location == ("y_true", 0, 1)


# triplet_margin


def _distance(x: np.ndarray, y: np.ndarray, p: float, eps: float) -> np.ndarray:
    return np.sum(np.abs(x - y + eps) ** p, axis=-1) ** (1 / p)


def triplets(margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False) -> Maker:
    """Anchors, positives and negatives ``(N, D)`` with ``margin + d_pos - d_neg`` at least 0.1
    from 0 (both signs occur), no difference component near 0 (where ``|d|^(p-1)`` has a kink
    for p < 2) and, under ``swap``, ``d(a, n)`` and ``d(p, n)`` at least 0.05 apart."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        n, d = _rows(shape)

        def draw() -> Inputs:
            anchor = rng.normal(0, 1, (n, d))
            return {
                "anchor": anchor,
                "positive": anchor + rng.normal(0, 0.8, (n, d)),
                "negative": anchor + rng.normal(0, 1.2, (n, d)),
            }

        def ok(inputs: Inputs) -> np.ndarray:
            a, pos, neg = inputs["anchor"], inputs["positive"], inputs["negative"]
            d_pos, d_neg, d_swap = _distance(a, pos, p, eps), _distance(a, neg, p, eps), _distance(pos, neg, p, eps)
            good = np.ones(n, dtype=bool)
            if swap:
                good &= np.abs(d_neg - d_swap) >= 0.05
                d_neg = np.minimum(d_neg, d_swap)
            good &= np.abs(margin + d_pos - d_neg) >= 0.1
            for x, y in ((a, pos), (a, neg), (pos, neg)):
                good &= np.min(np.abs(x - y + eps), axis=-1) >= 0.01
            return good

        return redraw_until(draw, ok)

    return make


def torch_triplet_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.triplet_margin_loss(
        t["anchor"],
        t["positive"],
        t["negative"],
        margin=p.get("margin", 1.0),
        p=p.get("p", 2.0),
        eps=p.get("eps", 1e-6),
        swap=p.get("swap", False),
        reduction=reduction,
    )


def _torch_triplet(torch: Any, **params: Any) -> Any:
    def reference(anchor: Any, positive: Any, negative: Any) -> Any:
        return torch.nn.functional.triplet_margin_loss(anchor, positive, negative, reduction="sum", **params)

    return reference


class TestTripletMargin(LossTests, TorchParity):
    # The maker is told the params, so that it keeps away from this case's kinks.
    cases = (
        Case("triplet_margin", triplets(), {}, torch_reference=torch_triplet_margin),
        Case(
            "triplet_margin",
            triplets(margin=0.5, p=1.0),
            {"margin": 0.5, "p": 1.0},
            torch_reference=torch_triplet_margin,
        ),
        Case(
            "triplet_margin",
            triplets(p=3.0, margin=2.0),
            {"p": 3.0, "margin": 2.0},
            torch_reference=torch_triplet_margin,
        ),
        Case("triplet_margin", triplets(p=1.5), {"p": 1.5}, torch_reference=torch_triplet_margin),
        Case(
            "triplet_margin",
            triplets(p=0.5, margin=3.0),
            {"p": 0.5, "margin": 3.0},
            torch_reference=torch_triplet_margin,
        ),
        Case("triplet_margin", triplets(swap=True), {"swap": True}, torch_reference=torch_triplet_margin),
        Case(
            "triplet_margin",
            triplets(swap=True, p=1.0, margin=0.7),
            {"swap": True, "p": 1.0, "margin": 0.7},
            torch_reference=torch_triplet_margin,
        ),
        Case(
            "triplet_margin",
            triplets(swap=True, p=3.0, eps=0.1),
            {"swap": True, "p": 3.0, "eps": 0.1},
            torch_reference=torch_triplet_margin,
        ),
        Case(
            "triplet_margin",
            triplets(swap=False, eps=0.0, margin=1.5),
            {"swap": False, "eps": 0.0, "margin": 1.5},
            torch_reference=torch_triplet_margin,
        ),
    )

    def test_by_hand(self) -> None:
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
        np.testing.assert_array_equal(
            grads("triplet_margin", params, anchor=a, positive=pos, negative=neg)["anchor"], 0
        )
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

    def test_swap_by_hand(self) -> None:
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

    @pytest.mark.parametrize("p", [1.0, 2.0])
    def test_kink_matches_pytorch(self, torch: Any, p: float) -> None:
        # margin + d_pos - d_neg == 0 exactly: axis-aligned, eps 0: d_pos = 1, d_neg = 3, margin 2 (clamp_min passes).
        # (For other p PyTorch's (sum |d|^p)^(1/p) rounds 3 to 3 - 4e-16 and misses the kink itself.)
        params = {"eps": 0.0, "margin": 2.0, "p": p}
        result = matches_torch(
            torch,
            "triplet_margin",
            _torch_triplet(torch, **params),
            params,
            anchor=[[0.0, 0.0]],
            positive=[[1.0, 0.0]],
            negative=[[3.0, 0.0]],
        )
        assert result.grads is not None
        assert result.loss == 0 and np.abs(result.grads["positive"]).sum() > 0  # clamp_min passed it

    @pytest.mark.parametrize("p", [0.5, 1.0, 1.5, 2.0, 3.0])
    def test_zero_distances_match_pytorch(self, torch: Any, p: float) -> None:
        # anchor == positive with eps 0: d_pos = 0 and its gradient is 0 (PyTorch masks norm == 0);
        # a zero component of a difference: its gradient is 0 (sign(0) = 0; masked for p < 1)
        params = {"eps": 0.0, "margin": 1.0, "p": p}
        matches_torch(
            torch,
            "triplet_margin",
            _torch_triplet(torch, **params),
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

    def test_swap_tie_splits_the_gradient_as_pytorch(self, torch: Any) -> None:
        # d(a, n) = d(p, n) = 1 (eps 0): torch.min(a, b) gives each half the gradient
        params = {"eps": 0.0, "swap": True}
        result = matches_torch(
            torch,
            "triplet_margin",
            _torch_triplet(torch, **params),
            params,
            exact=True,
            anchor=[[0.0, 0.0]],
            positive=[[2.0, 0.0]],
            negative=[[1.0, 0.0]],
        )
        assert result.grads is not None
        # loss = 1 + 2 - 1 = 2; d/dn of -min(d_an, d_pn) = -(0.5 (n - a)/1 + 0.5 (n - p)/1) = -(0.5 - 0.5) = 0
        assert result.loss == 2
        np.testing.assert_array_equal(result.grads["negative"], [[0.0, 0.0]])
        # anchor: (a - p)/2 - 0.5 (a - n)/1 = [-1, 0] + [0.5, 0]; positive: -(a - p)/2 - 0.5 (p - n)/1 = [1 - 0.5, 0]
        np.testing.assert_array_equal(result.grads["anchor"], [[-0.5, 0.0]])
        np.testing.assert_array_equal(result.grads["positive"], [[0.5, 0.0]])

    def test_extreme_inputs(self) -> None:
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

    def test_shapes(self) -> None:
        v = [[0.0, 1.0]]
        with pytest.raises(InvalidInput, match="rank") as error:
            run("triplet_margin", anchor=[v], positive=[v], negative=[v])
        assert error.value.issues[0].location == ("anchor",)
        with pytest.raises(InvalidInput, match="shape") as error:
            run("triplet_margin", anchor=v, positive=v, negative=[[0.0, 1.0, 2.0]])
        assert error.value.issues[0].location == ("negative",)
