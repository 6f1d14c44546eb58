"""Divergences between unnormalised measures over the last axis; per-sample values."""

from __future__ import annotations

import numpy as np

from ..shapes import PerSample
from ..spec import Array, Family, InputSpec, Unreduced
from ..validate import require

MASSES = InputSpec("y_true", "target masses >= 0 (need not sum to 1), (N, ..., C), of y_pred's shape")
LOG_PREDICTIONS = InputSpec("y_pred", "log-predictions log q, any real, (N, ..., C)", differentiable=True)

family = Family("distribution", inputs=(MASSES, LOG_PREDICTIONS), shape_rule=PerSample())


@family.loss(
    summary="Generalized Kullback-Leibler divergence of unnormalised measures: sum(t (log t - lq)) + sum(exp(lq) - t).",
    reference="optax.losses.generalized_kl_divergence: sum(t (log t - lp)) + sum(exp(lp) - t) (0 log 0 = 0)",
    formula=r"\ell = \sum_c y_c \left(\log y_c - \hat{y}_c\right) + \sum_c \left(e^{\hat{y}_c} - y_c\right)",
    example={"y_true": [[0.2, 0.8, 0.0], [1.5, 0.5, 1.0]], "y_pred": [[-1.5, -0.3, -2.0], [0.3, -0.6, 0.1]]},
)
def generalized_kl_divergence(y_true: Array, y_pred: Array) -> Unreduced:
    """Generalized KL divergence (optax ``generalized_kl_divergence``) over the last axis, per sample.

    With ``t = y_true >= 0`` and ``lq = y_pred`` (log-predictions):
    ``l = sum(t (log t - lq)) + sum(exp(lq) - t)``, the Bregman divergence of ``x log x - x``; for
    normalised ``t`` and ``exp(lq)`` it is the KL divergence. ``0 log 0 = 0``: a zero target
    contributes ``exp(lq)`` only (optax's ``where(t == 0, 0, log t)``). optax's expression, in
    its order of operations (the two sums added last); each element's contribution
    ``t (log t - lq) + exp(lq) - t >= 0``, so ``l >= 0`` up to rounding, which near ``l = 0`` (where
    ``exp(lq) = t``) is absolute, of the order of the machine epsilon times the terms.

    Gradient: ``dl/dlq = exp(lq) - t``, finite wherever the value is. Domain: ``t >= 0`` (a 422
    otherwise: ``log t`` is undefined); ``lq`` any real, but ``exp(lq)`` overflows past ``lq ~ 709``
    (float64) or ``~ 88`` (float32), refused as a non-finite result (422).

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``; ``l``: ``(N, ...)``.
    """
    require("y_true", y_true >= 0, y_true, "a target mass >= 0")
    log_t = np.log(np.where(y_true == 0, 1, y_true))  # 0 where t == 0: t (log t - lq) is then 0
    kl = np.sum(y_true * (log_t - y_pred), axis=-1)
    q = np.exp(y_pred)
    values = kl + np.sum(q - y_true, axis=-1)
    slope = q - y_true
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * slope})
