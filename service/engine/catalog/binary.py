"""The binary losses' registry entries."""

from __future__ import annotations

from ..losses import binary
from ..shapes import Elementwise
from ..spec import LossSpec, ParamSpec
from ._common import PROBABILITY_TARGETS, SIGNED_LABELS, PREDICTIONS, BINARY_SCORES, FROM_LOGITS, LABEL_SMOOTHING, EPS, ALPHA, GAMMA

SPECS = (
    LossSpec(
        name="binary_crossentropy",
        family="binary",
        summary="Binary cross-entropy on logits or probabilities, with label smoothing and a positive-class weight.",
        fn=binary.binary_crossentropy,
        inputs=(PROBABILITY_TARGETS, BINARY_SCORES),
        shape_rule=Elementwise(),
        params=(
            FROM_LOGITS,
            LABEL_SMOOTHING,
            ParamSpec(
                "pos_weight",
                "number_or_weights",
                "weight of positive examples: one number, or one per class (length C, the last axis)",
                nullable=True,
            ),
            EPS,
        ),
        reference="logits: torch.nn.functional.binary_cross_entropy_with_logits; "
        "probabilities: keras.losses.binary_crossentropy, elementwise",
    ),
    LossSpec(
        name="binary_focal",
        family="binary",
        summary="Focal loss for binary and multi-label targets: cross-entropy down-weighted on easy examples.",
        fn=binary.binary_focal,
        inputs=(PROBABILITY_TARGETS, BINARY_SCORES),
        shape_rule=Elementwise(),
        params=(
            ALPHA,
            GAMMA,
            ParamSpec("from_logits", "boolean", "y_pred holds logits (true) or probabilities (false)"),
            LABEL_SMOOTHING,
            EPS,
        ),
        reference="logits: torchvision.ops.sigmoid_focal_loss; "
        "probabilities: keras.losses.binary_focal_crossentropy with class balancing",
    ),
    LossSpec(
        name="hinge",
        family="binary",
        summary="Hinge loss max(1 - y f, 0) for labels -1/1 (or 0/1).",
        fn=binary.hinge,
        inputs=(SIGNED_LABELS, PREDICTIONS),
        shape_rule=Elementwise(),
        reference="keras.losses.hinge, elementwise",
    ),
    LossSpec(
        name="perceptron",
        family="binary",
        summary="Perceptron loss max(0, -y f) for labels -1/1 (or 0/1).",
        fn=binary.perceptron,
        inputs=(SIGNED_LABELS, PREDICTIONS),
        shape_rule=Elementwise(),
        reference="optax.losses.perceptron_loss",
    ),
)
