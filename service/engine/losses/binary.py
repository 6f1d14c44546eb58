"""Binary and multi-label losses: elementwise over ``(N, ...)``, one logit or probability per label."""

from __future__ import annotations

import numpy as np

from ..shapes import Elementwise, PerSample
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..stable import logistic, sigmoid, softplus
from ..validate import require, require_probabilities, signed_labels
from ._common import (
    ALPHA,
    BINARY_SCORES,
    CLASS_WEIGHT,
    EPS,
    FROM_LOGITS,
    GAMMA,
    LABEL_SMOOTHING,
    PREDICTIONS,
    PROBABILITY_TARGETS,
    SIGNED_LABELS,
    clip_probabilities,
    per_class,
    smooth_binary_labels,
)

family = Family("binary", inputs=(SIGNED_LABELS, PREDICTIONS), shape_rule=Elementwise())


@family.loss(
    summary="Binary cross-entropy on logits or probabilities, with label smoothing and a positive-class weight.",
    reference="logits: torch.nn.functional.binary_cross_entropy_with_logits; "
    "probabilities: keras.losses.binary_crossentropy, elementwise",
    formula=r"\ell = -\left[ w_{+} \, y \log p + (1 - y) \log(1 - p) \right], \quad p = \sigma(\hat{y}) \ \text{or} \ "
    r"\operatorname{clip}(\hat{y}, \epsilon, 1 - \epsilon)",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.1, 0.8], [0.7, 0.3]]},
    inputs=(PROBABILITY_TARGETS, BINARY_SCORES),
    params=(
        FROM_LOGITS,
        LABEL_SMOOTHING,
        ParamSpec(
            "pos_weight",
            "number_or_weights",
            "weight of positive examples: one number, or one per class (length C, the last axis)",
            nullable=True,
        ),
        EPS,
    ),
)
def binary_crossentropy(
    y_true: Array,
    y_pred: Array,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    pos_weight: float | list[float] | None = None,
    eps: float = 1e-7,
) -> Unreduced:
    """Binary cross-entropy, elementwise.

    With ``y`` the smoothed target ``y_true (1 - ls) + ls / 2`` and ``w`` the positive
    weight (1 when ``pos_weight`` is null; a number, or one per class on the last axis):

    - logits ``x`` (PyTorch ``binary_cross_entropy_with_logits``):
      ``l = w y softplus(-x) + (1 - y) softplus(x)``, the negated log-likelihood with
      ``-log sigmoid(x) = softplus(-x)``; ``softplus(z) = max(z, 0) + log1p(exp(-|z|))``
      never overflows, and unlike PyTorch's ``(1 - y) x - (1 + (w - 1) y) log sigmoid(x)``
      no two large terms cancel (at ``x = -30, y = 0`` PyTorch is 1% off the true 9.4e-14;
      the two agree to 1e-12 absolute);
      ``dl/dx = (1 - y) sigmoid(x) - w y sigmoid(-x)`` (``sigmoid(x) - y`` for ``w = 1``).
    - probabilities ``p`` (Keras ``binary_crossentropy``): ``q = clip(p, eps, 1 - eps)``,
      ``l = -(w y log q + (1 - y) log(1 - q))``; ``dl/dp = -(w y / q - (1 - y) / (1 - q))``
      where the clip left ``p`` unchanged, else 0.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``, targets in [0, 1]; ``l``: the same.
    """
    require_probabilities("y_true", y_true)
    if not from_logits:
        require_probabilities("y_pred", y_pred)
    y = smooth_binary_labels(y_true, label_smoothing)
    w = per_class("pos_weight", pos_weight, y_pred.shape[-1], y_pred.dtype)
    positive = y if w is None else w * y  # the weight on the log-likelihood of the positive class

    if from_logits:
        f = logistic(y_pred)
        not_y = 1 - y
        values = positive * f.softplus_neg + not_y * f.softplus
        dx = not_y * f.sigmoid - positive * f.sigmoid_neg
        return Unreduced(values, lambda g: {"y_pred": g * dx})

    q, unclipped = clip_probabilities(y_pred, eps)
    values = -(positive * np.log(q) + (1 - y) * np.log1p(-q))
    dq = -(positive / q - (1 - y) / (1 - q))
    return Unreduced(values, lambda g: {"y_pred": np.where(unclipped, g * dq, 0)})


@family.loss(
    summary="Focal loss for binary and multi-label targets: cross-entropy down-weighted on easy examples. "
    "Unlike the other binary losses, from_logits defaults to true (torchvision's form).",
    reference="logits: torchvision.ops.sigmoid_focal_loss; "
    "probabilities: keras.losses.binary_focal_crossentropy with class balancing",
    formula=r"\ell = -\alpha_t (1 - p_t)^{\gamma} \log p_t, \quad p_t = y \, p + (1 - y)(1 - p)",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[-2.0, 1.5], [0.5, -0.5]]},
    inputs=(PROBABILITY_TARGETS, BINARY_SCORES),
    params=(
        ALPHA,
        GAMMA,
        ParamSpec("from_logits", "boolean", "y_pred holds logits (true) or probabilities (false)"),
        LABEL_SMOOTHING,
        EPS,
    ),
)
def binary_focal(
    y_true: Array,
    y_pred: Array,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    from_logits: bool = True,
    label_smoothing: float = 0.0,
    eps: float = 1e-7,
) -> Unreduced:
    """Focal loss (Lin et al. 2017), elementwise: ``l = a_t (1 - p_t)^gamma ce``.

    ``y`` is the smoothed target, ``p`` the probability, ``p_t = y p + (1 - y)(1 - p)``,
    ``a_t = alpha y + (1 - alpha)(1 - y)`` (1 when ``alpha`` is null) and ``ce`` the binary
    cross-entropy.

    - logits (``torchvision.ops.sigmoid_focal_loss``): ``ce = y softplus(-x) + (1 - y)
      softplus(x)``, as in ``binary_crossentropy``. The focal weight is formed in log space,
      ``log(1 - p_t) = logaddexp(log y + log sigmoid(-x), log(1 - y) + log sigmoid(x))``,
      and so is its derivative
      ``gamma (1 - 2y) exp((gamma - 1) log(1 - p_t) + log sigmoid(x) + log sigmoid(-x))``:
      with ``gamma < 1`` the factor ``(1 - p_t)^(gamma - 1)`` alone overflows at saturated
      logits, while the whole product stays finite (PyTorch's autograd gives NaN there).
    - probabilities (``keras.losses.binary_focal_crossentropy`` with class balancing):
      ``ce`` is Keras's clipped binary cross-entropy; ``p_t`` uses the unclipped ``p``, so
      ``p = y`` exactly (0 or 1) gives a focal weight of 0. There, with ``gamma < 1``, the
      derivative of ``(1 - p_t)^gamma`` is infinite: the gradient is reported as non-finite.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``, targets in [0, 1]; ``l``: the same.
    """
    require_probabilities("y_true", y_true)
    if not from_logits:
        require_probabilities("y_pred", y_pred)
    y = smooth_binary_labels(y_true, label_smoothing)
    alpha_t = 1 if alpha is None else alpha * y + (1 - alpha) * (1 - y)

    if from_logits:
        f = logistic(y_pred)
        not_y = 1 - y
        ce = y * f.softplus_neg + not_y * f.softplus
        dce = not_y * f.sigmoid - y * f.sigmoid_neg  # = sigmoid(x) - y, without 1 - (1 - tiny)
        hard = bool(np.all((y == 0) | (y == 1)))
        if hard:  # 1 - p_t is sigmoid(-x) or sigmoid(x): exact, no logs needed
            one_minus_pt = np.where(y == 1, f.sigmoid_neg, f.sigmoid)
            log_one_minus_pt = -np.where(y == 1, f.softplus, f.softplus_neg)
        else:
            log_one_minus_pt = np.logaddexp(np.log(y) - f.softplus, np.log(not_y) - f.softplus_neg)
            one_minus_pt = np.exp(log_one_minus_pt)
        if gamma == 2:
            focal, focal_less_one = one_minus_pt * one_minus_pt, one_minus_pt
        else:
            focal = np.exp(gamma * log_one_minus_pt)
        # d(1 - p_t)^gamma/dx = gamma (1 - 2y) (1 - p_t)^(gamma - 1) sigmoid(x) sigmoid(-x). For
        # gamma >= 1 each factor is at most 1; for gamma < 1 the power alone overflows at
        # saturated logits while the product does not, so that case is formed in log space.
        if gamma >= 1:
            if gamma != 2:
                focal_less_one = np.exp((gamma - 1) * log_one_minus_pt)
            dfocal = (gamma * (1 - 2 * y)) * focal_less_one * (f.sigmoid * f.sigmoid_neg)
        else:
            dfocal = (gamma * (1 - 2 * y)) * np.exp((gamma - 1) * log_one_minus_pt - f.softplus - f.softplus_neg)
        dx = alpha_t * (dce * focal + ce * dfocal)
        return Unreduced(alpha_t * ce * focal, lambda g: {"y_pred": g * dx})

    p = y_pred
    q, unclipped = clip_probabilities(p, eps)
    ce = -(y * np.log(q) + (1 - y) * np.log1p(-q))
    dce = np.where(unclipped, -(y / q - (1 - y) / (1 - q)), 0)
    one_minus_pt = y * (1 - p) + (1 - y) * p  # d/dp = 1 - 2y
    focal = one_minus_pt**gamma
    dfocal = gamma * one_minus_pt ** (gamma - 1) * (1 - 2 * y) if gamma != 0 else 0 * p
    dp = alpha_t * (dce * focal + ce * dfocal)
    return Unreduced(alpha_t * ce * focal, lambda g: {"y_pred": g * dp})


@family.loss(
    summary="Hinge loss max(1 - y f, 0) for labels -1/1 (or 0/1).",
    reference="keras.losses.hinge, elementwise",
    formula=r"\ell = \max(0, 1 - y \, \hat{y})",
    example={"y_true": [[1.0, -1.0], [-1.0, 1.0]], "y_pred": [[0.3, -0.8], [0.4, 2.0]]},
)
def hinge(y_true: Array, y_pred: Array) -> Unreduced:
    """Hinge loss, elementwise: ``l = max(1 - y f, 0)`` with labels ``y`` in {-1, 1}.

    Labels given as 0/1 are mapped to -1/1 first, as Keras does (all or nothing).
    Gradient: ``dl/df = -y`` where ``1 - y f >= 0`` (at the kink too, as PyTorch's
    autograd gives for ``clamp_min``), else 0.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    y = signed_labels("y_true", y_true)
    margin = 1 - y * y_pred
    active = margin >= 0
    return Unreduced(np.maximum(margin, 0), lambda g: {"y_pred": np.where(active, -y * g, 0)})


@family.loss(
    summary="Perceptron loss max(0, -y f) for labels -1/1 (or 0/1).",
    reference="optax.losses.perceptron_loss",
    formula=r"\ell = \max(0, -y \, \hat{y})",
    example={"y_true": [[1.0, -1.0], [-1.0, 1.0]], "y_pred": [[0.3, -0.8], [0.4, 2.0]]},
)
def perceptron(y_true: Array, y_pred: Array) -> Unreduced:
    """Perceptron loss, elementwise: ``l = max(0, -y f)`` with labels ``y`` in {-1, 1} (or 0/1).

    Gradient: ``dl/df = -y`` where ``-y f >= 0`` (so at ``f = 0`` too, as PyTorch's
    autograd gives for ``clamp_min``), else 0. (optax's ``jnp.maximum`` would pass half there.)

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    y = signed_labels("y_true", y_true)
    margin = -y * y_pred
    active = margin >= 0
    return Unreduced(np.maximum(margin, 0), lambda g: {"y_pred": np.where(active, -y * g, 0)})


@family.loss(
    summary="Squared hinge loss max(1 - y f, 0)^2 for labels -1/1 (or 0/1).",
    reference="keras.losses.squared_hinge, elementwise",
    formula=r"\ell = \max(0, 1 - y \, \hat{y})^2",
    example={"y_true": [[1.0, -1.0], [-1.0, 1.0]], "y_pred": [[0.3, -0.8], [0.4, 2.0]]},
)
def squared_hinge(y_true: Array, y_pred: Array) -> Unreduced:
    """Squared hinge loss, elementwise: ``l = max(1 - y f, 0)^2`` with labels ``y`` in {-1, 1}.

    Labels given as 0/1 are mapped to -1/1 first, as Keras does (all or nothing; a mix of 0
    and -1 is refused). Gradient: ``dl/df = -2 y max(1 - y f, 0)``, continuous, so the kink
    at ``y f = 1`` needs no convention (it is 0 there). ``f`` so large that ``(1 - y f)^2``
    overflows gives a non-finite result (a 422): the true value is not representable.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    y = signed_labels("y_true", y_true)
    h = np.maximum(1 - y * y_pred, 0)
    return Unreduced(h * h, lambda g: {"y_pred": -2 * y * h * g})


def _require_signed(name: str, y: Array) -> None:
    """Labels exactly -1 or 1 (PyTorch's margin losses use ``y`` as a sign; 0/1 is refused)."""
    require(name, (y == 1) | (y == -1), y, "a label in {-1, 1}")


@family.loss(
    summary="Soft-margin (logistic) loss log(1 + exp(-y x)) for labels -1/1.",
    reference="torch.nn.functional.soft_margin_loss",
    formula=r"\ell = \log\left(1 + e^{-y \, \hat{y}}\right)",
    example={"y_true": [[1.0, -1.0], [-1.0, 1.0]], "y_pred": [[0.3, -0.8], [0.4, 2.0]]},
    inputs=(
        InputSpec("y_true", "labels -1 or 1, of y_pred's shape"),
        InputSpec("y_pred", "scores", differentiable=True),
    ),
)
def soft_margin(y_true: Array, y_pred: Array) -> Unreduced:
    """Soft-margin (logistic) loss, elementwise: ``l = log(1 + exp(-y x))``, labels ``y`` in {-1, 1}.

    PyTorch ``soft_margin_loss``. Labels must be -1 or 1 (PyTorch multiplies by any ``y``;
    0/1 labels would make ``y = 0`` a constant ``log 2``, so they are refused rather than
    mapped). Computed as ``softplus(-y x) = max(-y x, 0) + log1p(exp(-|y x|))``, finite for
    every finite ``x``; PyTorch's ``log1p(exp(-y x))`` overflows to ``inf`` (and its
    gradient to NaN) once ``-y x`` exceeds ~709, while the values agree to rounding below.
    Gradient: ``dl/dx = -y sigmoid(-y x)``; smooth, no kink.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    _require_signed("y_true", y_true)
    z = -y_true * y_pred
    dx = -y_true * sigmoid(z)
    return Unreduced(softplus(z), lambda g: {"y_pred": g * dx})


@family.loss(
    summary="Multi-label logistic loss: the per-class binary cross-entropy on logits, averaged over the classes.",
    reference="torch.nn.functional.multilabel_soft_margin_loss",
    formula=r"\ell = -\frac{1}{C} \sum_{c} w_c \left[ y_c \log \sigma(\hat{y}_c) + (1 - y_c) \log \sigma(-\hat{y}_c) "
    r"\right]",
    example={"y_true": [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], "y_pred": [[0.5, -1.0, 2.0], [-0.3, 0.8, 0.1]]},
    inputs=(
        InputSpec("y_true", "labels 0 or 1, one per class, of y_pred's shape"),
        InputSpec("y_pred", "logits with the class axis last", differentiable=True),
    ),
    shape_rule=PerSample(),
    params=(CLASS_WEIGHT,),
)
def multilabel_soft_margin(y_true: Array, y_pred: Array, *, class_weight: list[float] | None = None) -> Unreduced:
    """Multi-label soft-margin loss, per sample:
    ``l = -(1/C) sum_c w_c [y_c log sigmoid(x_c) + (1 - y_c) log sigmoid(-x_c)]``.

    PyTorch ``multilabel_soft_margin_loss``: one logit ``x_c`` and one 0/1 label ``y_c`` per
    class on the last axis, ``w`` the class weights (1 when null; length C). Labels other
    than 0 and 1 are refused (PyTorch would take soft targets silently; the contract says
    labels). As in PyTorch the class weights do not change the mean: ``mean`` averages the
    per-sample values. ``-log sigmoid(x) = softplus(-x)`` keeps every term finite.
    Gradient: ``dl/dx_c = w_c (sigmoid(x_c) - y_c) / C``, formed as ``sigmoid(x)`` or
    ``-sigmoid(-x)`` by the label so that it keeps its relative precision when small; smooth.

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``; ``l``: ``(N, ...)`` (PyTorch's class
    axis is the last one too, so extra axes are PyTorch's own behaviour).
    """
    require("y_true", (y_true == 0) | (y_true == 1), y_true, "a label in {0, 1}")
    n_classes = y_pred.shape[-1]
    w = per_class("class_weight", class_weight, n_classes, y_pred.dtype)
    x = y_pred
    terms = y_true * softplus(-x) + (1 - y_true) * softplus(x)
    dx = (1 - y_true) * sigmoid(x) - y_true * sigmoid(-x)  # sigmoid(x) - y without cancellation
    if w is not None:
        terms, dx = w * terms, w * dx
    values = np.sum(terms, axis=-1) / n_classes
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * dx / n_classes})


@family.loss(
    summary="Multi-label hinge loss: every target class must beat every non-target class by a margin of 1.",
    reference="torch.nn.functional.multilabel_margin_loss",
    formula=r"\ell = \frac{1}{C} \sum_{j \in T} \sum_{i \notin T} \max\left(0, 1 - (\hat{y}_j - \hat{y}_i)\right)",
    example={"y_true": [[2, 0, -1], [1, -1, -1]], "y_pred": [[0.1, 0.2, 0.4], [0.3, 0.8, -0.2]]},
    inputs=(
        InputSpec(
            "y_true",
            "per sample, the target class indices in [0, C) followed by -1 padding, of y_pred's shape",
            integer=True,
        ),
        InputSpec("y_pred", "scores with the class axis last", differentiable=True),
    ),
    shape_rule=PerSample(),
)
def multilabel_margin(y_true: Array, y_pred: Array) -> Unreduced:
    """Multi-label margin loss, per sample:
    ``l = (1/C) sum_{j listed} sum_{i not a target} max(0, 1 - (x[y_j] - x[i]))``.

    PyTorch ``multilabel_margin_loss``. ``y_true`` holds, per sample, the target classes
    followed by -1 padding: the targets are the entries before the first -1, the rest is
    ignored (a listed class listed twice counts twice, as in PyTorch). Every entry must be
    a class index in [0, C) or -1, as PyTorch checks. PyTorch takes ``(N, C)``; ``(N, ..., C)``
    applies the same formula to every position of the extra axes.

    Gradient, with ``z_ji = 1 - x[y_j] + x[i]``: each active pair (``z_ji > 0``) adds
    ``1/C`` to ``dl/dx[i]`` and ``-1/C`` to ``dl/dx[y_j]``. At the kink ``z_ji == 0`` the pair
    adds nothing: PyTorch's kernel (forward and hand-written backward) tests ``z > 0``; this
    follows the reference rather than ``clamp_min``'s convention.

    Computation: not PyTorch's O(C^2) double loop but O(C log C) per sample, so that one
    large request cannot take quadratic time. With the non-targets sorted,
    ``x_(0) <= ... <= x_(K-1)``, and a threshold ``a_j = x[y_j] - 1``, the pairs of target ``j``
    sum to ``S_j = D_m + (K - m) (x_(m) - a_j)`` where ``m`` is the first non-target above
    ``a_j`` and ``D_m = sum_{i >= m} (x_(i) - x_(m)) = sum_{l >= m} (K - 1 - l)(x_(l+1) - x_(l))``,
    a running sum of non-negative terms: no cancellation, so ``S_j`` is accurate to a few
    ulp relative (unlike ``sum x_i - count * a_j``). The counts come from one merged sort
    of the non-targets and the thresholds (ties put the score first: ``z == 0`` is inactive).

    Shapes: ``y_true`` (integers) and ``y_pred``: ``(N, ..., C)``; ``l``: ``(N, ...)``.
    """
    x = y_pred
    n = x.shape[-1]
    require("y_true", (y_true >= -1) & (y_true < n), y_true, f"a class index in [0, {n - 1}], or -1 (padding)")
    listed = np.cumprod(y_true >= 0, axis=-1).astype(bool)  # the entries before the first -1
    target = np.where(listed, y_true, 0)
    marks = np.zeros((*x.shape[:-1], n + 1), dtype=bool)
    np.put_along_axis(marks, np.where(listed, y_true, n), True, axis=-1)
    is_target = marks[..., :n]

    # Thresholds a_j (+inf where unlisted: nothing exceeds them) and the non-targets (-inf for targets).
    a = np.where(listed, np.take_along_axis(x, target, axis=-1) - 1, np.inf)
    others = np.where(is_target, -np.inf, x)
    order = np.argsort(others, axis=-1, kind="stable")
    xs = np.take_along_axis(others, order, axis=-1)

    # Merge the sorted non-targets with the thresholds; at ties the non-target comes first.
    merged = np.argsort(np.concatenate([xs, a], axis=-1), axis=-1, kind="stable")
    position = np.argsort(merged, axis=-1, kind="stable")  # where each entry landed
    is_threshold = merged >= n
    scores_up_to = np.cumsum(~is_threshold, axis=-1)
    thresholds_up_to = np.cumsum(is_threshold, axis=-1)
    below = np.take_along_axis(scores_up_to, position[..., n:], axis=-1)  # non-targets <= a_j
    count = n - below  # non-targets above a_j: the active pairs of target j
    thresholds_below = np.take_along_axis(thresholds_up_to, position[..., :n], axis=-1)  # a_j < x_(i)

    # D_m from the gaps of the finite (non-target) part of xs.
    finite = np.isfinite(xs)
    gaps = np.where(finite[..., :-1], np.diff(xs, axis=-1), 0)
    terms = (n - 1 - np.arange(n - 1)).astype(x.dtype) * gaps
    tail = np.flip(np.cumsum(np.flip(terms, axis=-1), axis=-1), axis=-1)
    d = np.concatenate([tail, np.zeros((*x.shape[:-1], 1), dtype=x.dtype)], axis=-1)
    m = np.minimum(below, n - 1)
    active = count > 0
    x_m = np.where(active, np.take_along_axis(xs, m, axis=-1), 0)
    s = np.where(active, np.take_along_axis(d, m, axis=-1) + count.astype(x.dtype) * (x_m - np.where(active, a, 0)), 0)
    values = np.sum(s, axis=-1) / n

    # Gradient: +count of thresholds below each non-target, -count of active pairs at each target class.
    up = np.zeros(x.shape, dtype=x.dtype)
    np.put_along_axis(up, order, thresholds_below.astype(x.dtype), axis=-1)
    up = np.where(is_target, 0, up)
    rows = np.arange(int(np.prod(x.shape[:-1], dtype=np.int64)), dtype=np.int64).reshape(x.shape[:-1])
    flat = (rows[..., None] * n + target).ravel()
    down = np.bincount(flat, weights=np.where(listed, count, 0).ravel(), minlength=x.size).reshape(x.shape)
    dx = (up - down.astype(x.dtype)) / n
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * dx})
