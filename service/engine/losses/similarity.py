"""Similarity losses between vectors on the last axis; per-sample values."""

from __future__ import annotations

import numpy as np

from ..shapes import PerSample
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ._common import PREDICTIONS
from ._vectors import l2_norm

family = Family("similarity", shape_rule=PerSample())


@family.loss(
    summary="Negative cosine similarity between y_true and y_pred along the last axis.",
    reference="keras.losses.cosine_similarity (returns -cos)",
    formula=r"\ell = -\frac{\sum_{d} y_d \hat{y}_d}{\lVert y \rVert \, \lVert \hat{y} \rVert}",
    example={"y_true": [[1.0, 0.0], [0.0, 1.0]], "y_pred": [[0.6, 0.8], [1.0, 1.0]]},
    inputs=(InputSpec("y_true", "target vectors, of y_pred's shape"), PREDICTIONS),
    params=(ParamSpec("eps", "number", "floor on the squared norm when normalising", gt=0),),
)
def cosine_similarity(y_true: Array, y_pred: Array, *, eps: float = 1e-8) -> Unreduced:
    """Negative cosine similarity (Keras ``cosine_similarity``), per sample: ``l = -sum(a * b)``.

    ``a = y_true / max(|y_true|, eps)`` and ``b = y_pred / max(|y_pred|, eps)``: Keras's
    ``x * min(rsqrt(sum x^2), 1 / eps)``, with the floor on the norm. (Keras's own ``eps``
    is 1e-7; the results differ only for vectors shorter than that.) A zero vector
    normalises to zero, so ``l = 0`` (Keras: -0.0).

    Gradient, with ``n = max(|y_pred|, eps)``: ``dl/dy_pred = -(a - (a . b) b) / n`` where
    ``|y_pred| > eps``; where the floor acts ``b = y_pred / eps`` is linear and the gradient
    is ``-a / eps`` (Keras's autograd gives NaN for a zero vector).

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., D)``; ``l``: ``(N, ...)``.
    """
    a = y_true / np.maximum(l2_norm(y_true), eps)
    length = l2_norm(y_pred)
    norm = np.maximum(length, eps)
    b = y_pred / norm
    cos = np.sum(a * b, axis=-1, keepdims=True)
    d_pred = np.where(length > eps, -(a - cos * b) / norm, -a / norm)
    return Unreduced(-cos[..., 0], lambda g: {"y_pred": g[..., None] * d_pred})
