"""The regression losses' registry entries."""

from __future__ import annotations

from ..losses import regression
from ..shapes import Elementwise, WithVariance
from ..spec import InputSpec, LossSpec, ParamSpec
from ._common import PREDICTIONS, TARGETS

COUNTS = InputSpec("y_true", "observed counts >= 0 (need not be integers), of y_pred's shape")
RATES = InputSpec("y_pred", "log-rates (log_input true, any real) or rates >= 0 (log_input false)", differentiable=True)
VARIANCE = InputSpec(
    "var",
    "variances >= 0 (clamped to eps): y_pred's shape, or that shape with the last axis 1 or dropped",
    differentiable=True,
)

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
    LossSpec(
        name="mae",
        family="regression",
        summary="Mean absolute error: |y_pred - y_true|.",
        fn=regression.mae,
        inputs=(TARGETS, PREDICTIONS),
        shape_rule=Elementwise(),
        reference="torch.nn.functional.l1_loss",
    ),
    LossSpec(
        name="huber",
        family="regression",
        summary="Huber loss: 0.5 d^2 for |d| < delta, delta (|d| - 0.5 delta) beyond, d = y_pred - y_true.",
        fn=regression.huber,
        inputs=(TARGETS, PREDICTIONS),
        shape_rule=Elementwise(),
        params=(ParamSpec("delta", "number", "where the loss turns from quadratic to linear", gt=0),),
        reference="torch.nn.functional.huber_loss",
    ),
    LossSpec(
        name="smooth_l1",
        family="regression",
        summary="Smooth L1 loss: 0.5 d^2 / beta for |d| < beta, |d| - 0.5 beta beyond; beta = 0 is L1.",
        fn=regression.smooth_l1,
        inputs=(TARGETS, PREDICTIONS),
        shape_rule=Elementwise(),
        params=(ParamSpec("beta", "number", "where the loss turns from quadratic to linear (0: pure L1)", ge=0),),
        reference="torch.nn.functional.smooth_l1_loss",
    ),
    LossSpec(
        name="log_cosh",
        family="regression",
        summary="Log-cosh loss: log(cosh(y_pred - y_true)).",
        fn=regression.log_cosh,
        inputs=(TARGETS, PREDICTIONS),
        shape_rule=Elementwise(),
        reference="optax.losses.log_cosh",
    ),
    LossSpec(
        name="msle",
        family="regression",
        summary="Squared logarithmic error: (log(1 + y_pred) - log(1 + y_true))^2, inputs floored at 1e-7.",
        fn=regression.msle,
        inputs=(
            InputSpec("y_true", "targets, of y_pred's shape; values below 1e-7 count as 1e-7 (Keras)"),
            InputSpec("y_pred", "predictions; values below 1e-7 count as 1e-7 (Keras)", differentiable=True),
        ),
        shape_rule=Elementwise(),
        reference="keras.losses.mean_squared_logarithmic_error, elementwise",
    ),
    LossSpec(
        name="mape",
        family="regression",
        summary="Absolute percentage error: 100 |y_true - y_pred| / max(|y_true|, eps).",
        fn=regression.mape,
        inputs=(TARGETS, PREDICTIONS),
        shape_rule=Elementwise(),
        params=(ParamSpec("eps", "number", "floor on |y_true| in the denominator", gt=0),),
        reference="keras.losses.mean_absolute_percentage_error, elementwise (x100)",
    ),
    LossSpec(
        name="poisson_nll",
        family="regression",
        summary="Poisson negative log-likelihood of counts y_true under the rate y_pred (or exp(y_pred)).",
        fn=regression.poisson_nll,
        inputs=(COUNTS, RATES),
        shape_rule=Elementwise(),
        params=(
            ParamSpec("log_input", "boolean", "y_pred holds log-rates (true) or rates (false)"),
            ParamSpec("full", "boolean", "add the Stirling approximation of log(y_true!) where y_true > 1"),
            ParamSpec("eps", "number", "added to the rate inside the log when log_input is false", gt=0),
        ),
        reference="torch.nn.functional.poisson_nll_loss",
    ),
    LossSpec(
        name="gaussian_nll",
        family="regression",
        summary="Gaussian negative log-likelihood of y_true under N(y_pred, var).",
        fn=regression.gaussian_nll,
        inputs=(TARGETS, PREDICTIONS, VARIANCE),
        shape_rule=WithVariance(),
        params=(
            ParamSpec("full", "boolean", "add the constant 0.5 log(2 pi)"),
            ParamSpec("eps", "number", "variances are clamped to at least eps", gt=0),
        ),
        reference="torch.nn.functional.gaussian_nll_loss",
    ),
    LossSpec(
        name="quantile",
        family="regression",
        summary="Quantile (pinball) loss: q max(y_true - y_pred, 0) + (1 - q) max(y_pred - y_true, 0).",
        fn=regression.quantile,
        inputs=(TARGETS, PREDICTIONS),
        shape_rule=Elementwise(),
        params=(ParamSpec("quantile", "number", "the quantile q to estimate", gt=0, lt=1),),
        reference="sklearn.metrics.mean_pinball_loss, elementwise",
    ),
)
