"""Pieces several loss families share: their inputs and params, label smoothing, clipping, per-class weights."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInput, Issue
from ..spec import Array, InputSpec, ParamSpec

TARGETS = InputSpec("y_true", "targets, of y_pred's shape")
PROBABILITY_TARGETS = InputSpec("y_true", "target probabilities in [0, 1], of y_pred's shape")
SIGNED_LABELS = InputSpec("y_true", "labels: -1/1, or 0/1 (mapped to -1/1), of y_pred's shape")
CLASS_INDICES = InputSpec("y_true", "class indices in [0, C), of y_pred's shape without the class axis", integer=True)
PREDICTIONS = InputSpec("y_pred", "predictions", differentiable=True)
BINARY_SCORES = InputSpec("y_pred", "logits, or probabilities in [0, 1] when from_logits is false", differentiable=True)
CLASS_SCORES = InputSpec(
    "y_pred",
    "scores with the class axis last: logits, or probabilities in [0, 1] when from_logits is false",
    differentiable=True,
)

FROM_LOGITS = ParamSpec("from_logits", "boolean", "y_pred holds logits (true) or probabilities (false)")
LABEL_SMOOTHING = ParamSpec("label_smoothing", "number", "mix the targets with the uniform distribution", ge=0, le=1)
EPS = ParamSpec("eps", "number", "probabilities are clipped to [eps, 1 - eps]", gt=0, lt=0.5)
ALPHA = ParamSpec("alpha", "number", "weight of the positive class (null: no weighting)", ge=0, le=1, nullable=True)
GAMMA = ParamSpec("gamma", "number", "focusing exponent: higher down-weights easy examples", ge=0)
CLASS_WEIGHT = ParamSpec("class_weight", "weights", "one weight per class (length C)", nullable=True)

VECTORS = "a batch of vectors (N, D)"
#: The two sides of pairs of vectors (x2 of x1's shape), and the three of triplets.
PAIR_VECTORS = (
    InputSpec("x1", f"the first vectors of the pairs: {VECTORS}", differentiable=True),
    InputSpec("x2", f"the second vectors of the pairs: {VECTORS}, x1's shape", differentiable=True),
)
TRIPLET_VECTORS = (
    InputSpec("anchor", f"the anchors: {VECTORS}", differentiable=True),
    InputSpec("positive", f"the positives: {VECTORS}, anchor's shape", differentiable=True),
    InputSpec("negative", f"the negatives: {VECTORS}, anchor's shape", differentiable=True),
)
TRIPLET_MARGIN = ParamSpec(
    "margin", "number", "the distance by which the negative must be farther than the positive", gt=0
)
DISTANCE_SWAP = ParamSpec("swap", "boolean", "use min(d(a, n), d(p, n)) as the negative distance (distance swap)")


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
