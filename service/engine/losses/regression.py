"""Regression losses: elementwise, ``y_true`` and ``y_pred`` of one shape ``(N, ...)``."""

from __future__ import annotations

from ..spec import Array, Unreduced


def mse(y_true: Array, y_pred: Array) -> Unreduced:
    """Mean squared error, ``l = (y_pred - y_true)**2``.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    Gradient: ``dl/dy_pred = 2 (y_pred - y_true)``.
    Reference: ``torch.nn.functional.mse_loss``.
    """
    diff = y_pred - y_true
    return Unreduced(diff * diff, lambda g: {"y_pred": 2 * g * diff})
