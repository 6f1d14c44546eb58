"""Cases for the regression losses added by the catalog issue.

Every maker keeps its inputs away from the losses' kinks (``y_pred == y_true``, Huber's and
smooth L1's switch points, the pinball kink) and from clipping boundaries (MSLE's floor at
1e-7, the variance floor ``eps``), so that central differences are accurate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .casekit import Case, Inputs, Maker, regression, torch_reduce

T = dict[str, Any]


def _signed(rng: np.random.Generator, low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def offset(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """y_pred = y_true + d with 0.1 <= |d| <= 2: away from the L1 kink at d = 0."""
    y_true = rng.normal(size=shape)
    return {"y_true": y_true, "y_pred": y_true + _signed(rng, 0.1, 2.0, shape)}


def around_switch(width: float) -> Maker:
    """|y_pred - y_true| in [0.1, 0.9] width (quadratic part) or [1.1, 3] width (linear part)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        y_true = rng.normal(size=shape)
        inside = _signed(rng, 0.1 * width, 0.9 * width, shape)
        outside = _signed(rng, 1.1 * width, 3.0 * width, shape)
        d = np.where(rng.uniform(size=shape) < 0.5, inside, outside)
        return {"y_true": y_true, "y_pred": y_true + d}

    return make


def log_cosh_errors(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Errors on both sides of log_cosh's switch between its two forms at |d| = 1."""
    y_true = rng.normal(size=shape)
    return {"y_true": y_true, "y_pred": y_true + rng.normal(0, 2, shape)}


def msle_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Positive values, plus some zero/negative targets and predictions (floored at 1e-7 by Keras)."""
    y_true = np.where(rng.uniform(size=shape) < 0.2, rng.uniform(-2, 0, shape), rng.uniform(0.0, 5.0, shape))
    y_pred = np.where(rng.uniform(size=shape) < 0.2, rng.uniform(-2, -0.05, shape), rng.uniform(0.05, 5.0, shape))
    return {"y_true": y_true, "y_pred": y_pred}


def mape_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    y_true = _signed(rng, 0.5, 2.0, shape)
    return {"y_true": y_true, "y_pred": y_true + _signed(rng, 0.05, 1.0, shape)}


def mape_small_targets(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Targets below eps = 0.5 (and some exactly 0): the denominator is eps there."""
    y_true = np.where(rng.uniform(size=shape) < 0.2, 0.0, _signed(rng, 0.01, 2.0, shape))
    return {"y_true": y_true, "y_pred": y_true + _signed(rng, 0.05, 1.0, shape)}


def _counts(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Counts 0..6 (so both sides of the Stirling term's t > 1), some of them fractional."""
    whole = rng.integers(0, 7, shape).astype(float)
    return np.where(rng.uniform(size=shape) < 0.25, rng.uniform(0, 6, shape), whole)


def poisson_log_rates(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": _counts(rng, shape), "y_pred": rng.normal(0.5, 1.0, shape)}


def poisson_rates(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": _counts(rng, shape), "y_pred": rng.uniform(0.1, 5.0, shape)}


def gaussian(var_shape: str) -> Maker:
    """Means and variances; ``var_shape``: "full" (y_pred's), "last1" (last axis 1) or "dropped"."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        inputs = regression(rng, shape)
        vshape = {"full": shape, "last1": (*shape[:-1], 1), "dropped": shape[:-1]}[var_shape]
        return {**inputs, "var": rng.uniform(0.2, 2.0, vshape)}

    return make


def torch_l1(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.l1_loss(t["y_pred"], t["y_true"], reduction=reduction)


def torch_huber(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.huber_loss(t["y_pred"], t["y_true"], reduction=reduction, delta=p.get("delta", 1.0))


def torch_smooth_l1(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.smooth_l1_loss(t["y_pred"], t["y_true"], reduction=reduction, beta=p.get("beta", 1.0))


def torch_poisson_nll(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.poisson_nll_loss(
        t["y_pred"],
        t["y_true"],
        log_input=p.get("log_input", True),
        full=p.get("full", False),
        eps=p.get("eps", 1e-8),
        reduction=reduction,
    )


def torch_gaussian_nll(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.gaussian_nll_loss(
        t["y_pred"], t["y_true"], t["var"], full=p.get("full", False), eps=p.get("eps", 1e-6), reduction=reduction
    )


def torch_pinball(torch: Any, t: T, p: T, reduction: str) -> Any:
    """sklearn's pinball loss written with ``clamp_min``, which fixes the gradient at the kink."""
    q = p.get("quantile", 0.5)
    diff = t["y_true"] - t["y_pred"]
    return torch_reduce(torch, q * torch.clamp_min(diff, 0) + (1 - q) * torch.clamp_min(-diff, 0), reduction)


CASES: list[Case] = [
    Case("mae", offset, torch_reference=torch_l1),
    Case("huber", around_switch(1.0), torch_reference=torch_huber),
    Case("huber", around_switch(0.3), {"delta": 0.3}, torch_reference=torch_huber),
    Case("huber", around_switch(2.5), {"delta": 2.5}, torch_reference=torch_huber),
    Case("smooth_l1", around_switch(1.0), torch_reference=torch_smooth_l1),
    Case("smooth_l1", around_switch(0.4), {"beta": 0.4}, torch_reference=torch_smooth_l1),
    Case("smooth_l1", around_switch(3.0), {"beta": 3.0}, torch_reference=torch_smooth_l1),
    Case("smooth_l1", offset, {"beta": 0.0}, torch_reference=torch_smooth_l1),
    Case("log_cosh", log_cosh_errors),
    Case("msle", msle_inputs),
    Case("mape", mape_inputs),
    Case("mape", mape_small_targets, {"eps": 0.5}),
    Case("poisson_nll", poisson_log_rates, torch_reference=torch_poisson_nll),
    Case("poisson_nll", poisson_log_rates, {"full": True}, torch_reference=torch_poisson_nll),
    Case("poisson_nll", poisson_rates, {"log_input": False}, torch_reference=torch_poisson_nll),
    Case(
        "poisson_nll", poisson_rates, {"log_input": False, "full": True, "eps": 0.5}, torch_reference=torch_poisson_nll
    ),
    Case("gaussian_nll", gaussian("full"), torch_reference=torch_gaussian_nll),
    Case("gaussian_nll", gaussian("full"), {"full": True, "eps": 0.01}, torch_reference=torch_gaussian_nll),
    Case("gaussian_nll", gaussian("last1"), torch_reference=torch_gaussian_nll),
    Case("gaussian_nll", gaussian("dropped"), {"full": True}, torch_reference=torch_gaussian_nll),
    Case("quantile", offset, torch_reference=torch_pinball),
    Case("quantile", offset, {"quantile": 0.1}, torch_reference=torch_pinball),
    Case("quantile", offset, {"quantile": 0.9}, torch_reference=torch_pinball),
]
