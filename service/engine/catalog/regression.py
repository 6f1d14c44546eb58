"""The regression losses' registry entries."""

from __future__ import annotations

from ..losses import regression
from ..shapes import Elementwise
from ..spec import LossSpec
from ._common import TARGETS, PREDICTIONS

SPECS = (
    LossSpec(
        name="mse",
        family="regression",
        summary="Mean squared error: (y_pred - y_true)^2.",
        fn=regression.mse,
        inputs=(TARGETS, PREDICTIONS),
        shape_rule=Elementwise(),
        reference="torch.nn.functional.mse_loss",
    ),
)
