"""Losses on pairs and triplets of vectors with a named distance or a cosine: sentence-transformers'
``CosineSimilarityLoss`` and ``ContrastiveLoss``, PyTorch's ``triplet_margin_with_distance_loss``
and optax's ``cosine_distance``.

Where a reference takes a Python callable for its distance, a named choice replaces it
(``distance``), each the exact expression the reference's usual callable computes:

- ``"euclidean"``: ``torch.nn.functional.pairwise_distance(x, y)``, ``||x - y + 1e-6||_2``;
- ``"manhattan"``: ``pairwise_distance(x, y, p=1)``, ``||x - y + 1e-6||_1``;
- ``"cosine"``: ``1 - torch.nn.functional.cosine_similarity(x, y)``, norms clamped at 1e-8.

The vectors are the last axis of ``(N, D)`` arrays; one value per pair or triplet.
"""

from __future__ import annotations

import numpy as np

from ..shapes import PairsWithLabels, PerSample, Triplets
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..validate import require
from ._common import DISTANCE_SWAP, PAIR_VECTORS, PREDICTIONS, TRIPLET_MARGIN, TRIPLET_VECTORS
from ._vectors import Pairwise, Triplet, l2_direction, pairwise_distance, torch_cosine_similarity

similarity_family = Family("similarity", shape_rule=PerSample())
embedding_family = Family("embedding", shape_rule=PairsWithLabels())

#: The defaults of PyTorch's ``pairwise_distance`` and ``cosine_similarity``, which the named
#: distances use as the references' callables do.
PAIRWISE_EPS = 1e-6
COSINE_EPS = 1e-8


def distance_between(name: str, x: Array, y: Array) -> Pairwise:
    """The named distance between the rows of ``x`` and ``y``, with its gradient (module docstring)."""
    if name == "euclidean":
        return pairwise_distance(x, y, 2.0, PAIRWISE_EPS)
    if name == "manhattan":
        return pairwise_distance(x, y, 1.0, PAIRWISE_EPS)
    if name == "cosine":
        return 1 - torch_cosine_similarity(x, y, COSINE_EPS)
    raise ValueError(f"unknown distance {name!r}")  # the API validates the choice first


def _distance_param(choices: tuple[str, ...]) -> ParamSpec:
    described = {
        "euclidean": "euclidean: ||x - y + 1e-6||_2 (pairwise_distance)",
        "manhattan": "manhattan: ||x - y + 1e-6||_1",
        "cosine": "cosine: 1 - cosine_similarity(x, y), norms clamped at 1e-8",
    }
    return ParamSpec("distance", "string", "; ".join(described[c] for c in choices), choices=choices)


@embedding_family.loss(
    summary="Squared error between the cosine similarity of each pair of vectors and its target similarity.",
    reference="sentence_transformers.losses.CosineSimilarityLoss (torch.cosine_similarity, then MSE)",
    formula=r"\ell = \left( \frac{x_1}{\max(\lVert x_1 \rVert, \epsilon)} \cdot "
    r"\frac{x_2}{\max(\lVert x_2 \rVert, \epsilon)} - y \right)^2",
    example={"x1": [[1.0, 0.0], [0.5, 0.5]], "x2": [[0.8, 0.6], [-0.5, 0.5]], "y_true": [0.9, 0.1]},
    inputs=(*PAIR_VECTORS, InputSpec("y_true", "the target similarity of each pair, shape (N,)")),
    params=(ParamSpec("eps", "number", "each vector's norm is clamped at eps (torch.cosine_similarity)", gt=0),),
)
def cosine_similarity_mse(x1: Array, x2: Array, y_true: Array, *, eps: float = 1e-8) -> Unreduced:
    """The seed's cosine-similarity loss, per pair: ``l = (cos(x1, x2) - y)^2``.

    sentence-transformers' ``CosineSimilarityLoss`` with its defaults (identity score
    transformation, ``MSELoss``): ``cos`` is ``torch.cosine_similarity``,
    ``(x1 / n1) . (x2 / n2)`` with ``n_k = max(||x_k||, eps)``. The targets are any real
    numbers (typically similarities in [0, 1]) and are used as given: sentence-transformers
    rounds them to float32 (``labels.float()``); here they keep the computation's precision.

    Gradient: ``dl/dx1 = 2 (cos - y) dcos/dx1`` with PyTorch's autograd of its cosine
    (``torch_cosine_similarity``): ``dcos/dx1 = (u2 - cos x1 / ||x1||) / n1``, ``u_k = x_k / n_k``.
    Degenerate inputs: a vector shorter than ``eps`` is divided by ``eps`` (its cosine shrinks
    towards 0); a zero vector has ``cos = 0``, so ``l = y^2``, its own gradient is
    ``-2 y u_other / eps`` (PyTorch's straight-through clamp) and the other vector's is 0.
    Stable form: directions ``x / ||x||`` come from rows scaled by their largest entry, so no
    square overflows or underflows for any finite vector; ``(cos - y)^2`` overflows only
    for ``|y|`` near 1e154 (a 422 non-finite result).

    Shapes: ``x1``, ``x2``: ``(N, D)``; ``y_true``: ``(N,)``; ``l``: ``(N,)``.
    """
    cos = torch_cosine_similarity(x1, x2, eps)
    error = cos.value - y_true

    def vjp(g: Array) -> dict[str, Array]:
        k = (2 * g * error)[:, None]
        return {"x1": k * cos.d_first, "x2": k * cos.d_second}

    return Unreduced(error * error, vjp)


@similarity_family.loss(
    summary="Cosine distance 1 - cos between y_true and y_pred along the last axis.",
    reference="optax.losses.cosine_distance",
    formula=r"\ell = 1 - \frac{\sum_{d} y_d \hat{y}_d}{\sqrt{\max(\lVert y \rVert^2, \epsilon)} "
    r"\sqrt{\max(\lVert \hat{y} \rVert^2, \epsilon)}}",
    example={"y_true": [[1.0, 0.0], [0.0, 1.0]], "y_pred": [[0.6, 0.8], [1.0, 1.0]]},
    inputs=(InputSpec("y_true", "target vectors, of y_pred's shape"), PREDICTIONS),
    params=(
        ParamSpec(
            "eps",
            "number",
            "floor of the squared norms (optax's epsilon); with 0 a zero vector has no cosine (a 422)",
            ge=0,
        ),
    ),
)
def cosine_distance(y_true: Array, y_pred: Array, *, eps: float = 0.0) -> Unreduced:
    """Cosine distance (optax ``cosine_distance``), per sample: ``l = 1 - a . b``.

    ``a = y_true / sqrt(max(|y_true|^2, eps))`` and ``b = y_pred / sqrt(max(|y_pred|^2, eps))``,
    optax's floor on the squared norms (its ``epsilon``, default 0). A vector whose squared norm
    is below ``eps`` is divided by ``sqrt(eps)``; a zero vector with ``eps > 0`` has ``a = 0``,
    so ``l = 1``. A zero vector with ``eps = 0`` has no cosine (optax: 0/0 = NaN): a 422
    non-finite result pointing at the sample.

    Gradient, with ``n = sqrt(max(|y_pred|^2, eps))``: ``dl/dy_pred = -(a - (a . b) b) / n``
    where ``|y_pred|^2 >= eps`` (at the floor itself too, as PyTorch's ``clamp_min`` passes it;
    ``jax.grad`` of optax's ``clip`` differs only there); below the floor ``n`` is a constant and
    ``dl/dy_pred = -a / n``, as ``jax.grad`` gives.
    Stable form: directions come from rows scaled by their largest entry (``l2_direction``), so
    squares neither overflow for huge vectors nor underflow for tiny ones: the true cosine,
    where optax's ``|x|^2`` gives ``inf`` or 0 (then NaN).

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., D)``; ``l``: ``(N, ...)``.
    """
    floor = float(np.sqrt(eps))

    def unit(x: Array) -> tuple[Array, Array, Array, Array]:
        """``x / n``, ``x / |x|``, ``n`` and where the floor acts (0/0 for a zero row with eps 0)."""
        norm, direction = l2_direction(x)
        floored = (norm < floor) | (norm == 0)
        return np.where(floored, x / floor, direction), direction, np.where(floored, floor, norm), floored

    a, _, _, _ = unit(y_true)
    b, b_direction, n, floored = unit(y_pred)
    cos = np.sum(a * b, axis=-1, keepdims=True)
    d_pred = np.where(floored, -a / n, -(a - cos * b_direction) / n)
    return Unreduced(1 - cos[..., 0], lambda g: {"y_pred": g[..., None] * d_pred})


@embedding_family.loss(
    summary="Triplet margin loss max(0, margin + d(a, p) - d(a, n)) with a named distance.",
    reference="torch.nn.functional.triplet_margin_with_distance_loss",
    formula=r"\ell = \max\left( d(a, p) - d(a, n) + m, 0 \right)",
    example={
        "anchor": [[0.0, 0.0], [1.0, 1.0]],
        "positive": [[0.5, 0.0], [1.0, 0.5]],
        "negative": [[1.0, 0.0], [0.0, 1.0]],
        "params": {"distance": "cosine", "margin": 0.5},
    },
    inputs=TRIPLET_VECTORS,
    shape_rule=Triplets(),
    params=(_distance_param(("euclidean", "manhattan", "cosine")), TRIPLET_MARGIN, DISTANCE_SWAP),
)
def triplet_margin_with_distance(
    anchor: Array,
    positive: Array,
    negative: Array,
    *,
    distance: str = "euclidean",
    margin: float = 1.0,
    swap: bool = False,
) -> Unreduced:
    """Triplet margin loss with a named distance, per triplet: ``l = max(0, margin + d(a, pos) - d(a, neg))``.

    PyTorch ``triplet_margin_with_distance_loss`` with ``distance_function`` the named distance
    (module docstring; ``"euclidean"`` is PyTorch's default, ``pairwise_distance``). With
    ``swap`` (Balntas et al. 2016) the negative distance is ``min(d(a, neg), d(pos, neg))``.
    ``margin > 0``, as PyTorch requires.

    Gradient (PyTorch autograd): through ``clamp_min`` where ``margin + d_pos - d_neg >= 0``
    (at the kink too), else 0; at a tie ``d(a, neg) == d(pos, neg)`` under ``swap`` split half
    and half between the two (``torch.minimum``). Through each distance: euclidean
    ``(x - y + eps) / d``, manhattan ``sign(x - y + eps)`` (0 for a zero component), 0 where
    a p-distance is 0 (PyTorch masks ``norm == 0``); cosine ``-dcos/dx`` as
    ``torch_cosine_similarity`` gives it (a zero vector: ``cos = 0``, distance 1, gradient of
    the zero vector ``-u_other / 1e-8``, of the other 0).
    Stable form: the p-norms scale each row by its largest component and the cosine uses
    scaled directions, so no square overflows for any finite input.

    Shapes: ``anchor``, ``positive``, ``negative``: ``(N, D)``; ``l``: ``(N,)``.
    """
    pos = distance_between(distance, anchor, positive)
    neg = distance_between(distance, anchor, negative)
    triplet = Triplet.of(pos, neg, distance_between(distance, positive, negative) if swap else None, margin)
    return Unreduced(triplet.values, triplet.vjp)


@embedding_family.loss(
    summary="Contrastive loss: half the squared distance of similar pairs, half the squared shortfall "
    "below the margin of dissimilar ones.",
    reference="sentence_transformers.losses.ContrastiveLoss",
    formula=r"\ell = \tfrac{1}{2} \left( y \, d(x_1, x_2)^2 + (1 - y) \max(0, m - d(x_1, x_2))^2 \right)",
    example={"x1": [[1.0, 0.0], [0.5, 0.5]], "x2": [[0.8, 0.6], [-0.5, 0.5]], "y_true": [1, 0]},
    inputs=(*PAIR_VECTORS, InputSpec("y_true", "one label per pair: 1 (similar) or 0 (dissimilar), shape (N,)")),
    params=(
        _distance_param(("cosine", "euclidean")),
        ParamSpec("margin", "number", "dissimilar pairs closer than the margin are penalised"),
    ),
)
def contrastive(x1: Array, x2: Array, y_true: Array, *, distance: str = "cosine", margin: float = 0.5) -> Unreduced:
    """Contrastive loss (Hadsell et al. 2006), per pair: ``l = d^2 / 2`` where ``y = 1``,
    ``max(0, margin - d)^2 / 2`` where ``y = 0``.

    sentence-transformers' ``ContrastiveLoss`` with ``SiameseDistanceMetric.COSINE_DISTANCE``
    (``distance="cosine"``, its default) or ``EUCLIDEAN``; ``size_average`` true is the ``mean``
    reduction, false the ``sum``. Labels are exactly 0 or 1: sentence-transformers only warns
    for other labels and weighs the two terms by them, which is no contrastive loss, so
    anything else is refused (422). ``margin`` is any real number (below 0 no dissimilar pair
    is penalised, as in the reference).

    Gradient: ``dl/dd = d`` for ``y = 1``, ``-max(0, margin - d)`` for ``y = 0`` (0 at and beyond
    the margin: the squared hinge is smooth there), chained through the distance's gradient
    (see ``triplet_margin_with_distance``; a zero vector under the cosine distance has distance
    1). The terms are selected, not multiplied by the labels, so a huge distance of a
    dissimilar pair is 0, not ``0 * inf``; a similar pair whose ``d^2`` overflows is a 422.

    Shapes: ``x1``, ``x2``: ``(N, D)``; ``y_true``: ``(N,)``, 0 or 1; ``l``: ``(N,)``.
    """
    require("y_true", (y_true == 0) | (y_true == 1), y_true, "a label in {0, 1}")
    d = distance_between(distance, x1, x2)
    similar = y_true == 1
    shortfall = np.maximum(margin - d.value, 0)
    values = 0.5 * np.where(similar, d.value * d.value, shortfall * shortfall)
    slope = np.where(similar, d.value, -shortfall)

    def vjp(g: Array) -> dict[str, Array]:
        k = (g * slope)[:, None]
        return {"x1": k * d.d_first, "x2": k * d.d_second}

    return Unreduced(values, vjp)
