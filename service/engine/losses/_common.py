"""Pieces several loss families share: label smoothing, clipping, per-class weights."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInput, Issue
from ..spec import Array


def smooth_binary_labels(y: Array, label_smoothing: float) -> Array:
    """Keras: ``y * (1 - ls) + 0.5 * ls``, pulling hard 0/1 labels towards 1/2."""
    return y if label_smoothing == 0 else y * (1 - label_smoothing) + 0.5 * label_smoothing


def smooth_class_labels(y: Array, label_smoothing: float) -> Array:
    """Keras and PyTorch: ``y * (1 - ls) + ls / C`` over the class axis (the last)."""
    return y if label_smoothing == 0 else y * (1 - label_smoothing) + label_smoothing / y.shape[-1]


def clip_probabilities(p: Array, eps: float) -> tuple[Array, Array]:
    """Keras's ``clip(p, eps, 1 - eps)`` and the mask where it left ``p`` unchanged.

    The gradient flows only through that mask: where the clip moved a value it is 0.
    """
    clipped = np.clip(p, eps, 1 - eps)
    return clipped, clipped == p


def per_class(
    name: str, value: float | list[float] | Array | None, n_classes: int, dtype: np.dtype
) -> float | Array | None:
    """A parameter that is a number or one weight per class (the last axis), as an array of ``dtype``."""
    if value is None or isinstance(value, (int, float)):
        return value
    weights = np.asarray(value, dtype=dtype)
    if weights.shape != (n_classes,):
        raise InvalidInput(
            f"{name} must have one entry per class",
            [Issue((name,), f"expected {n_classes} numbers (the size of the last axis), got {weights.size}", "param")],
        )
    return weights
