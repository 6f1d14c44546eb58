"""Numerically stable building blocks shared by the losses.

Each is written so that no intermediate overflows for finite inputs: exponentials only
ever see non-positive arguments, and logarithms of sums go through log-sum-exp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def softplus(x: Array) -> Array:
    """``log(1 + exp(x))`` as ``max(x, 0) + log1p(exp(-|x|))``: exp never sees a positive number."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x: Array) -> Array:
    """``1 / (1 + exp(-x))``, branch-free.

    For very negative ``x`` the exponential overflows to ``inf`` and the quotient is the
    correct limit 0; the relative error elsewhere is a few ulp, as in PyTorch, which
    evaluates the same expression. (Callers run under ``np.errstate(over="ignore")``.)
    """
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Logistic:
    """``softplus(±x)`` and ``sigmoid(±x)`` with one ``log1p`` and no branches.

    With ``e = exp(-|x|)`` (never overflows) and ``L = log1p(e)``: ``softplus(x) = max(x, 0) + L``
    and ``softplus(-x) = max(-x, 0) + L`` (``max(x, 0) - x`` is exact, so no large terms cancel).
    ``sigmoid(±x) = 1 / (1 + exp(∓x))`` keeps its full relative precision on both sides: where
    the exponential overflows the quotient is the exact limit 0 (callers run under
    ``np.errstate(over="ignore")``). Exponentials are cheap vectorised passes; ``log1p`` and
    ``np.where`` are not, so this form has one of the first and none of the second.
    """

    softplus: Array  # softplus(x) = -log sigmoid(-x)
    softplus_neg: Array  # softplus(-x) = -log sigmoid(x)
    sigmoid: Array  # sigmoid(x)
    sigmoid_neg: Array  # sigmoid(-x)


def logistic(x: Array) -> Logistic:
    log1p_e = np.log1p(np.exp(-np.abs(x)))
    positive_part = np.maximum(x, 0)
    return Logistic(
        softplus=positive_part + log1p_e,
        softplus_neg=(positive_part - x) + log1p_e,
        sigmoid=1 / (1 + np.exp(-x)),
        sigmoid_neg=1 / (1 + np.exp(x)),
    )


def log_softmax(x: Array, axis: int = -1) -> Array:
    """``x - logsumexp(x)`` with the maximum subtracted first, so exp never overflows."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def xlogy(x: Array, y: Array) -> Array:
    """``x * log(y)`` with the convention ``0 * log(0) = 0`` (as ``torch.xlogy``)."""
    safe_y = np.where(x == 0, 1, y)
    return np.where(x == 0, 0, x * np.log(safe_y))
