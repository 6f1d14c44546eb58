"""Cases for the margin losses: binary/multi-label margins and the embedding family.

PyTorch is the reference of every loss here but ``squared_hinge`` (Keras); for that one the
``torch_reference`` is Keras's formula written with torch ops (``clamp_min``), which pins the
values and, through autograd, the gradients; Keras's own numbers are golden values in
``test_values_margin.py``.

``multilabel_soft_margin`` with ``class_weight`` keeps a plain mean (PyTorch's
``multilabel_soft_margin_loss`` averages the per-sample values whatever the weights); the
shared tests know it through ``casekit.WEIGHTED_MEAN_LOSSES``, which does not list it.

Makers keep every input away from the kinks: hinge arguments at least 0.1 from 0, the
cosine at least 0.05 from the margin, triplet distances at least 0.1 from the margin and,
under ``swap``, the two negative distances at least 0.05 apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .casekit import Case, Inputs, Maker, binary_hinge, margin_away_from_kink, redraw_until, signed_hinge, torch_reduce

T = dict[str, Any]


def _rows(shape: tuple[int, ...]) -> tuple[int, int]:
    """The maker's ``shape`` as a batch of vectors ``(N, D)``: the first axis, and the others flattened."""
    return shape[0], int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1


# squared_hinge (Keras; its formula in torch)


def torch_squared_hinge(torch: Any, t: T, p: T, reduction: str) -> Any:
    y = t["y_true"]
    y = 2 * y - 1 if bool(((y == 0) | (y == 1)).all()) else y
    return torch_reduce(torch, torch.clamp_min(1 - y * t["y_pred"], 0) ** 2, reduction)


# soft_margin


def signed_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.choice([-1.0, 1.0], shape), "y_pred": rng.normal(0, 3, shape)}


def torch_soft_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.soft_margin_loss(t["y_pred"], t["y_true"], reduction=reduction)


# multilabel_soft_margin


def multilabel_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, 2, shape).astype(float), "y_pred": rng.normal(0, 3, shape)}


def torch_multilabel_soft_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    weight = p.get("class_weight")
    return torch.nn.functional.multilabel_soft_margin_loss(
        t["y_pred"],
        t["y_true"],
        weight=None if weight is None else torch.as_tensor(weight, dtype=torch.float64),
        reduction=reduction,
    )


# multilabel_margin


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


def torch_multilabel_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    """PyTorch takes (N, C) only: (N, ..., C) goes through the flattened (-1, C) scores."""
    x = t["y_pred"]
    loss = torch.nn.functional.multilabel_margin_loss(
        x.reshape(-1, x.shape[-1]), t["y_true"].long().reshape(-1, x.shape[-1]), reduction=reduction
    )
    return loss.reshape(x.shape[:-1]) if reduction == "none" else loss


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


def _triplet_case(**params: Any) -> Case:
    return Case("triplet_margin", triplets(**params), params, torch_reference=torch_triplet_margin)


CASES: list[Case] = [
    Case("squared_hinge", signed_hinge, torch_reference=torch_squared_hinge),
    Case("squared_hinge", binary_hinge, torch_reference=torch_squared_hinge),
    Case("soft_margin", signed_logits, torch_reference=torch_soft_margin),
    Case("multilabel_soft_margin", multilabel_logits, torch_reference=torch_multilabel_soft_margin),
    Case(
        "multilabel_soft_margin",
        multilabel_logits,
        {"class_weight": "per-class"},
        torch_reference=torch_multilabel_soft_margin,
    ),
    Case("multilabel_margin", multilabel_targets, torch_reference=torch_multilabel_margin),
    Case("cosine_embedding", cosine_pairs(0.0), torch_reference=torch_cosine_embedding),
    Case("cosine_embedding", cosine_pairs(0.3), {"margin": 0.3}, torch_reference=torch_cosine_embedding),
    Case("cosine_embedding", cosine_pairs(-0.4), {"margin": -0.4}, torch_reference=torch_cosine_embedding),
    Case("margin_ranking", ranking_pairs(0.0), torch_reference=torch_margin_ranking),
    Case("margin_ranking", ranking_pairs(0.5), {"margin": 0.5}, torch_reference=torch_margin_ranking),
    Case("margin_ranking", ranking_pairs(-0.7), {"margin": -0.7}, torch_reference=torch_margin_ranking),
    Case("hinge_embedding", hinge_embedding_scores(1.0), torch_reference=torch_hinge_embedding),
    Case("hinge_embedding", hinge_embedding_scores(2.5), {"margin": 2.5}, torch_reference=torch_hinge_embedding),
    Case("hinge_embedding", hinge_embedding_scores(-0.5), {"margin": -0.5}, torch_reference=torch_hinge_embedding),
    _triplet_case(),
    _triplet_case(margin=0.5, p=1.0),
    _triplet_case(p=3.0, margin=2.0),
    _triplet_case(p=1.5),
    _triplet_case(p=0.5, margin=3.0),
    _triplet_case(swap=True),
    _triplet_case(swap=True, p=1.0, margin=0.7),
    _triplet_case(swap=True, p=3.0, eps=0.1),
    _triplet_case(swap=False, eps=0.0, margin=1.5),
]
