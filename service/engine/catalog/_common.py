"""Inputs and parameters that many losses share."""

from __future__ import annotations

from ..spec import InputSpec, ParamSpec

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
