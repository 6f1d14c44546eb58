"""The similarity losses' registry entries."""

from __future__ import annotations

from ..losses import similarity
from ..shapes import PerSample
from ..spec import InputSpec, LossSpec, ParamSpec
from ._common import PREDICTIONS

SPECS = (
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
