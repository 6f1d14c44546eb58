"""The segmentation losses' registry entries."""

from __future__ import annotations

from ..losses import segmentation
from ..shapes import PerExample
from ..spec import InputSpec, LossSpec, ParamSpec

MASKS = InputSpec("y_true", "target masks in [0, 1], (N, ...) of rank >= 2, of y_pred's shape")
PREDICTED_MASKS = InputSpec("y_pred", "predicted masks (probabilities in [0, 1]), (N, ...)", differentiable=True)
SMOOTHING = ParamSpec("eps", "number", "added to the denominator: keeps the ratio defined for empty masks", gt=0)

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="dice",
        family="segmentation",
        summary="Dice loss 1 - 2 sum(y p) / (sum(y) + sum(p) + eps) per example, over every non-batch axis.",
        fn=segmentation.dice,
        inputs=(MASKS, PREDICTED_MASKS),
        shape_rule=PerExample(),
        params=(SMOOTHING,),
        reference="keras.losses.dice with axis over all non-batch axes",
    ),
    LossSpec(
        name="tversky",
        family="segmentation",
        summary="Tversky loss 1 - I / (I + alpha sum(y (1 - p)) + beta sum(p (1 - y)) + eps) per example.",
        fn=segmentation.tversky,
        inputs=(MASKS, PREDICTED_MASKS),
        shape_rule=PerExample(),
        params=(
            ParamSpec("alpha", "number", "weight of sum(y_true * (1 - y_pred)), the missed target mass", ge=0),
            ParamSpec("beta", "number", "weight of sum(y_pred * (1 - y_true)), the spurious predicted mass", ge=0),
            SMOOTHING,
        ),
        reference="keras.losses.tversky over all non-batch axes (its argument naming: "
        "alpha weighs sum(y_true * (1 - y_pred)))",
    ),
)
