"""Numerical helpers for the tests: central differences and the contract's reductions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, rel_step: float = 1e-6) -> np.ndarray:
    """d f / d x by ``(f(x + h) - f(x - h)) / 2h`` per element, ``h = rel_step * max(1, |x|)``."""
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        h = rel_step * max(1.0, abs(float(x[index])))
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


def total(loss: float | np.ndarray) -> float:
    """The scalar a gradient is taken of: the loss, or the sum of the values for ``none``."""
    return float(np.sum(loss))
