"""Overlap losses after optax's Dice family: per-class Dice/Tversky ratios of soft masks.

For each class channel ``c`` of a sample (the class axis is the last one), with ``p`` the
predicted probabilities, ``t`` the targets, and the sums taken over the sample's spatial axes
(every axis but the batch axis and the class axis, as optax's default ``axis``)::

    I = sum(p t),  P = sum(p),  T = sum(t)
    l_c = 1 - (I + s) / (I + alpha (P - I) + beta (T - I) + s)

``P - I = sum(p (1 - t))`` is the predicted mass outside the target (false positives, weighed by
``alpha``) and ``T - I = sum(t (1 - p))`` the target mass missed (false negatives, ``beta``);
``alpha = beta = 1/2`` is the Dice loss. ``s`` (``smooth``) is added to both numerator and
denominator, as optax does, so an empty class predicted empty has loss 0. The expressions are
optax's, in its order of operations.

Gradient of one class term: with ``N = I + s`` and ``D`` the denominator,
``dl_c/dp = ((N / D) (alpha + (1 - alpha - beta) t) - t) / D``. From logits it is pulled back
through the softmax (``dz = p (dp - sum(dp p))`` over the class axis) or, for one channel, the
sigmoid (``dz = dp p (1 - p)``), both computed from stable forms: the softmax from the
max-shifted log-softmax, the sigmoid's ``p (1 - p)`` as ``sigmoid(z) sigmoid(-z)``, so saturated
logits give exact 0/1 probabilities and finite gradients.

Domains (API.md section 3): targets in [0, 1]; probabilities (``from_logits`` false) in [0, 1]
and, for the multi-class losses, each row over the class axis summing to 1 within optax's
``jnp.allclose(sum, 1, rtol=1e-5)`` (``|sum - 1| <= 1e-8 + 1e-5``), as optax requires; a 422
otherwise. ``alpha``, ``beta``, ``smooth`` >= 0 keep every denominator >= 0; it is 0 only with
``smooth = 0`` for a class with no target and no predicted mass (0/0), which is refused as a
non-finite result (422).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInput
from ..shapes import PerExample, Shape, _one_shape
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..stable import log_softmax, logistic
from ..validate import issues_where, require_probabilities
from ._common import CLASS_WEIGHT, per_class

#: optax's ``jnp.allclose(row_sum, 1.0, rtol=1e-5)`` (default ``atol=1e-8``) for probability rows.
ROW_SUM_TOLERANCE = 1e-8 + 1e-5
#: optax's epsilon in the generalized Dice class weights ``1 / (f_c^2 + 1e-7)``.
GENERALIZED_DICE_EPSILON = 1e-7

CLASS_TARGETS = InputSpec(
    "y_true", "targets in [0, 1] with the class axis last, (N, ..., C): one-hot or class probabilities"
)
CLASS_PREDICTIONS = InputSpec(
    "y_pred",
    "logits with the class axis last, (N, ..., C); or, when from_logits is false, probabilities in [0, 1] "
    "whose rows over the class axis sum to 1",
    differentiable=True,
)
MASK_TARGETS = InputSpec("y_true", "target masks in [0, 1], (N, ...), of y_pred's shape")
MASK_PREDICTIONS = InputSpec(
    "y_pred", "logits, (N, ...); or probabilities in [0, 1] when from_logits is false", differentiable=True
)

FROM_LOGITS = ParamSpec(
    "from_logits",
    "boolean",
    "y_pred holds logits: softmax over the class axis (sigmoid when C = 1); false: probabilities whose rows sum to 1",
)
SMOOTH = ParamSpec("smooth", "number", "added to the numerator and the denominator of each class ratio", ge=0)
IGNORE_BACKGROUND = ParamSpec(
    "ignore_background", "boolean", "leave class 0 out of the mean over classes (no effect when C = 1)"
)


@dataclass(frozen=True)
class PerExampleMask:
    """Inputs share one shape ``(N, ...)`` of rank >= 1; every non-batch axis is reduced: ``(N,)``.

    Rank 1 is allowed (optax's ``binary_dice_loss`` takes ``(N,)``): each sample is one element.
    """

    names: tuple[str, ...] = ("y_true", "y_pred")
    description: str = "per-example: (N,), every non-batch axis reduced"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return dict.fromkeys(self.names, ("N", "..."))

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        return _one_shape(self.names, shapes, min_rank=1)[:1]


@dataclass(frozen=True)
class WholeBatch:
    """Inputs share one shape ``(N, ..., C)`` of rank >= 2; the loss is one value for the batch: ``()``."""

    names: tuple[str, ...] = ("y_true", "y_pred")
    description: str = "one value for the whole batch: ()"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return dict.fromkeys(self.names, ("N", "...", "C"))

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        _one_shape(self.names, shapes, min_rank=2)
        return ()


family = Family("segmentation", inputs=(CLASS_TARGETS, CLASS_PREDICTIONS), shape_rule=PerExample())

Pullback = Callable[[Array], Array]


def _probabilities(y_pred: Array, from_logits: bool) -> tuple[Array, Pullback]:
    """The class probabilities of ``y_pred`` (class axis last) and the pull-back of ``d/dp`` to ``d/dy_pred``.

    Logits: softmax over the last axis, or the sigmoid when it has one channel (optax's choice).
    Probabilities: checked (in [0, 1], rows summing to 1 as optax requires) and used as given.
    """
    if not from_logits:
        require_probabilities("y_pred", y_pred)
        row_sums = np.sum(y_pred, axis=-1)
        off = ~(np.abs(row_sums - 1) <= ROW_SUM_TOLERANCE)
        if off.any():
            count = int(np.count_nonzero(off))
            describe = "a row sum of 1 (within 1e-5) over the class axis"
            raise InvalidInput(
                f"{count} row(s) of y_pred do not sum to 1 over the class axis: with from_logits false, y_pred holds "
                "class probabilities (use binary_dice for one-channel probabilities)",
                issues_where("y_pred", off, row_sums, describe),
            )
        return y_pred, lambda d_p: d_p
    if y_pred.shape[-1] == 1:
        logits = logistic(y_pred)
        slope = logits.sigmoid * logits.sigmoid_neg  # p (1 - p), without the cancellation of 1 - p
        return logits.sigmoid, lambda d_p: d_p * slope
    p = np.exp(log_softmax(y_pred, axis=-1))
    return p, lambda d_p: p * (d_p - np.sum(d_p * p, axis=-1, keepdims=True))


def _class_losses(
    p: Array, t: Array, *, smooth: float, alpha: float, beta: float, axes: tuple[int, ...]
) -> tuple[Array, Pullback]:
    """optax's per-class loss ``1 - (I + s) / (I + alpha (P - I) + beta (T - I) + s)`` summed over ``axes``
    (kept as size-1 axes), and the pull-back of its cotangent (that shape) to ``d/dp`` (``p``'s shape)."""
    intersection = np.sum(p * t, axis=axes, keepdims=True)
    pred_sum = np.sum(p, axis=axes, keepdims=True)
    target_sum = np.sum(t, axis=axes, keepdims=True)
    numerator = intersection + smooth
    denominator = intersection + alpha * (pred_sum - intersection) + beta * (target_sum - intersection) + smooth
    coefficient = numerator / denominator
    d_denominator = alpha + (1 - alpha - beta) * t  # d(denominator)/dp, elementwise
    d_p = (coefficient * d_denominator - t) / denominator
    return 1.0 - coefficient, lambda g: g * d_p


def _spatial_axes(x: Array) -> tuple[int, ...]:
    """optax's default ``axis``: every axis but the first (batch) and the last (classes)."""
    return tuple(range(1, x.ndim - 1))


def _kept_classes(n_classes: int, ignore_background: bool) -> slice:
    """The classes that enter the mean: all, or all but class 0 (optax ignores the flag for one class)."""
    return slice(1, None) if ignore_background and n_classes > 1 else slice(None)


@family.loss(
    summary="Multi-class Dice (Tversky) loss: per sample, the mean over classes of the class-weighted "
    "1 - (I + s) / (I + alpha FP + beta FN + s).",
    reference="optax.losses.dice_loss with reduction='mean': per sample, the mean over the classes kept (divided by "
    "C, or C - 1 without the background) of the class-weighted per-class loss",
    formula=r"\ell = \frac{1}{|K|} \sum_{c \in K} w_c \left(1 - \frac{I_c + s}{I_c + \alpha (P_c - I_c) + "
    r"\beta (T_c - I_c) + s}\right), \quad I_c = \sum p_c y_c,\ P_c = \sum p_c,\ T_c = \sum y_c",
    example={
        "y_true": [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]],
        "y_pred": [[[2.0, 0.5, -1.0], [0.1, 1.5, 0.2]], [[-0.5, 0.3, 1.8], [0.0, 2.2, -0.4]]],
    },
    params=(
        FROM_LOGITS,
        SMOOTH,
        ParamSpec("alpha", "number", "weight of the false positives P - I = sum((1 - y_true) * p)", ge=0),
        ParamSpec("beta", "number", "weight of the false negatives T - I = sum(y_true * (1 - p))", ge=0),
        CLASS_WEIGHT,
        IGNORE_BACKGROUND,
    ),
)
def multiclass_dice(
    y_true: Array,
    y_pred: Array,
    *,
    from_logits: bool = True,
    smooth: float = 1.0,
    alpha: float = 0.5,
    beta: float = 0.5,
    class_weight: list[float] | None = None,
    ignore_background: bool = False,
) -> Unreduced:
    """Multi-class Dice loss (optax ``dice_loss``, ``reduction='mean'``), one value per sample.

    ``p = softmax(y_pred)`` over the class axis (``sigmoid`` when ``C = 1``), or ``y_pred`` itself
    when ``from_logits`` is false (rows summing to 1, else 422; with ``C = 1`` that means ``p = 1``:
    one-channel probabilities belong to ``binary_dice``). For each sample and class,
    ``l_c = 1 - (I_c + s) / (I_c + alpha (P_c - I_c) + beta (T_c - I_c) + s)`` with the sums over
    the spatial axes (none for ``(N, C)`` inputs: each class ratio is then of single elements).
    ``l = (1 / |K|) sum_{c in K} w_c l_c``: ``w`` is ``class_weight`` (1 when null), applied before
    the background is dropped; ``K`` is every class, or every class but 0 with
    ``ignore_background`` (ignored when ``C = 1``, as optax does).

    Gradient: ``dl/dp = (1 / |K|) sum_c w_c ((N_c / D_c) (alpha + (1 - alpha - beta) y) - y) / D_c``
    per element of class ``c``, pulled back through the softmax or sigmoid (module docstring);
    with logits the background's logits still get a gradient through the softmax when it is
    ignored. No kinks.

    Degenerate inputs: an empty class predicted empty (probabilities) has ``l_c = 0`` with
    ``smooth > 0``; with ``smooth = 0`` it is 0/0, refused as not finite (422). Saturated logits
    give exact 0/1 probabilities and finite results.

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``, rank >= 2; ``class_weight``: ``(C,)``; ``l``: ``(N,)``.
    """
    require_probabilities("y_true", y_true)
    n_classes = y_pred.shape[-1]
    weights = per_class("class_weight", class_weight, n_classes, y_pred.dtype)
    p, to_logits = _probabilities(y_pred, from_logits)
    losses, to_p = _class_losses(p, y_true, smooth=smooth, alpha=alpha, beta=beta, axes=_spatial_axes(p))
    if weights is not None:
        losses = losses * weights
    kept = _kept_classes(n_classes, ignore_background)
    values = np.mean(losses[..., kept], axis=-1).reshape(-1)

    def vjp(g: Array) -> dict[str, Array]:
        share = np.zeros(losses.shape, dtype=p.dtype)
        share[..., kept] = 1.0 / share[..., kept].shape[-1]
        if weights is not None:
            share = share * weights
        return {"y_pred": to_logits(to_p(g.reshape((-1,) + (1,) * (losses.ndim - 1)) * share))}

    return Unreduced(values, vjp)


@family.loss(
    summary="Binary Dice loss 1 - (I + s) / (I + (P - I) / 2 + (T - I) / 2 + s) per sample, over every non-batch axis.",
    reference="optax.losses.binary_dice_loss; with probabilities (from_logits=false, which optax refuses) the same "
    "formula on y_pred as given: 1 - (I + s) / (I + 0.5 (P - I) + 0.5 (T - I) + s) over all non-batch axes",
    formula=r"\ell = 1 - \frac{I + s}{I + \tfrac{1}{2}(P - I) + \tfrac{1}{2}(T - I) + s}, \quad "
    r"I = \sum p\, y,\ P = \sum p,\ T = \sum y,\ p = \sigma(\hat{y})",
    example={"y_true": [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], "y_pred": [[2.0, -1.5, 0.5], [-2.0, 1.0, 3.0]]},
    inputs=(MASK_TARGETS, MASK_PREDICTIONS),
    shape_rule=PerExampleMask(),
    params=(ParamSpec("from_logits", "boolean", "y_pred holds logits (sigmoid) or probabilities in [0, 1]"), SMOOTH),
)
def binary_dice(y_true: Array, y_pred: Array, *, from_logits: bool = True, smooth: float = 1.0) -> Unreduced:
    """Binary Dice loss (optax ``binary_dice_loss``), one value per sample.

    ``p = sigmoid(y_pred)``, or ``y_pred`` itself (in [0, 1]) when ``from_logits`` is false.
    ``l = 1 - (I + s) / (I + 0.5 (P - I) + 0.5 (T - I) + s)`` with ``I = sum(p y)``, ``P = sum(p)``,
    ``T = sum(y)`` over every non-batch axis (none for ``(N,)`` inputs: each element is a sample).

    Gradient: ``dl/dp = ((N / D) / 2 - y) / D`` (``N = I + s``, ``D`` the denominator; the
    ``(1 - alpha - beta) y`` term vanishes at ``alpha = beta = 1/2``), times ``p (1 - p)`` from logits,
    computed as ``sigmoid(z) sigmoid(-z)`` (no cancellation at saturation). No kinks.

    Degenerate inputs: an empty target and an empty prediction (probabilities) give ``s / s``, loss 0,
    with ``smooth > 0``, and 0/0 with ``smooth = 0``, refused as not finite (422).

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``, rank >= 1; ``l``: ``(N,)``.
    """
    require_probabilities("y_true", y_true)
    if from_logits:
        logits = logistic(y_pred)
        p, slope = logits.sigmoid, logits.sigmoid * logits.sigmoid_neg
    else:
        require_probabilities("y_pred", y_pred)
        p, slope = y_pred, None
    losses, to_p = _class_losses(p, y_true, smooth=smooth, alpha=0.5, beta=0.5, axes=tuple(range(1, p.ndim)))

    def vjp(g: Array) -> dict[str, Array]:
        d_p = to_p(g.reshape(losses.shape))
        return {"y_pred": d_p if slope is None else d_p * slope}

    return Unreduced(losses.reshape(-1), vjp)


@family.loss(
    summary="Generalized Dice loss: Dice with class weights 1 / (f_c^2 + 1e-7) from the batch's class "
    "frequencies, normalised to sum to C; one value for the batch.",
    reference="optax.losses.multiclass_generalized_dice_loss: class weights 1 / (f_c^2 + 1e-7) over the whole batch, "
    "normalised to sum to C",
    formula=r"\ell = \frac{1}{N |K|} \sum_{n} \sum_{c \in K} w_c \left(1 - \frac{I_{nc} + s}{\tfrac{1}{2}(P_{nc} + "
    r"T_{nc}) + s}\right), \quad w_c \propto \frac{1}{f_c^2 + 10^{-7}},\ \sum_c w_c = C",
    example={
        "y_true": [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]],
        "y_pred": [[[2.0, 0.5, -1.0], [0.1, 1.5, 0.2]], [[-0.5, 0.3, 1.8], [0.0, 2.2, -0.4]]],
    },
    params=(
        ParamSpec(
            "from_logits",
            "boolean",
            "y_pred holds logits: softmax over the class axis (sigmoid when C = 1); false: probabilities whose rows "
            "sum to 1",
        ),
        SMOOTH,
        IGNORE_BACKGROUND,
    ),
    inputs=(
        InputSpec("y_true", "one-hot targets (values in [0, 1]) with the class axis last, (N, ..., C)"),
        CLASS_PREDICTIONS,
    ),
    shape_rule=WholeBatch(),
    batch=True,
    scalar=True,
)
def generalized_dice(
    y_true: Array, y_pred: Array, *, from_logits: bool = True, smooth: float = 1.0, ignore_background: bool = False
) -> Unreduced:
    """Generalized Dice loss (optax ``multiclass_generalized_dice_loss``): one value for the batch.

    The class frequencies ``f_c = sum(y_true[..., c])`` over the whole batch (every axis but the
    class axis) give the weights ``w_c = 1 / (f_c^2 + 1e-7)``, normalised to ``C w_c / sum(w)``
    (over all ``C`` classes, the background included even when it is ignored). With the Dice
    per-class loss ``l_nc`` of each sample (``alpha = beta = 1/2``, sums over the spatial axes,
    probabilities as in ``multiclass_dice``), ``l = mean_{n, c in K} w_c l_nc``: divided by ``N |K|``.
    The weights depend only on the targets, so they carry no gradient.

    Gradient: ``dl/dp = w_c dl_nc/dp / (N |K|)`` for the kept classes, pulled back through the
    softmax (sigmoid when ``C = 1``) from logits.

    Degenerate inputs: a class absent from the whole batch (``f_c = 0``) gets the raw weight
    ``1e7`` and so most of the normalised weight, as in optax (and Sudre et al.'s form);
    ``smooth = 0`` with an empty class predicted empty is 0/0, refused as not finite (422).
    *Batch* and *scalar*: the weights couple the samples; ``mean`` is the only reduction and
    there is no sample weight (API.md section 8).

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``, rank >= 2; ``l``: ``()``.
    """
    require_probabilities("y_true", y_true)
    n_classes = y_pred.shape[-1]
    frequencies = np.sum(y_true, axis=tuple(range(y_true.ndim - 1)))
    raw = 1.0 / (frequencies**2 + GENERALIZED_DICE_EPSILON)
    weights = raw / np.sum(raw) * n_classes
    p, to_logits = _probabilities(y_pred, from_logits)
    losses, to_p = _class_losses(p, y_true, smooth=smooth, alpha=0.5, beta=0.5, axes=_spatial_axes(p))
    weighted = (losses * weights)[..., _kept_classes(n_classes, ignore_background)]
    value = np.mean(weighted)

    def vjp(g: Array) -> dict[str, Array]:
        share = np.zeros(losses.shape, dtype=p.dtype)
        kept = _kept_classes(n_classes, ignore_background)
        share[..., kept] = 1.0 / weighted.size
        return {"y_pred": to_logits(to_p(g * (share * weights)))}

    return Unreduced(np.asarray(value), vjp)
