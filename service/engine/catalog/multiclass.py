"""The multiclass losses' registry entries."""

from __future__ import annotations

from ..losses import multiclass
from ..shapes import ClassIndexed, PerSample
from ..spec import InputSpec, LossSpec, ParamSpec
from ._common import (
    CLASS_INDICES,
    CLASS_SCORES,
    CLASS_WEIGHT,
    EPS,
    FROM_LOGITS,
    GAMMA,
    LABEL_SMOOTHING,
    PROBABILITY_TARGETS,
)

IGNORE_INDEX = ParamSpec("ignore_index", "integer", "targets equal to this index add nothing", nullable=True)
LOG_PROBABILITIES = InputSpec(
    "y_pred", "log-probabilities (e.g. a log_softmax) with the class axis last", differentiable=True
)
SCORES = InputSpec("y_pred", "scores with the class axis last", differentiable=True)
LOGITS = InputSpec("y_pred", "logits with the class axis last", differentiable=True)
PROBABILITIES = InputSpec("y_pred", "probabilities in [0, 1] with the class axis last", differentiable=True)

SPECS = (
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
            IGNORE_INDEX,
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
        name="nll",
        family="multiclass",
        summary="Negative log-likelihood of class indices on log-probabilities, with class weights and ignore_index.",
        fn=multiclass.nll,
        inputs=(CLASS_INDICES, LOG_PROBABILITIES),
        shape_rule=ClassIndexed(),
        params=(CLASS_WEIGHT, IGNORE_INDEX),
        reference="torch.nn.functional.nll_loss",
    ),
    LossSpec(
        name="categorical_hinge",
        family="multiclass",
        summary="Categorical hinge max(max((1 - y) f) - sum(y f) + 1, 0) for one-hot or probability targets.",
        fn=multiclass.categorical_hinge,
        inputs=(InputSpec("y_true", "one-hot targets or probabilities in [0, 1], of y_pred's shape"), SCORES),
        shape_rule=PerSample(),
        reference="keras.losses.categorical_hinge",
    ),
    LossSpec(
        name="multi_margin",
        family="multiclass",
        summary="Multi-class margin loss: sum over wrong classes of max(0, margin - x_t + x_c)^p / C.",
        fn=multiclass.multi_margin,
        inputs=(CLASS_INDICES, SCORES),
        shape_rule=ClassIndexed(),
        params=(
            ParamSpec("p", "integer", "exponent of the hinge: 1 or 2", choices=(1, 2)),
            ParamSpec("margin", "number", "the margin the target score must clear"),
            CLASS_WEIGHT,
        ),
        reference="torch.nn.functional.multi_margin_loss",
    ),
    LossSpec(
        name="poly1_crossentropy",
        family="multiclass",
        summary="Poly-1 cross-entropy on logits: cross-entropy + epsilon * sum(y (1 - softmax)).",
        fn=multiclass.poly1_crossentropy,
        inputs=(PROBABILITY_TARGETS, LOGITS),
        shape_rule=PerSample(),
        params=(ParamSpec("epsilon", "number", "weight of the first polynomial term sum(y (1 - softmax))"),),
        reference="optax.losses.poly_loss_cross_entropy",
    ),
    LossSpec(
        name="generalized_crossentropy",
        family="multiclass",
        summary="Generalized cross-entropy (1 - p_t^q) / q on probabilities, robust to noisy labels.",
        fn=multiclass.generalized_crossentropy,
        inputs=(CLASS_INDICES, PROBABILITIES),
        shape_rule=ClassIndexed(),
        params=(
            ParamSpec("q", "number", "between cross-entropy (q -> 0) and mean absolute error (q = 1)", gt=0, le=1),
        ),
        reference="keras.losses.categorical_generalized_cross_entropy",
    ),
)
