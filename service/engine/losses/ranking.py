"""Listwise ranking losses: each row of ``(N, L)`` is a list of ``L`` scored items; one loss per list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInput, Issue
from ..spec import Array, Family, InputSpec, Unreduced
from ..validate import require

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Lists:
    """``y_true`` and ``y_pred`` of one shape ``(N, L)``, and ``mask`` of that shape when given
    (it is optional); one loss per list, ``(N,)``."""

    description: str = "per-list: (N,)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return dict.fromkeys(("y_true", "y_pred", "mask"), ("N", "L"))

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        scores = shapes["y_pred"]
        if len(scores) != 2:
            raise InvalidInput(
                "y_pred has the wrong rank",
                [Issue(("y_pred",), f"expected an array of rank 2 (N, L), got shape {list(scores)}")],
            )
        for name in ("y_true", "mask"):
            if name in shapes and shapes[name] != scores:
                raise InvalidInput(
                    "input shapes do not match",
                    [
                        Issue(
                            (name,),
                            f"{name} has shape {list(shapes[name])} but must have y_pred's shape {list(scores)}",
                        )
                    ],
                )
        return scores[:1]


family = Family("ranking", shape_rule=Lists())


@family.loss(
    summary="Ranking softmax loss: the cross-entropy of each list's softmax over its items, weighted by"
    " their relevance grades.",
    reference="optax.losses.ranking_softmax_loss",
    formula=r"\ell = -\sum_{i \in V} y_i \log \frac{\exp(s_i)}{\sum_{j \in V} \exp(s_j)}",
    example={"y_true": [[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]], "y_pred": [[1.5, 0.2, 0.8], [0.3, 0.9, -0.4]]},
    inputs=(
        InputSpec("y_true", "the relevance grade of each item, >= 0 (not normalised), (N, L)"),
        InputSpec("y_pred", "the score of each item, (N, L)", differentiable=True),
        InputSpec(
            "mask",
            "optional: 1 for the items of each list, 0 for padding, (N, L); left out, every item counts",
            integer=True,
            required=False,
        ),
    ),
)
def ranking_softmax(y_true: Array, y_pred: Array, mask: Array | None = None) -> Unreduced:
    """Ranking softmax loss, per list: ``l = -sum_{i in V} y_i log softmax_V(s)_i``.

    optax's ``ranking_softmax_loss`` with ``where = mask`` and ``reduce_fn=None``: the valid
    items ``V`` are those whose ``mask`` is 1 (every item without a mask); the softmax runs over
    them only, and the grades ``y`` are used as given: optax 0.2.8 does not normalise them, so
    a list graded ``[0, 0, 1, 1]`` counts two log-probabilities. ``mean`` divides the sum by N,
    every list counted (optax's own mean skips the lists with no valid item).

    Stable form: ``-log softmax_i = log1p(r) - (s_i - m)`` with ``m`` the maximum over ``V`` and
    ``r`` the sum of ``exp(s_j - m)`` over the other valid items: no exponential overflows, both
    terms are >= 0 (so is each ``-y_i log softmax_i``, summed as such): nothing cancels, and
    ``log1p`` keeps a nearly certain list's tiny loss (scores like 3.4e37 next to -2.1e26 stay
    exact too; a difference beyond the float range is a non-finite result, 422).

    Gradient: ``dl/ds_k = Y softmax_V(s)_k - y_k`` for ``k`` in ``V``, ``Y = sum_V y``; 0 for the
    masked items. Degenerate inputs: a list with no valid item (a mask of zeros) has loss 0 and
    gradient 0 (optax: 0, and a gradient free of NaN); a list whose grades are all 0 has loss 0
    and gradient 0. The grades of masked items are ignored (not checked, e.g. a padding -1);
    those of valid items must be >= 0 (else 422), and ``mask`` must hold only 0 and 1.

    Shapes: ``y_true``, ``y_pred`` and the optional ``mask``: ``(N, L)``; ``l``: ``(N,)``.
    """
    if mask is None:
        valid = np.ones(y_pred.shape, dtype=bool)
    else:
        require("mask", (mask == 0) | (mask == 1), mask, "0 or 1")
        valid = mask == 1
    require("y_true", (y_true >= 0) | ~valid, y_true, "a relevance grade >= 0")
    grades = np.where(valid, y_true, 0)
    masked = np.where(valid, y_pred, -np.inf)
    largest = np.argmax(masked, axis=-1)[:, None]  # item 0 of a list with no valid item: its e is 0 below
    top = np.take_along_axis(np.where(valid, y_pred, 0), largest, axis=-1)
    shifted = np.where(valid, y_pred - top, 0)
    e = np.where(valid, np.exp(shifted), 0)
    rest = e.copy()
    np.put_along_axis(rest, largest, 0, axis=-1)  # the largest item's term, exactly 1, left out
    others = np.sum(rest, axis=-1, keepdims=True)
    log_total = np.log1p(others)  # log sum_V exp(s - m), to full precision when the others are tiny
    values = np.sum(np.where(valid, grades * (log_total - shifted), 0), axis=-1)
    softmax = e / (1 + others)
    gradient = softmax * np.sum(grades, axis=-1, keepdims=True) - grades

    return Unreduced(values, lambda g: {"y_pred": g[:, None] * gradient})
