"""Segmentation losses: overlap between a target mask and a predicted mask, one value per example.

Both inputs are ``(N, ...)`` of rank >= 2 and every axis but the batch axis is summed (Keras's
``axis`` set to all non-batch axes), so ``none`` gives ``(N,)``. Masks and predictions are
probabilities: values outside [0, 1] are refused (API.md section 3). Keras does not check
them, but within [0, 1] every sum below is non-negative, so the denominators are at least
``eps`` and the losses and their gradients are finite for any accepted input.
"""

from __future__ import annotations

import numpy as np

from ..shapes import PerExample
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..validate import require_probabilities

MASKS = InputSpec("y_true", "target masks in [0, 1], (N, ...) of rank >= 2, of y_pred's shape")

PREDICTED_MASKS = InputSpec("y_pred", "predicted masks (probabilities in [0, 1]), (N, ...)", differentiable=True)

SMOOTHING = ParamSpec("eps", "number", "added to the denominator: keeps the ratio defined for empty masks", gt=0)

family = Family("segmentation", inputs=(MASKS, PREDICTED_MASKS), shape_rule=PerExample())


def _example_sum(x: Array) -> Array:
    """The sum over every non-batch axis, kept as size-1 axes so that it broadcasts back."""
    return np.sum(x, axis=tuple(range(1, x.ndim)), keepdims=True)


@family.loss(
    summary="Dice loss 1 - 2 sum(y p) / (sum(y) + sum(p) + eps) per example, over every non-batch axis.",
    reference="keras.losses.dice with axis over all non-batch axes",
    formula=r"\ell = 1 - \frac{2 \sum y \hat{y}}{\sum y + \sum \hat{y} + \epsilon}",
    example={"y_true": [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], "y_pred": [[0.9, 0.2, 0.6], [0.1, 0.7, 0.8]]},
    params=(SMOOTHING,),
)
def dice(y_true: Array, y_pred: Array, *, eps: float = 1e-7) -> Unreduced:
    """Dice loss (Keras ``dice`` over all non-batch axes), per example:
    ``l = 1 - 2 I / D`` with ``I = sum(y p)`` and ``D = sum(y) + sum(p) + eps``.

    ``eps`` is in the denominator only, exactly where Keras puts its ``backend.epsilon()``
    (1e-7, this service's default): an empty target and an empty prediction give
    ``1 - 0 / eps = 1``, not 0. The loss is smooth in ``y_pred`` (no kinks).

    Gradient: ``dl/dp = 2 (I / D - y) / D`` (+0 for an empty example, where ``y = I = 0``).

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``, rank >= 2, in [0, 1]; ``l``: ``(N,)``.
    """
    require_probabilities("y_true", y_true)
    require_probabilities("y_pred", y_pred)
    intersection = _example_sum(y_true * y_pred)
    denominator = _example_sum(y_true) + _example_sum(y_pred) + eps
    values = 1 - 2.0 * intersection / denominator
    d_pred = 2.0 * (intersection / denominator - y_true) / denominator
    return Unreduced(values.reshape(-1), lambda g: {"y_pred": g.reshape(denominator.shape) * d_pred})


@family.loss(
    summary="Tversky loss 1 - I / (I + alpha FP + beta FN + eps) per example, FP = sum((1 - y) p) the false "
    "positives, FN = sum(y (1 - p)) the false negatives.",
    reference="keras.losses.tversky over all non-batch axes, Keras >= 3.16 naming, shared by kornia, MONAI and "
    "optax: alpha weighs the false positives sum((1 - y_true) * y_pred), beta the false negatives "
    "sum(y_true * (1 - y_pred)) (Keras 3.15 and earlier had the two swapped)",
    formula=r"\ell = 1 - \frac{\sum y \hat{y}}{\sum y \hat{y} + \alpha \sum (1 - y) \hat{y} + \beta \sum y "
    r"(1 - \hat{y}) + \epsilon}",
    example={"y_true": [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], "y_pred": [[0.9, 0.2, 0.6], [0.1, 0.7, 0.8]]},
    params=(
        ParamSpec("alpha", "number", "weight of the false positives sum((1 - y_true) * y_pred)", ge=0),
        ParamSpec("beta", "number", "weight of the false negatives sum(y_true * (1 - y_pred))", ge=0),
        SMOOTHING,
    ),
)
def tversky(y_true: Array, y_pred: Array, *, alpha: float = 0.5, beta: float = 0.5, eps: float = 1e-7) -> Unreduced:
    """Tversky loss (Keras ``tversky`` over all non-batch axes, Keras >= 3.16 naming), per example:
    ``l = 1 - I / T``, ``T = I + alpha FP + beta FN + eps``.

    ``I = sum(y p)``; ``FP = sum((1 - y) p)``, the predicted mass outside the target (false
    positives), weighed by ``alpha``; ``FN = sum(y (1 - p))``, the target mass the prediction
    misses (false negatives), weighed by ``beta``. This is the naming of Salehi et al., kornia,
    MONAI, optax's ``dice_loss`` and Keras >= 3.16; Keras 3.15 and earlier applied ``alpha`` to
    ``FN`` and ``beta`` to ``FP`` (its ``tversky(y, p, alpha=a, beta=b)`` is this loss with
    ``alpha=b, beta=a``). ``alpha = beta = 0.5`` is the Dice loss. ``eps`` is in the denominator
    only, as Keras's ``backend.epsilon()``: an empty target gives ``I = 0`` and ``l = 1``. Keras's
    expression in its order of operations (``I + FP alpha + FN beta + eps``). No kinks.

    Gradient: ``dl/dp = ((I / T) dT/dp - y) / T`` with ``dT/dp = (1 - beta) y + alpha (1 - y)``.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``, rank >= 2, in [0, 1]; ``l``: ``(N,)``.
    """
    require_probabilities("y_true", y_true)
    require_probabilities("y_pred", y_pred)
    intersection = _example_sum(y_pred * y_true)
    false_positives = _example_sum((1 - y_true) * y_pred)
    false_negatives = _example_sum(y_true * (1 - y_pred))
    denominator = intersection + false_positives * alpha + false_negatives * beta + eps
    values = 1 - intersection / denominator
    d_denominator = (1 - beta) * y_true + alpha * (1 - y_true)
    d_pred = (intersection / denominator * d_denominator - y_true) / denominator
    return Unreduced(values.reshape(-1), lambda g: {"y_pred": g.reshape(denominator.shape) * d_pred})
