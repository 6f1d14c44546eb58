"""The distribution losses' registry entries."""

from __future__ import annotations

from ..losses import distribution
from ..shapes import Elementwise
from ..spec import InputSpec, LossSpec, ParamSpec

SPECS = (
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
)
