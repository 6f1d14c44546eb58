"""Binary and multi-label losses: elementwise over ``(N, ...)``, one logit or probability per label."""

from __future__ import annotations

import numpy as np

from ..spec import Array, Unreduced
from ..stable import log_sigmoid, sigmoid, softplus
from ..validate import require_probabilities, signed_labels
from ._common import clip_probabilities, per_class, smooth_binary_labels


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
        x = y_pred
        values = positive * softplus(-x) + (1 - y) * softplus(x)
        dx = (1 - y) * sigmoid(x) - positive * sigmoid(-x)
        return Unreduced(values, lambda g: {"y_pred": g * dx})

    q, unclipped = clip_probabilities(y_pred, eps)
    values = -(positive * np.log(q) + (1 - y) * np.log1p(-q))
    dq = -(positive / q - (1 - y) / (1 - q))
    return Unreduced(values, lambda g: {"y_pred": np.where(unclipped, g * dq, 0)})


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
        x = y_pred
        ce = y * softplus(-x) + (1 - y) * softplus(x)
        dce = sigmoid(x) - y
        log_p, log_not_p = log_sigmoid(x), log_sigmoid(-x)
        log_one_minus_pt = np.logaddexp(np.log(y) + log_not_p, np.log1p(-y) + log_p)
        focal = np.exp(gamma * log_one_minus_pt)
        dfocal = gamma * (1 - 2 * y) * np.exp((gamma - 1) * log_one_minus_pt + log_p + log_not_p)
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


def hinge(y_true: Array, y_pred: Array) -> Unreduced:
    """Hinge loss, elementwise: ``l = max(1 - y f, 0)`` with labels ``y`` in {-1, 1}.

    Labels given as 0/1 are mapped to -1/1 first, as Keras does (all or nothing).
    Gradient: ``dl/df = -y`` where ``1 - y f >= 0`` (at the kink too, as PyTorch's
    autograd gives for ``clamp_min``), else 0.
    Reference: ``keras.losses.hinge`` without its mean over the last axis.
    """
    y = signed_labels("y_true", y_true)
    margin = 1 - y * y_pred
    active = margin >= 0
    return Unreduced(np.maximum(margin, 0), lambda g: {"y_pred": np.where(active, -y * g, 0)})


def perceptron(y_true: Array, y_pred: Array) -> Unreduced:
    """Perceptron loss, elementwise: ``l = max(0, -y f)`` with labels ``y`` in {-1, 1} (or 0/1).

    Gradient: ``dl/df = -y`` where ``-y f >= 0`` (so at ``f = 0`` too, as PyTorch's
    autograd gives for ``clamp_min``), else 0.
    Reference: ``optax.losses.perceptron_loss``.
    """
    y = signed_labels("y_true", y_true)
    margin = -y * y_pred
    active = margin >= 0
    return Unreduced(np.maximum(margin, 0), lambda g: {"y_pred": np.where(active, -y * g, 0)})
