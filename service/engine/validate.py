"""Domain checks the losses call on their inputs: each points at the offending values."""

from __future__ import annotations

import numpy as np

from .errors import InvalidInput, Issue

Array = np.ndarray

#: At most this many offending elements are listed in one error; the detail gives the count.
MAX_ISSUES = 10


def issues_where(name: str, mask: Array, values: Array, describe: str) -> list[Issue]:
    """One ``Issue`` per element where ``mask`` holds (the first ``MAX_ISSUES``), located in ``name``."""
    flat = np.flatnonzero(mask)[:MAX_ISSUES]
    return [
        Issue(
            (name, *(int(i) for i in np.unravel_index(k, mask.shape))), f"{values.flat[k].item()!r} is not {describe}"
        )
        for k in flat
    ]


def require(name: str, ok: Array, values: Array, describe: str) -> None:
    """Raise ``InvalidInput`` unless ``ok`` holds everywhere; ``describe`` says what a value must be."""
    if not ok.all():
        bad = ~ok
        count = int(np.count_nonzero(bad))
        raise InvalidInput(
            f"{count} value(s) of {name} are outside the loss's domain: each must be {describe}",
            issues_where(name, bad, values, describe),
        )


def require_probabilities(name: str, x: Array) -> None:
    require(name, (x >= 0) & (x <= 1), x, "a probability in [0, 1]")


def signed_labels(name: str, y: Array) -> Array:
    """Labels as ±1. Accepts all-±1 or all-0/1 labels (0/1 map to -1/+1, as Keras does).

    The choice is made over the whole array, as in Keras: a mix of 0 and -1 is refused.
    """
    if np.all((y == -1) | (y == 1)):
        return y
    if np.all((y == 0) | (y == 1)):
        return 2 * y - 1
    uses_minus_one = bool(np.any(y == -1))
    ok = (y == -1) | (y == 1) if uses_minus_one else (y == 0) | (y == 1)
    together = "labels are -1 and 1, or 0 and 1, throughout"
    require(name, ok, y, f"-1 or 1 ({together}; these include -1)" if uses_minus_one else f"0 or 1 ({together})")
    raise AssertionError("unreachable")  # pragma: no cover


def require_class_indices(name: str, indices: Array, n_classes: int, ignore_index: int | None = None) -> None:
    ok = (indices >= 0) & (indices < n_classes)
    if ignore_index is not None:
        ok |= indices == ignore_index
    extra = f" or the ignore_index {ignore_index}" if ignore_index is not None else ""
    require(name, ok, indices, f"a class index in [0, {n_classes - 1}]{extra}")
