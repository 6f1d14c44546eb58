"""The multiclass losses' registry entries."""

from __future__ import annotations

from ..losses import multiclass
from ..shapes import ClassIndexed, PerSample
from ..spec import LossSpec, ParamSpec
from ._common import PROBABILITY_TARGETS, CLASS_INDICES, CLASS_SCORES, FROM_LOGITS, LABEL_SMOOTHING, EPS, GAMMA, CLASS_WEIGHT

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
)
