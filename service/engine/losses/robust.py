"""Plain and robust regression losses of the residual ``d = y_pred - y_true``; elementwise.

The robust ones are Barron's general loss at scale 1 (kornia 0.9): ``charbonnier`` (alpha = 1),
``cauchy`` (0), ``geman_mcclure`` (-2) and ``welsch`` (-inf). They are written, as kornia 0.9
writes them, so that nothing cancels for small residuals (where ``sqrt(d^2 + 1) - 1`` and
``1 - exp(-d^2 / 2)`` are differences of nearly equal numbers), and here also so that nothing
overflows for huge ones: where ``d^2`` overflows (``|d| > ~1.3e154`` in float64, ``~1.8e19`` in
float32) kornia returns ``inf`` or ``nan``, these return the finite value.
"""

from __future__ import annotations

import math

import numpy as np

from ..shapes import Elementwise
from ..spec import Array, Family, Unreduced
from ._common import PREDICTIONS, TARGETS

family = Family("regression", inputs=(TARGETS, PREDICTIONS), shape_rule=Elementwise())

_LOG2 = math.log(2.0)


@family.loss(
    summary="L2 loss: 0.5 (y_pred - y_true)^2.",
    reference="optax.losses.l2_loss: 0.5 (y_pred - y_true)^2",
    formula=r"\ell = \tfrac{1}{2} (\hat{y} - y)^2",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
)
def l2(y_true: Array, y_pred: Array) -> Unreduced:
    """L2 loss (optax ``l2_loss``), ``l = 0.5 d^2`` with ``d = y_pred - y_true``.

    Gradient: ``dl/dy_pred = d``. Where ``d^2 / 2`` exceeds the dtype's range the loss is refused
    as not finite (422): the true value is not representable.
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    diff = y_pred - y_true
    return Unreduced(0.5 * diff**2, lambda g: {"y_pred": g * diff})


@family.loss(
    summary="Charbonnier (L1-L2) loss: sqrt(d^2 + 1) - 1, d = y_pred - y_true, evaluated stably.",
    reference="kornia.losses.charbonnier_loss: sqrt(d^2 + 1) - 1, stably",
    formula=r"\ell = \sqrt{(\hat{y} - y)^2 + 1} - 1",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
)
def charbonnier(y_true: Array, y_pred: Array) -> Unreduced:
    """Charbonnier loss, ``l = sqrt(d^2 + 1) - 1`` with ``d = y_pred - y_true``.

    Stable form (kornia 0.9's): for ``d^2 < 1``, ``d^2 / (sqrt(d^2 + 1) + 1)`` (the difference
    rationalised: no cancellation, so ``l ~ d^2 / 2`` keeps full precision down to the smallest
    ``d``, where ``sqrt(d^2 + 1) - 1`` is 0 for ``|d| < ~1e-8``); otherwise ``hypot(d, 1) - 1``,
    which is kornia's ``sqrt(d^2 + 1) - 1`` to rounding but does not overflow: for ``|d|`` beyond
    ``~1.3e154`` kornia's ``d^2`` is ``inf``, this is ``|d| - 1``, finite.

    Gradient: ``dl/dy_pred = d / hypot(d, 1)``, in (-1, 1), smooth (0 at ``d = 0``).
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    diff = y_pred - y_true
    squared = diff * diff
    small = squared < 1.0
    small_squared = np.where(small, squared, 0.0)
    norm = np.hypot(diff, 1.0)
    values = np.where(small, small_squared / (np.sqrt(small_squared + 1.0) + 1.0), norm - 1.0)
    return Unreduced(values, lambda g: {"y_pred": g * (diff / norm)})


@family.loss(
    summary="Cauchy (Lorentzian) loss: log(0.5 d^2 + 1), d = y_pred - y_true, evaluated stably.",
    reference="kornia.losses.cauchy_loss: log(0.5 d^2 + 1), stably",
    formula=r"\ell = \log\left(\tfrac{1}{2} (\hat{y} - y)^2 + 1\right)",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
)
def cauchy(y_true: Array, y_pred: Array) -> Unreduced:
    """Cauchy loss, ``l = log(0.5 d^2 + 1)`` with ``d = y_pred - y_true``.

    Stable form: ``log1p(0.5 d^2)`` (kornia 0.9's), exact for small ``d`` (``l ~ d^2 / 2``, where
    ``log(0.5 d^2 + 1)`` rounds to 0 for ``|d| < ~2e-8``). Where ``d^2`` overflows (kornia: ``inf``)
    it is ``2 log|d| - log 2``, the exact value to rounding there (the neglected ``log1p(2 / d^2)``
    is below 1e-300).

    Gradient: ``dl/dy_pred = d / (1 + 0.5 d^2)``, and ``2 / d`` where ``d^2`` overflows.
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    diff = y_pred - y_true
    squared = diff * diff
    values = np.log1p(0.5 * squared)
    slope = diff / (1.0 + 0.5 * squared)
    overflow = np.isinf(squared)
    if overflow.any():
        huge = np.where(overflow, diff, 1.0)
        values = np.where(overflow, 2.0 * np.log(np.abs(huge)) - _LOG2, values)
        slope = np.where(overflow, 2.0 / huge, slope)
    return Unreduced(values, lambda g: {"y_pred": g * slope})


@family.loss(
    summary="Geman-McClure loss: 2 d^2 / (d^2 + 4), d = y_pred - y_true.",
    reference="kornia.losses.geman_mcclure_loss: 2 d^2 / (d^2 + 4)",
    formula=r"\ell = \frac{2 (\hat{y} - y)^2}{(\hat{y} - y)^2 + 4}",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
)
def geman_mcclure(y_true: Array, y_pred: Array) -> Unreduced:
    """Geman-McClure loss, ``l = 2 d^2 / (d^2 + 4)`` with ``d = y_pred - y_true``, bounded by 2.

    No cancellation anywhere; computed as ``2 (d^2 / (d^2 + 4))``, bit for bit kornia's
    ``2 d^2 / (d^2 + 4)`` (doubling is exact) except that ``2 d^2`` cannot overflow; where ``d^2``
    itself overflows (kornia: ``nan``) the value is its limit 2, exact to rounding there.

    Gradient: ``dl/dy_pred = 16 d / (d^2 + 4)^2``, computed as ``16 (d q) q`` with
    ``q = 1 / (d^2 + 4)`` so that no intermediate overflows (``(d^2 + 4)^2`` would past
    ``|d| ~ 1e77``); 0 where ``d^2`` overflows (the true ``16 / d^3`` underflows there).
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    diff = y_pred - y_true
    squared = diff * diff
    values = np.where(np.isinf(squared), 2.0, 2.0 * (squared / (squared + 4.0)))
    q = 1.0 / (squared + 4.0)
    slope = 16.0 * (diff * q) * q
    return Unreduced(values, lambda g: {"y_pred": g * slope})


@family.loss(
    summary="Welsch (Leclerc) loss: 1 - exp(-0.5 d^2), d = y_pred - y_true, evaluated stably.",
    reference="kornia.losses.welsch_loss: 1 - exp(-0.5 d^2), stably",
    formula=r"\ell = 1 - \exp\left(-\tfrac{1}{2} (\hat{y} - y)^2\right)",
    example={"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 2.0]]},
)
def welsch(y_true: Array, y_pred: Array) -> Unreduced:
    """Welsch loss, ``l = 1 - exp(-0.5 d^2)`` with ``d = y_pred - y_true``, bounded by 1.

    Stable form (kornia 0.9's): for ``d^2 < 1``, ``2 u / (1 + u)`` with ``u = tanh(d^2 / 4)``, which
    equals ``1 - exp(-d^2 / 2)`` without the cancellation (``1 - exp(-x)`` loses every digit for
    ``x`` below the machine epsilon); beyond, ``1 - exp(-0.5 d^2)``, accurate there. An overflowing
    ``d^2`` gives ``1 - exp(-inf) = 1``, the limit.

    Gradient: ``dl/dy_pred = d exp(-0.5 d^2)`` (0 where the exponential underflows).
    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``; ``l``: the same.
    """
    diff = y_pred - y_true
    squared = diff * diff
    u = np.tanh(0.25 * squared)
    decay = np.exp(-0.5 * squared)
    values = np.where(squared < 1.0, 2.0 * u / (1.0 + u), 1.0 - decay)
    return Unreduced(values, lambda g: {"y_pred": g * (diff * decay)})
