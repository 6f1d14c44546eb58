"""The one place that owns reductions and sample weights.

Every loss returns its unreduced values; here they are weighted and reduced, and the
cotangent that the reduction sends back to each value is formed for the gradient.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidInput, Issue
from .spec import Array, Reduction, Unreduced


def expand_sample_weight(weight: Array | None, shape: tuple[int, ...]) -> Array | None:
    """Broadcast a weight of shape ``shape[:k]`` over the remaining axes of ``shape``.

    ``sample_weight`` is a weight per unreduced loss value; its shape is a prefix of the
    unreduced loss's shape, ``(N,)`` or the full shape.
    """
    if weight is None:
        return None
    if weight.shape != shape[: weight.ndim] or weight.ndim == 0:
        prefixes = " or ".join(str(list(shape[:k])) for k in range(1, len(shape) + 1))
        raise InvalidInput(
            "sample_weight does not fit the loss",
            [
                Issue(
                    ("sample_weight",),
                    f"sample_weight has shape {list(weight.shape)}; the unreduced loss has shape {list(shape)},"
                    f" so sample_weight must have shape {prefixes}",
                )
            ],
        )
    return weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim))


def reduce(unreduced: Unreduced, weight: Array | None, reduction: Reduction) -> tuple[Array, Array]:
    """The reduced loss and the cotangent of ``unreduced.values`` (d loss / d values).

    - ``none``: ``w * l`` (its gradient is that of the sum of the returned values);
    - ``sum``: ``sum(w * l)``;
    - ``mean``: ``sum(w * s * l) / count``, ``count`` the number of values or the loss's own
      ``mean_denominator`` (PyTorch's weighted mean over class weights), ``s`` the loss's
      ``mean_scale`` (1 unless given);
    - ``batchmean``: ``sum(w * l) / N``, ``N`` the first axis.
    """
    values = unreduced.values
    weighted = values if weight is None else values * weight
    if reduction in ("none", "sum"):
        scale = 1.0
    elif reduction == "mean":
        count = values.size if unreduced.mean_denominator is None else float(unreduced.mean_denominator)
        scale = 1 / count if count else float("nan")  # 0/0, as PyTorch: reported as a non-finite result
    elif reduction == "batchmean":
        scale = 1 / values.shape[0]
    else:  # pragma: no cover - callers validate the name
        raise ValueError(f"unknown reduction {reduction!r}")

    # The cotangent is read, never written: a broadcast view costs no pass over memory when
    # it is one number for every value (no sample weight, no mean_scale).
    factor = np.asarray(scale, dtype=values.dtype)
    if weight is not None:
        factor = factor * weight
    if reduction == "mean" and unreduced.mean_scale is not None:
        factor = factor * unreduced.mean_scale
        weighted = weighted * unreduced.mean_scale
    cotangent = _repeated(factor, values.shape) if factor.ndim == 0 else np.broadcast_to(factor, values.shape)
    if reduction == "none":
        return weighted, cotangent
    return np.add.reduce(weighted, axis=None) * scale, cotangent


def _repeated(number: Array, shape: tuple[int, ...]) -> Array:
    """``np.broadcast_to(number, shape)`` for a 0-d ``number``: the same read-only view with every stride 0,
    made directly, without ``broadcast_to``'s Python-level checks and iterator, which cost more than the rest
    of a small request's reduction."""
    view = np.ndarray(shape, number.dtype, buffer=number, strides=(0,) * len(shape))
    view.flags.writeable = False
    return view
