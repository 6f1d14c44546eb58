"""The registry: every loss the service offers, by name. Adding a loss is one entry here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .losses import binary, distribution, multiclass, regression, similarity
from .shapes import ClassIndexed, Elementwise, PerSample
from .spec import InputSpec, LossSpec, ParamSpec

# Inputs and parameters that many losses share.
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

_SPECS = (
    LossSpec(
        name="mse",
        family="regression",
        summary="Mean squared error: (y_pred - y_true)^2.",
        fn=regression.mse,
        inputs=(TARGETS, PREDICTIONS),
        shape_rule=Elementwise(),
        reference="torch.nn.functional.mse_loss",
    ),
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
        name="categorical_crossentropy",
        family="multiclass",
        summary="Cross-entropy against target distributions (one-hot or soft), on logits or probabilities.",
        fn=multiclass.categorical_crossentropy,
        inputs=(PROBABILITY_TARGETS, CLASS_SCORES),
        shape_rule=PerSample(),
        params=(FROM_LOGITS, LABEL_SMOOTHING, EPS),
        reference="logits: torch.nn.functional.cross_entropy with probability targets; "
        "probabilities: keras.losses.categorical_crossentropy",
    ),
    LossSpec(
        name="sparse_categorical_crossentropy",
        family="multiclass",
        summary="Cross-entropy against class indices, with class weights, an ignored index and label smoothing.",
        fn=multiclass.sparse_categorical_crossentropy,
        inputs=(CLASS_INDICES, CLASS_SCORES),
        shape_rule=ClassIndexed(),
        params=(
            FROM_LOGITS,
            CLASS_WEIGHT,
            ParamSpec("ignore_index", "integer", "targets equal to this index add nothing", nullable=True),
            LABEL_SMOOTHING,
            EPS,
        ),
        reference="logits: torch.nn.functional.cross_entropy with index targets; "
        "probabilities: keras.losses.sparse_categorical_crossentropy",
    ),
    LossSpec(
        name="categorical_focal",
        family="multiclass",
        summary="Focal loss for target distributions: cross-entropy weighted by alpha (1 - q)^gamma.",
        fn=multiclass.categorical_focal,
        inputs=(PROBABILITY_TARGETS, CLASS_SCORES),
        shape_rule=PerSample(),
        params=(
            ParamSpec("alpha", "number", "weight on every class", ge=0, le=1),
            GAMMA,
            FROM_LOGITS,
            LABEL_SMOOTHING,
            EPS,
        ),
        reference="keras.losses.categorical_focal_crossentropy",
    ),
    LossSpec(
        name="kl_divergence",
        family="distribution",
        summary="Kullback-Leibler divergence KL(y_true || y_pred), on probabilities or log-probabilities.",
        fn=distribution.kl_divergence,
        inputs=(
            InputSpec("y_true", "target distribution: probabilities, or log-probabilities when log_target"),
            InputSpec(
                "y_pred",
                "predicted distribution: probabilities, or log-probabilities when log_input",
                differentiable=True,
            ),
        ),
        shape_rule=Elementwise(),
        params=(
            ParamSpec("log_input", "boolean", "y_pred holds log-probabilities"),
            ParamSpec("log_target", "boolean", "y_true holds log-probabilities"),
            ParamSpec("eps", "number", "probabilities are clipped to [eps, 1]", gt=0, lt=1),
        ),
        reductions=("batchmean", "mean", "sum", "none"),
        default_reduction="batchmean",
        reference="log_input=true: torch.nn.functional.kl_div; "
        "both probabilities: keras.losses.kl_divergence (= torch batchmean on the log of the clipped input)",
    ),
    LossSpec(
        name="cosine_similarity",
        family="similarity",
        summary="Negative cosine similarity between y_true and y_pred along the last axis.",
        fn=similarity.cosine_similarity,
        inputs=(InputSpec("y_true", "target vectors, of y_pred's shape"), PREDICTIONS),
        shape_rule=PerSample(),
        params=(ParamSpec("eps", "number", "floor on the squared norm when normalising", gt=0),),
        reference="keras.losses.cosine_similarity (returns -cos)",
    ),
)

CATALOG: Mapping[str, LossSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
