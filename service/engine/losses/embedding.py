"""The embedding losses: pairs and triplets of vectors or scores, labels -1/1 (PyTorch's margin losses).

Labels are exactly -1 or 1. PyTorch does not check them: ``cosine_embedding_loss`` gives 0
for any other label, ``hinge_embedding_loss`` adds both branches for it and
``margin_ranking_loss`` scales by it. None of that is a meaningful loss, and 0/1 labels
would silently be read as "no loss" or a scale of 0, so anything but -1/1 is refused.
"""

from __future__ import annotations

import numpy as np

from ..shapes import Elementwise, PairsWithLabels, Triplets
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..validate import require
from ._common import DISTANCE_SWAP, PAIR_VECTORS, TRIPLET_MARGIN, TRIPLET_VECTORS
from ._vectors import Triplet, pairwise_distance, power_of_two_scale

PAIR_LABELS = InputSpec("y_true", "one label per pair: 1 (similar) or -1 (dissimilar), shape (N,)")

RANKING_LABELS = InputSpec("y_true", "1 where x1 should rank higher, -1 where x2 should, of x1's shape")

HINGE_LABELS = InputSpec("y_true", "labels 1 or -1, of y_pred's shape")


def _margin(description: str) -> ParamSpec:
    return ParamSpec("margin", "number", description)


family = Family("embedding", shape_rule=PairsWithLabels())

#: PyTorch's ``EPSILON`` in ``cosine_embedding_loss`` (``constexpr float EPSILON = 1e-12`` in
#: ATen's Loss.cpp): the float32 nearest to 1e-12, added as that value in double too.
COSINE_EPSILON = float(np.float32(1e-12))


def _require_signed(name: str, y: Array) -> None:
    require(name, (y == 1) | (y == -1), y, "a label in {-1, 1}")


@family.loss(
    summary="Cosine embedding loss: 1 - cos for similar pairs, max(0, cos - margin) for dissimilar ones.",
    reference="torch.nn.functional.cosine_embedding_loss",
    formula=r"\ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\ \max(0, \cos(x_1, x_2) - m) & y = -1 \end{cases}",
    example={"x1": [[1.0, 0.0], [0.5, 0.5]], "x2": [[0.8, 0.6], [-0.5, 0.5]], "y_true": [1, -1]},
    inputs=(*PAIR_VECTORS, PAIR_LABELS),
    params=(_margin("dissimilar pairs are penalised when their cosine exceeds it (meaningful in [-1, 1])"),),
)
def cosine_embedding(x1: Array, x2: Array, y_true: Array, *, margin: float = 0.0) -> Unreduced:
    """Cosine embedding loss, per pair: ``1 - cos`` where ``y = 1``, ``max(0, cos - margin)`` where ``y = -1``.

    PyTorch ``cosine_embedding_loss``, including its regularised cosine
    ``cos = x1.x2 / sqrt((|x1|^2 + E)(|x2|^2 + E))`` with ``E = COSINE_EPSILON`` (float32 1e-12):
    a zero vector has ``cos = 0`` (loss 1 for ``y = 1``, ``max(0, -margin)`` for ``y = -1``)
    and a finite gradient. To keep ``|x|^2`` and ``x1.x2`` from overflowing, each row is first
    divided by a power of two ``2^e >= max |x|`` (``e >= 0``, so small vectors are untouched
    and ``E`` keeps its meaning); that division is exact, and with ``E 2^-2e`` in place of
    ``E`` the cosine is the same number as PyTorch's formula gives where that one is finite.

    Gradient (PyTorch autograd through the same expression), with ``m_k = |x_k|^2 + E``:
    ``dcos/dx1 = x2 / sqrt(m1 m2) - cos x1 / m1`` (and symmetrically for ``x2``);
    ``dl/dcos = -1`` for ``y = 1``, ``1`` for ``y = -1`` where ``cos - margin >= 0`` (at the
    kink too: PyTorch writes it with ``clamp_min``), else 0.

    Shapes: ``x1``, ``x2``: ``(N, D)``; ``y_true``: ``(N,)``, -1 or 1; ``l``: ``(N,)``.
    """
    _require_signed("y_true", y_true)
    e1, e2 = power_of_two_scale(x1), power_of_two_scale(x2)
    u, v = np.ldexp(x1, -e1[:, None]), np.ldexp(x2, -e2[:, None])
    m1 = np.sum(u * u, axis=-1) + np.ldexp(COSINE_EPSILON, -2 * e1).astype(x1.dtype)
    m2 = np.sum(v * v, axis=-1) + np.ldexp(COSINE_EPSILON, -2 * e2).astype(x1.dtype)
    root = np.sqrt(m1 * m2)
    cos = np.sum(u * v, axis=-1) / root

    positive = y_true == 1
    hinge = cos - margin
    values = np.where(positive, 1 - cos, np.maximum(hinge, 0))
    dcos = np.where(positive, -1, np.where(hinge >= 0, 1, 0))

    def vjp(g: Array) -> dict[str, Array]:
        k = (g * dcos)[:, None]
        d1 = np.ldexp(v / root[:, None] - (cos / m1)[:, None] * u, -e1[:, None])
        d2 = np.ldexp(u / root[:, None] - (cos / m2)[:, None] * v, -e2[:, None])
        return {"x1": k * d1, "x2": k * d2}

    return Unreduced(values, vjp)


@family.loss(
    summary="Margin ranking loss max(0, -y (x1 - x2) + margin) for pairs of scores and labels -1/1.",
    reference="torch.nn.functional.margin_ranking_loss",
    formula=r"\ell = \max\left(0, -y (x_1 - x_2) + m\right)",
    example={"x1": [0.8, 0.2], "x2": [0.5, 0.6], "y_true": [1, 1], "params": {"margin": 0.1}},
    inputs=(
        InputSpec("x1", "the first scores of the pairs", differentiable=True),
        InputSpec("x2", "the second scores of the pairs, of x1's shape", differentiable=True),
        RANKING_LABELS,
    ),
    shape_rule=Elementwise(names=("y_true", "x2", "x1")),
    params=(_margin("the score difference the better-ranked item must reach"),),
)
def margin_ranking(x1: Array, x2: Array, y_true: Array, *, margin: float = 0.0) -> Unreduced:
    """Margin ranking loss, elementwise: ``l = max(0, -y (x1 - x2) + margin)``, ``y`` in {-1, 1}.

    PyTorch ``margin_ranking_loss``: ``y = 1`` asks for ``x1`` to rank above ``x2`` by
    ``margin``, ``y = -1`` the reverse. Gradient: ``dl/dx1 = -y``, ``dl/dx2 = y`` where
    ``-y (x1 - x2) + margin >= 0`` (at the kink too: PyTorch's ``clamp_min``), else 0.
    ``x1 - x2`` beyond the float range (|x| near 1e308) gives a non-finite result (422).

    Shapes: ``x1``, ``x2``, ``y_true``: one shape ``(N, ...)``; ``l``: the same.
    """
    _require_signed("y_true", y_true)
    z = -y_true * (x1 - x2) + margin
    active = z >= 0

    def vjp(g: Array) -> dict[str, Array]:
        dx1 = np.where(active, -y_true * g, 0)
        return {"x1": dx1, "x2": -dx1}

    return Unreduced(np.maximum(z, 0), vjp)


@family.loss(
    summary="Hinge embedding loss: x for similar pairs (y = 1), max(0, margin - x) for dissimilar ones (y = -1).",
    reference="torch.nn.functional.hinge_embedding_loss",
    formula=r"\ell = \begin{cases} \hat{y} & y = 1 \\ \max(0, m - \hat{y}) & y = -1 \end{cases}",
    example={"y_true": [[1.0, -1.0], [-1.0, 1.0]], "y_pred": [[0.3, 0.4], [1.5, 0.2]]},
    inputs=(HINGE_LABELS, InputSpec("y_pred", "scores, typically distances", differentiable=True)),
    shape_rule=Elementwise(),
    params=(_margin("dissimilar pairs are penalised when their score is below it"),),
)
def hinge_embedding(y_true: Array, y_pred: Array, *, margin: float = 1.0) -> Unreduced:
    """Hinge embedding loss, elementwise: ``l = x`` where ``y = 1``, ``max(0, margin - x)`` where ``y = -1``.

    PyTorch ``hinge_embedding_loss``; ``x`` is typically a distance between two embeddings.
    Gradient: 1 where ``y = 1``; for ``y = -1``, -1 where ``margin - x >= 0`` (at the kink
    too: PyTorch's ``clamp_min``), else 0.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    _require_signed("y_true", y_true)
    positive = y_true == 1
    hinge = margin - y_pred
    values = np.where(positive, y_pred, np.maximum(hinge, 0))
    dx = np.where(positive, 1, np.where(hinge >= 0, -1, 0))
    return Unreduced(values, lambda g: {"y_pred": g * dx})


@family.loss(
    summary="Triplet margin loss max(0, margin + d(a, p) - d(a, n)) with the p-norm distance.",
    reference="torch.nn.functional.triplet_margin_loss",
    formula=r"\ell = \max\left( \lVert a - p \rVert_{p} - \lVert a - n \rVert_{p} + m, 0 \right)",
    example={
        "anchor": [[0.0, 0.0], [1.0, 1.0]],
        "positive": [[0.5, 0.0], [1.0, 0.5]],
        "negative": [[1.0, 0.0], [0.0, 1.0]],
    },
    inputs=TRIPLET_VECTORS,
    shape_rule=Triplets(),
    params=(
        TRIPLET_MARGIN,
        ParamSpec("p", "number", "the norm degree of the distance ||x - y + eps||_p (below 1: a quasi-norm)", gt=0),
        ParamSpec("eps", "number", "added to every component of the difference before the norm", ge=0),
        DISTANCE_SWAP,
    ),
)
def triplet_margin(
    anchor: Array,
    positive: Array,
    negative: Array,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
) -> Unreduced:
    """Triplet margin loss, per triplet: ``l = max(0, margin + d(a, pos) - d(a, neg))``.

    PyTorch ``triplet_margin_loss``, with its ``pairwise_distance``:
    ``d(x, y) = ||x - y + eps||_p`` (``eps`` is added to every component of the difference,
    not to the norm). With ``swap`` (Balntas et al. 2016) the negative distance is
    ``min(d(a, neg), d(pos, neg))``. ``margin > 0`` as PyTorch requires; ``p > 0`` (below 1
    the "norm" is PyTorch's quasi-norm ``(sum |d|^p)^(1/p)``; ``p`` is finite since JSON has no
    infinity); ``eps >= 0``.

    Gradient (PyTorch autograd): through ``clamp_min`` where ``margin + d_pos - d_neg >= 0``
    (at the kink too), else 0; through each distance by ``p_norm``'s gradient; at a tie
    ``d(a, neg) == d(pos, neg)`` under ``swap`` the gradient is split half and half between
    the two, as ``torch.min(a, b)`` (``minimum``) splits it.

    Shapes: ``anchor``, ``positive``, ``negative``: ``(N, D)``; ``l``: ``(N,)``.
    """
    pos = pairwise_distance(anchor, positive, p, eps)
    neg = pairwise_distance(anchor, negative, p, eps)
    triplet = Triplet.of(pos, neg, pairwise_distance(positive, negative, p, eps) if swap else None, margin)
    return Unreduced(triplet.values, triplet.vjp)
