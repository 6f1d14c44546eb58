"""Multi-class losses: scores ``(N, ..., C)`` with the class axis last; per-sample values ``(N, ...)``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..spec import Array, Unreduced
from ..stable import log_softmax
from ..validate import require, require_class_indices, require_probabilities
from ._common import clip_probabilities, per_class, smooth_class_labels

# Pulls d(loss)/d(log q) back to d(loss)/d(y_pred).
LogProbsVjp = Callable[[Array], Array]


def log_probs_from_logits(x: Array) -> tuple[Array, Array, LogProbsVjp]:
    """``log softmax(x)`` (max-shifted log-sum-exp), its probabilities and its VJP.

    ``d/dx = d - softmax(x) * sum(d)`` over the class axis.
    """
    log_q = log_softmax(x)
    q = np.exp(log_q)
    return log_q, q, lambda d: d - q * np.sum(d, axis=-1, keepdims=True)


def log_probs_from_probabilities(p: Array, eps: float) -> tuple[Array, Array, LogProbsVjp]:
    """Keras's probability path: ``q = clip(p / sum(p), eps, 1 - eps)``, ``log q`` and the VJP.

    Keras renormalises each row to sum to 1 before clipping; the gradient flows through that
    normalisation: with ``e = d / q`` where the clip left the value unchanged (else 0),
    ``d/dp_k = (e_k - sum_c e_c p_c / sum(p)) / sum(p)``.
    """
    require_probabilities("y_pred", p)
    total = np.sum(p, axis=-1, keepdims=True)
    require("y_pred", total[..., 0] > 0, total[..., 0], "a row of probabilities with a positive sum")
    normalised = p / total
    q, unclipped = clip_probabilities(normalised, eps)

    def vjp(d: Array) -> Array:
        d_normalised = np.where(unclipped, d / q, 0)  # through log q, then the clip
        return (d_normalised - np.sum(d_normalised * normalised, axis=-1, keepdims=True)) / total

    return np.log(q), q, vjp


def _log_probs(y_pred: Array, from_logits: bool, eps: float) -> tuple[Array, Array, LogProbsVjp]:
    return log_probs_from_logits(y_pred) if from_logits else log_probs_from_probabilities(y_pred, eps)


def categorical_crossentropy(
    y_true: Array,
    y_pred: Array,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    eps: float = 1e-7,
) -> Unreduced:
    """Cross-entropy against a target distribution, per sample: ``l = -sum_c y_c log q_c``.

    ``y = y_true (1 - ls) + ls / C``. With logits, ``log q = log_softmax(x)`` (PyTorch
    ``cross_entropy`` with probability targets), whose gradient is ``q sum(y) - y``;
    with probabilities, Keras's ``q = clip(p / sum(p), eps, 1 - eps)``.

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``, targets in [0, 1]; ``l``: ``(N, ...)``.
    """
    require_probabilities("y_true", y_true)
    y = smooth_class_labels(y_true, label_smoothing)
    log_q, _, back = _log_probs(y_pred, from_logits, eps)
    values = -np.sum(y * log_q, axis=-1)
    return Unreduced(values, lambda g: {"y_pred": back(-y * g[..., None])})


def sparse_categorical_crossentropy(
    y_true: Array,
    y_pred: Array,
    *,
    from_logits: bool = False,
    class_weight: list[float] | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    eps: float = 1e-7,
) -> Unreduced:
    """Cross-entropy against class indices, per sample, as PyTorch's ``cross_entropy``.

    With ``t`` the target index, ``w`` the class weights (1 when null) and ``log q`` the
    log-probabilities (``log_softmax`` of logits, or Keras's clipped normalised
    probabilities):
    ``l = (1 - ls) w_t (-log q_t) + (ls / C) sum_c w_c (-log q_c)``, and ``l = 0`` where
    ``t == ignore_index``. When ``class_weight`` or ``ignore_index`` is set, ``mean``
    divides by ``sum(w_t)`` over the targets not ignored (PyTorch's weighted mean); if
    every target is ignored that is 0/0, which PyTorch returns as NaN and this service
    reports as a non-finite result.

    Shapes: ``y_pred``: ``(N, ..., C)``; ``y_true``: ``(N, ...)`` integers in [0, C) or
    ``ignore_index``; ``l``: ``(N, ...)``.
    """
    n_classes = y_pred.shape[-1]
    require_class_indices("y_true", y_true, n_classes, ignore_index)
    w = per_class("class_weight", class_weight, n_classes, y_pred.dtype)
    log_q, _, back = _log_probs(y_pred, from_logits, eps)

    kept = y_true != ignore_index if ignore_index is not None else np.ones(y_true.shape, dtype=bool)
    target = np.where(kept, y_true, 0)
    class_w = np.ones(n_classes, dtype=y_pred.dtype) if w is None else w
    w_t = np.where(kept, class_w[target], 0)
    one_hot = np.zeros(y_pred.shape, dtype=y_pred.dtype)
    np.put_along_axis(one_hot, target[..., None], 1, axis=-1)
    # d l / d log q, per class: the weighted, smoothed one-hot target (negated).
    coefficients = (1 - label_smoothing) * w_t[..., None] * one_hot
    if label_smoothing:
        coefficients = coefficients + (label_smoothing / n_classes) * class_w * kept[..., None]
    values = -np.sum(coefficients * log_q, axis=-1)

    in_play = w is not None or ignore_index is not None
    denominator = float(np.sum(w_t)) if in_play else None
    return Unreduced(values, lambda g: {"y_pred": back(-coefficients * g[..., None])}, mean_denominator=denominator)


def categorical_focal(
    y_true: Array,
    y_pred: Array,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    eps: float = 1e-7,
) -> Unreduced:
    """Categorical focal loss (Keras ``categorical_focal_crossentropy``), per sample:
    ``l = -sum_c alpha (1 - q_c)^gamma y_c log q_c``.

    ``y = y_true (1 - ls) + ls / C``; ``q = clip(p / sum(p), eps, 1 - eps)`` with ``p`` the
    probabilities (softmax of the logits when ``from_logits``). The clip keeps ``1 - q``
    at least ``eps``, so ``(1 - q)^(gamma - 1)`` in the gradient is finite even for
    ``gamma < 1``. Gradient: ``dl/dlog q_c = -alpha y_c (1 - q_c)^gamma +
    alpha gamma y_c q_c (1 - q_c)^(gamma - 1) log q_c``, pulled back through the clip and
    the normalisation (or the softmax).

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``, targets in [0, 1]; ``l``: ``(N, ...)``.
    """
    require_probabilities("y_true", y_true)
    y = smooth_class_labels(y_true, label_smoothing)
    if from_logits:
        log_q_raw, q_raw, softmax_back = log_probs_from_logits(y_pred)
        q, unclipped = clip_probabilities(q_raw, eps)
        log_q = np.log(q)
        back = lambda d: softmax_back(np.where(unclipped, d, 0))  # noqa: E731 - d/dlog q through the clip
    else:
        log_q, q, back = log_probs_from_probabilities(y_pred, eps)
    one_minus_q = 1 - q
    modulating = one_minus_q**gamma
    values = -alpha * np.sum(modulating * y * log_q, axis=-1)
    # d/dlog q of -alpha (1 - q)^gamma y log q, using dq/dlog q = q.
    d_log_q = -alpha * y * (modulating - gamma * q * one_minus_q ** (gamma - 1) * log_q)
    return Unreduced(values, lambda g: {"y_pred": back(d_log_q * g[..., None])})
