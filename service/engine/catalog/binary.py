"""The binary losses' registry entries."""

from __future__ import annotations

from ..losses import binary
from ..shapes import Elementwise, PerSample
from ..spec import InputSpec, LossSpec, ParamSpec
from ._common import (
    ALPHA,
    BINARY_SCORES,
    CLASS_WEIGHT,
    EPS,
    FROM_LOGITS,
    GAMMA,
    LABEL_SMOOTHING,
    PREDICTIONS,
    PROBABILITY_TARGETS,
    SIGNED_LABELS,
)

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
    LossSpec(
        name="squared_hinge",
        family="binary",
        summary="Squared hinge loss max(1 - y f, 0)^2 for labels -1/1 (or 0/1).",
        fn=binary.squared_hinge,
        inputs=(SIGNED_LABELS, PREDICTIONS),
        shape_rule=Elementwise(),
        reference="keras.losses.squared_hinge, elementwise",
    ),
    LossSpec(
        name="soft_margin",
        family="binary",
        summary="Soft-margin (logistic) loss log(1 + exp(-y x)) for labels -1/1.",
        fn=binary.soft_margin,
        inputs=(
            InputSpec("y_true", "labels -1 or 1, of y_pred's shape"),
            InputSpec("y_pred", "scores", differentiable=True),
        ),
        shape_rule=Elementwise(),
        reference="torch.nn.functional.soft_margin_loss",
    ),
    LossSpec(
        name="multilabel_soft_margin",
        family="binary",
        summary="Multi-label logistic loss: the per-class binary cross-entropy on logits, averaged over the classes.",
        fn=binary.multilabel_soft_margin,
        inputs=(
            InputSpec("y_true", "labels 0 or 1, one per class, of y_pred's shape"),
            InputSpec("y_pred", "logits with the class axis last", differentiable=True),
        ),
        shape_rule=PerSample(),
        params=(CLASS_WEIGHT,),
        reference="torch.nn.functional.multilabel_soft_margin_loss",
    ),
    LossSpec(
        name="multilabel_margin",
        family="binary",
        summary="Multi-label hinge loss: every target class must beat every non-target class by a margin of 1.",
        fn=binary.multilabel_margin,
        inputs=(
            InputSpec(
                "y_true",
                "per sample, the target class indices in [0, C) followed by -1 padding, of y_pred's shape",
                integer=True,
            ),
            InputSpec("y_pred", "scores with the class axis last", differentiable=True),
        ),
        shape_rule=PerSample(),
        reference="torch.nn.functional.multilabel_margin_loss",
    ),
)
