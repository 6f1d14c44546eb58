"""Regression losses: elementwise, ``y_true`` and ``y_pred`` of one shape ``(N, ...)``."""

from __future__ import annotations

import math

import numpy as np

from ..shapes import Elementwise, WithVariance
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..validate import require
from ._common import PREDICTIONS, TARGETS

COUNTS = InputSpec("y_true", "observed counts >= 0 (need not be integers), of y_pred's shape")

RATES = InputSpec("y_pred", "log-rates (log_input true, any real) or rates >= 0 (log_input false)", differentiable=True)

VARIANCE = InputSpec(
    "var",
    "variances >= 0 (clamped to eps): y_pred's shape, or that shape with the last axis 1 or dropped",
    differentiable=True,
)

family = Family("regression", inputs=(TARGETS, PREDICTIONS), shape_rule=Elementwise())


@family.loss(
    summary="Mean squared error: (y_pred - y_true)^2.",
    reference="torch.nn.functional.mse_loss",
    formula=r"\ell = (\hat{y} - y)^2",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
)
def mse(y_true: Array, y_pred: Array) -> Unreduced:
    """Mean squared error, ``l = (y_pred - y_true)**2``.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    Gradient: ``dl/dy_pred = 2 (y_pred - y_true)``.
    """
    diff = y_pred - y_true
    return Unreduced(diff * diff, lambda g: {"y_pred": 2 * g * diff})


@family.loss(
    summary="Mean absolute error: |y_pred - y_true|.",
    reference="torch.nn.functional.l1_loss",
    formula=r"\ell = |\hat{y} - y|",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
)
def mae(y_true: Array, y_pred: Array) -> Unreduced:
    """Mean absolute error, ``l = |y_pred - y_true|``.

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    Gradient: ``dl/dy_pred = sign(y_pred - y_true)``; at the kink ``y_pred == y_true`` it is 0,
    as PyTorch's autograd gives for ``abs`` (``sgn(0) = 0``).
    """
    diff = y_pred - y_true
    return Unreduced(np.abs(diff), lambda g: {"y_pred": g * np.sign(diff)})


@family.loss(
    summary="Huber loss: 0.5 d^2 for |d| < delta, delta (|d| - 0.5 delta) beyond, d = y_pred - y_true.",
    reference="torch.nn.functional.huber_loss",
    formula=r"\ell = \begin{cases} \tfrac{1}{2} d^2 & |d| < \delta \\ \delta \left(|d| - \tfrac{1}{2}\delta\right) & "
    r"\text{otherwise} \end{cases}, \quad d = \hat{y} - y",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]], "params": {"delta": 1.5}},
    params=(ParamSpec("delta", "number", "where the loss turns from quadratic to linear", gt=0),),
)
def huber(y_true: Array, y_pred: Array, *, delta: float = 1.0) -> Unreduced:
    """Huber loss: quadratic within ``delta`` of the target, linear beyond.

    With ``d = y_pred - y_true`` and ``z = |d|``:
    ``l = 0.5 z^2`` where ``z < delta``, else ``delta (z - 0.5 delta)`` (PyTorch's expression,
    evaluated in the same order; the branches meet at ``z = delta`` with value ``delta^2 / 2``).
    Gradient: ``dl/dy_pred = clip(d, -delta, delta)``: ``d`` inside, ``±delta`` outside and at
    the switch point ``|d| = delta`` itself (where both branches have slope ``±delta``, and
    PyTorch's ``huber_loss_backward`` gives the same); 0 at ``d = 0``.
    ``delta > 0``. Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    diff = y_pred - y_true
    z = np.abs(diff)
    values = np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))
    slope = np.clip(diff, -delta, delta)
    return Unreduced(values, lambda g: {"y_pred": g * slope})


@family.loss(
    summary="Smooth L1 loss: 0.5 d^2 / beta for |d| < beta, |d| - 0.5 beta beyond; beta = 0 is L1.",
    reference="torch.nn.functional.smooth_l1_loss",
    formula=r"\ell = \begin{cases} \tfrac{1}{2\beta} d^2 & |d| < \beta \\ |d| - \tfrac{1}{2}\beta & \text{otherwise} "
    r"\end{cases}, \quad d = \hat{y} - y",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
    params=(ParamSpec("beta", "number", "where the loss turns from quadratic to linear (0: pure L1)", ge=0),),
)
def smooth_l1(y_true: Array, y_pred: Array, *, beta: float = 1.0) -> Unreduced:
    """Smooth L1 loss: ``0.5 z^2 / beta`` where ``z = |y_pred - y_true| < beta``, else ``z - 0.5 beta``.

    This is the Huber loss divided by ``beta`` (with ``delta = beta``); PyTorch's expression,
    evaluated in the same order. ``beta = 0`` is the pure L1 loss ``z``, as in PyTorch (which
    then calls ``l1_loss``), so there is no division by zero.
    Gradient: ``dl/dy_pred = d / beta`` where ``|d| <= beta``, else ``sign(d)``: at the switch
    point ``|d| = beta`` both give ``±1``, as PyTorch's autograd does. With ``beta = 0`` it is
    ``sign(d)``, 0 at ``d = 0`` (``abs'(0) = 0``, as for ``mae``).
    ``beta >= 0``. Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    if beta == 0:
        return mae(y_true, y_pred)
    diff = y_pred - y_true
    z = np.abs(diff)
    values = np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)
    slope = np.where(z <= beta, diff / beta, np.sign(diff))
    return Unreduced(values, lambda g: {"y_pred": g * slope})


_LOG2 = math.log(2.0)


@family.loss(
    summary="Log-cosh loss: log(cosh(y_pred - y_true)).",
    reference="optax.losses.log_cosh",
    formula=r"\ell = \log \cosh(\hat{y} - y)",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
)
def log_cosh(y_true: Array, y_pred: Array) -> Unreduced:
    """Log-cosh loss, ``l = log(cosh(d))`` with ``d = y_pred - y_true``.

    Two forms, each exact where it is used (a few ulp relative error everywhere):

    - ``|d| <= 1``: ``log1p(2 sinh(d / 2)^2)``, since ``cosh d = 1 + 2 sinh^2(d / 2)``. No
      cancellation, so ``l ~ d^2 / 2`` stays exact down to the smallest ``d`` (optax's
      ``logaddexp(d, -d) - log 2`` loses all digits there: at ``d = 1e-5`` it is 2e-6 off,
      and it is 0 for ``|d| < 1e-8``).
    - ``|d| > 1``: optax's stable form ``(|d| + softplus(-2 |d|)) - log 2``; the exponential
      only sees negative arguments, so nothing overflows for any finite ``d`` (``cosh`` itself
      overflows past ``|d| ~ 710``); the subtraction of ``log 2`` loses at most a couple of bits.

    Gradient: ``dl/dy_pred = tanh(d)``, finite and smooth everywhere.
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    It agrees with optax to ~1e-15 for ``|d| >~ 1e-2``; nearer 0 optax is the inaccurate one.
    """
    diff = y_pred - y_true
    a = np.abs(diff)
    small = a <= 1.0
    near = np.log1p(2.0 * np.sinh(np.where(small, diff, 0.0) / 2.0) ** 2)
    far = (a + np.log1p(np.exp(-2.0 * a))) - _LOG2
    values = np.where(small, near, far)
    return Unreduced(values, lambda g: {"y_pred": g * np.tanh(diff)})


_KERAS_EPSILON = 1e-7


@family.loss(
    summary="Squared logarithmic error: (log(1 + y_pred) - log(1 + y_true))^2, inputs floored at 1e-7.",
    reference="keras.losses.mean_squared_logarithmic_error, elementwise",
    formula=r"\ell = \left(\log(1 + \hat{y}) - \log(1 + y)\right)^2",
    example={"y_true": [[1.0, 2.0], [3.0, 4.0]], "y_pred": [[1.5, 2.0], [2.5, 5.0]]},
    inputs=(
        InputSpec("y_true", "targets, of y_pred's shape; values below 1e-7 count as 1e-7 (Keras)"),
        InputSpec("y_pred", "predictions; values below 1e-7 count as 1e-7 (Keras)", differentiable=True),
    ),
)
def msle(y_true: Array, y_pred: Array) -> Unreduced:
    """Mean squared logarithmic error, elementwise: ``l = (log(1 + p) - log(1 + t))^2``.

    As Keras does, both inputs are first clipped from below at ``eps = 1e-7`` (Keras's
    ``backend.epsilon()``; the API has no param for it): ``p = max(y_pred, eps)``,
    ``t = max(y_true, eps)``. So zero and negative values are accepted and count as ``eps``
    (Keras documents this: "Negative values and 0 values will be replaced with epsilon");
    nothing makes the logarithm undefined, and no input is refused.

    The difference of logarithms is computed as ``r = log1p((p - t) / (1 + t))``
    (``= log((1 + p) / (1 + t))``), which keeps full relative precision when ``p`` and ``t`` are
    close (Keras's ``log(p + 1) - log(t + 1)`` cancels there) and cannot overflow: ``p, t > 0``
    so ``(p - t) / (1 + t) > -1``, and ``p - t`` never exceeds ``max(p, t)``. Where the target is
    more than twice the prediction (the ratio below -1/2) the logarithms are far apart and their
    difference ``log1p(p) - log1p(t)`` is the accurate one: there the ratio approaches -1 and, for
    ``t`` beyond ~1e16 next to a small ``p``, rounds to it (``log1p(-1) = -inf``).

    Gradient: ``dl/dy_pred = 2 r / (1 + p)`` where ``y_pred >= eps``, 0 where the clip acted
    (``y_pred < eps``). At ``y_pred == eps`` exactly the gradient passes, as PyTorch's
    ``clamp_min`` does (JAX's ``maximum``, under Keras, would give half of it there).
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    p = np.maximum(y_pred, _KERAS_EPSILON)
    t = np.maximum(y_true, _KERAS_EPSILON)
    ratio = (p - t) / (1.0 + t)
    log_ratio = np.where(ratio > -0.5, np.log1p(ratio), np.log1p(p) - np.log1p(t))
    slope = np.where(y_pred >= _KERAS_EPSILON, 2.0 * log_ratio / (1.0 + p), 0.0)
    return Unreduced(log_ratio * log_ratio, lambda g: {"y_pred": g * slope})


@family.loss(
    summary="Absolute percentage error: 100 |y_true - y_pred| / max(|y_true|, eps).",
    reference="keras.losses.mean_absolute_percentage_error, elementwise (x100)",
    formula=r"\ell = 100 \, \frac{|y - \hat{y}|}{\max(|y|, \epsilon)}",
    example={"y_true": [[1.0, 2.0], [3.0, 4.0]], "y_pred": [[1.5, 2.0], [2.5, 5.0]]},
    params=(ParamSpec("eps", "number", "floor on |y_true| in the denominator", gt=0),),
)
def mape(y_true: Array, y_pred: Array, *, eps: float = 1e-7) -> Unreduced:
    """Mean absolute percentage error, elementwise: ``l = 100 |(y_true - y_pred) / max(|y_true|, eps)|``.

    Keras's expression, in its order of operations; the floor ``eps`` keeps a zero target
    finite (its error is then measured relative to ``eps``: large, by design).
    Gradient: ``dl/dy_pred = 100 sign(y_pred - y_true) / max(|y_true|, eps)``; 0 at the kink
    ``y_pred == y_true`` (``abs'(0) = 0``, as PyTorch's autograd gives, API.md section 4; Keras on
    JAX gives ``-100 / max(|y_true|, eps)`` there, since JAX takes ``abs'(0) = 1``).
    ``eps > 0``. Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    scale = np.maximum(np.abs(y_true), eps)
    values = np.abs((y_true - y_pred) / scale) * 100.0
    slope = 100.0 * np.sign(y_pred - y_true) / scale
    return Unreduced(values, lambda g: {"y_pred": g * slope})


@family.loss(
    summary="Poisson negative log-likelihood of counts y_true under the rate y_pred (or exp(y_pred)).",
    reference="torch.nn.functional.poisson_nll_loss",
    formula=r"\ell = e^{\hat{y}} - y \, \hat{y} \ \text{(log-rates)}, \qquad \ell = \hat{y} - y \log(\hat{y} + "
    r"\epsilon) \ \text{(rates)}",
    example={"y_true": [[1.0, 0.0], [2.0, 3.0]], "y_pred": [[0.0, -1.0], [0.5, 1.0]]},
    inputs=(COUNTS, RATES),
    params=(
        ParamSpec("log_input", "boolean", "y_pred holds log-rates (true) or rates (false)"),
        ParamSpec("full", "boolean", "add the Stirling approximation of log(y_true!) where y_true > 1"),
        ParamSpec("eps", "number", "added to the rate inside the log when log_input is false", gt=0),
    ),
)
def poisson_nll(
    y_true: Array, y_pred: Array, *, log_input: bool = True, full: bool = False, eps: float = 1e-8
) -> Unreduced:
    """Poisson negative log-likelihood of counts ``t = y_true`` under a rate given by ``y_pred``.

    - ``log_input`` (``y_pred = x = log rate``): ``l = exp(x) - t x``; ``dl/dx = exp(x) - t``.
      ``x`` may be any real; past ``x ~ 709`` the rate itself overflows float64 and the
      result is refused as not finite (422).
    - otherwise (``y_pred = rate >= 0``): ``l = y_pred - t log(y_pred + eps)``;
      ``dl/dy_pred = 1 - t / (y_pred + eps)``. ``eps`` keeps a zero rate finite.
    - ``full`` adds the Stirling approximation of ``log(t!)``,
      ``t log t - t + 0.5 log(2 pi t)``, where ``t > 1`` (0 elsewhere), as PyTorch does. It does
      not depend on ``y_pred``, so the gradient is unchanged.

    Domain (PyTorch checks none of it; here it is a 422): targets ``t >= 0`` (counts; a
    negative target makes ``l`` unbounded below), and with ``log_input`` false ``y_pred >= 0``
    (a rate). Targets need not be integers.
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    require("y_true", y_true >= 0, y_true, "a count >= 0")
    if log_input:
        rate = np.exp(y_pred)
        values = rate - y_true * y_pred
        slope = rate - y_true
    else:
        require("y_pred", y_pred >= 0, y_pred, "a rate >= 0 (log_input is false)")
        shifted = y_pred + eps
        values = y_pred - y_true * np.log(shifted)
        slope = 1.0 - y_true / shifted
    if full:
        big = y_true > 1
        t = np.where(big, y_true, 1.0)
        stirling = t * np.log(t) - t + 0.5 * np.log(2.0 * math.pi * t)
        values = values + np.where(big, stirling, 0.0)
    return Unreduced(values, lambda g: {"y_pred": g * slope})


@family.loss(
    summary="Gaussian negative log-likelihood of y_true under N(y_pred, var).",
    reference="torch.nn.functional.gaussian_nll_loss",
    formula=r"\ell = \tfrac{1}{2} \left( \log \max(\sigma^2, \epsilon) + \frac{(\hat{y} - y)^2}{\max(\sigma^2, "
    r"\epsilon)} \right)",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]], "var": [[1.0, 0.5], [2.0, 1.0]]},
    inputs=(TARGETS, PREDICTIONS, VARIANCE),
    shape_rule=WithVariance(),
    params=(
        ParamSpec("full", "boolean", "add the constant 0.5 log(2 pi)"),
        ParamSpec("eps", "number", "variances are clamped to at least eps", gt=0),
    ),
)
def gaussian_nll(y_true: Array, y_pred: Array, var: Array, *, full: bool = False, eps: float = 1e-6) -> Unreduced:
    """Gaussian negative log-likelihood of ``y_true`` under ``N(y_pred, var)``.

    With ``v = max(var, eps)`` and ``d = y_pred - y_true``:
    ``l = 0.5 (log v + d^2 / v)``, plus ``0.5 log(2 pi)`` when ``full``.

    ``var`` has ``y_pred``'s shape, or that shape with the last axis 1 or dropped (one variance
    shared across the last axis, broadcast). Negative variances are refused (422, as PyTorch
    raises); zero is allowed and counts as ``eps``.

    Gradients: ``dl/dy_pred = d / v``; ``dl/dvar = 0.5 (1 / v - d^2 / v^2)``, summed over the
    broadcast last axis when ``var`` is shared, so it has ``var``'s own shape. PyTorch clamps
    ``var`` to ``eps`` in place under ``no_grad``, so its autograd treats the clamp as the
    identity: where ``var < eps`` the gradient is NOT 0 but the formula above evaluated at
    ``v = eps`` (a straight-through clamp). This is replicated.
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``var``: see above; ``l``: ``y_pred``'s shape.
    """
    require("var", var >= 0, var, "a variance >= 0")
    shared = var.shape != y_pred.shape
    dropped = shared and var.ndim < y_pred.ndim
    v = np.maximum(var[..., None] if dropped else var, eps)
    diff = y_pred - y_true
    values = 0.5 * (np.log(v) + diff**2 / v)
    if full:
        values = values + 0.5 * math.log(2.0 * math.pi)
    d_pred = diff / v
    d_var = 0.5 * (1.0 / v - diff**2 / (v * v))

    def vjp(g: Array) -> dict[str, Array]:
        grad_var = g * d_var
        if shared:
            grad_var = np.sum(grad_var, axis=-1, keepdims=not dropped)
        return {"y_pred": g * d_pred, "var": grad_var}

    return Unreduced(values, vjp)


@family.loss(
    summary="Quantile (pinball) loss: q max(y_true - y_pred, 0) + (1 - q) max(y_pred - y_true, 0).",
    reference="sklearn.metrics.mean_pinball_loss, elementwise",
    formula=r"\ell = q \max(y - \hat{y}, 0) + (1 - q) \max(\hat{y} - y, 0)",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]], "params": {"quantile": 0.9}},
    params=(ParamSpec("quantile", "number", "the quantile q to estimate", gt=0, lt=1),),
)
def quantile(y_true: Array, y_pred: Array, *, quantile: float = 0.5) -> Unreduced:
    """Quantile (pinball) loss, elementwise: ``l = q max(y - p, 0) + (1 - q) max(p - y, 0)``.

    ``q = quantile`` in (0, 1), ``y = y_true``, ``p = y_pred``; ``q = 0.5`` is half the L1 loss.
    Gradient: ``dl/dp = -q`` where ``p < y``, ``1 - q`` where ``p > y``. At the kink ``p == y``
    it is ``1 - 2q``: what PyTorch's autograd gives for the expression written with
    ``clamp_min`` (each ``clamp_min(., 0)`` passes its gradient at 0, so both terms contribute
    ``-q + (1 - q)``); 0 for the median, as ``abs'(0) = 0``.
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    diff = y_true - y_pred
    values = quantile * np.maximum(diff, 0.0) + (1.0 - quantile) * np.maximum(-diff, 0.0)
    # -q from the first term where diff >= 0, (1 - q) from the second where diff <= 0
    slope = np.where(diff > 0, -quantile, np.where(diff < 0, 1.0 - quantile, 1.0 - 2.0 * quantile))
    return Unreduced(values, lambda g: {"y_pred": g * slope})
