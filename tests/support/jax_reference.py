"""Parity against a reference written in JAX (optax, Keras on the JAX backend): values and ``jax.grad``.

A reference here is a function of the inputs (JAX arrays by name, the differentiable ones traced)
returning the loss's unreduced values (or its one value, for a scalar loss). ``reference_result``
reduces them as the service's contract does (``sum(w * l)``, ``sum(w * l) / count``, or the
weighted values for ``none``, whose gradient is that of their sum) and differentiates the
reduced number with ``jax.grad``, so that every reduction and weighting is checked against the
reference's own values and autograd.

``JaxParity`` (with ``assert_matches_jax``) does the same for a test class's ``jax_cases``: pairs of a
case and a reference written as ``reference(jax, arrays, params)``, on the case's random inputs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, compute

from .engine import ATOL, RTOL, Case, Inputs, resolve_params

JaxReference = Callable[..., Any]
#: A case's JAX reference: (jax, the inputs as JAX arrays, params) -> the unreduced values.
JaxCaseReference = Callable[[Any, dict[str, Any], dict[str, Any]], Any]


def reference_result(
    jax: Any, loss: str, reference: JaxReference, inputs: Inputs, reduction: str, weight: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The reference's reduced loss and the gradient of every differentiable input given."""
    jnp = jax.numpy
    names = [name for name in CATALOG[loss].differentiable if name in inputs]
    fixed = {name: jnp.asarray(value) for name, value in inputs.items() if name not in names}

    def reduced(*traced: Any) -> tuple[Any, Any]:
        values = reference(**fixed, **dict(zip(names, traced, strict=True)))
        weighted = values if weight is None else values * jnp.asarray(weight)
        if reduction == "none":
            return jnp.sum(weighted), weighted
        total = jnp.sum(weighted) if reduction == "sum" else jnp.sum(weighted) / values.size
        return total, total

    arguments = [jnp.asarray(inputs[name]) for name in names]
    grads, out = jax.grad(reduced, argnums=tuple(range(len(names))), has_aux=True)(*arguments)
    return np.asarray(out), {name: np.asarray(g) for name, g in zip(names, grads, strict=True)}


def assert_matches_reference(
    jax: Any,
    loss: str,
    reference: JaxReference,
    inputs: Inputs,
    params: dict[str, Any],
    reduction: str,
    weight: np.ndarray | None = None,
) -> None:
    """The service's float64 loss and gradients equal the reference's to the contract's tolerance."""
    expected, expected_grads = reference_result(jax, loss, reference, inputs, reduction, weight)
    result = compute(CATALOG[loss], inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
    np.testing.assert_allclose(result.loss, expected, rtol=RTOL, atol=ATOL, err_msg=f"{loss} {reduction}")
    assert result.grads is not None and set(result.grads) == set(expected_grads)
    for name, gradient in expected_grads.items():
        np.testing.assert_allclose(
            result.grads[name], gradient, rtol=RTOL, atol=ATOL, err_msg=f"{loss} {reduction}: d/d{name}"
        )


def assert_matches_jax(jax: Any, case: Case, reference: JaxCaseReference, seed: int) -> tuple[float, float]:
    """Values and ``jax.grad`` gradients of ``reference``'s unreduced values, reduced as the API reduces
    (none, sum, mean = sum / count), with no sample weight and one per sample. Returns the largest
    relative errors seen (value, gradient)."""
    jnp = jax.numpy
    spec = CATALOG[case.loss]
    inputs = case.inputs(seed)
    params = resolve_params(case, inputs, seed)
    names = [n for n in spec.differentiable if n in inputs]
    arrays = {k: jnp.asarray(v) for k, v in inputs.items()}
    shape = reference(jax, arrays, params).shape
    worst = [0.0, 0.0]
    for weight in (None, np.random.default_rng(seed).uniform(0.2, 2.0, shape[:1])):
        for reduction in ("none", "sum", "mean"):

            def reduced(*diff: Any, weight: Any = weight, reduction: str = reduction) -> Any:
                unreduced = reference(jax, {**arrays, **dict(zip(names, diff, strict=True))}, params)
                if weight is not None:
                    unreduced = unreduced * jnp.asarray(weight).reshape(weight.shape + (1,) * (unreduced.ndim - 1))
                return {"none": unreduced, "sum": unreduced.sum(), "mean": unreduced.sum() / unreduced.size}[reduction]

            primals = [arrays[n] for n in names]
            expected = np.asarray(reduced(*primals))
            gradients = jax.grad(lambda *d: jnp.sum(reduced(*d)), argnums=tuple(range(len(names))))(*primals)
            result = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
            where = f"{case.id} {reduction} weighted={weight is not None}"
            np.testing.assert_allclose(result.loss, expected, rtol=RTOL, atol=ATOL, err_msg=where)
            worst[0] = max(worst[0], relative_error(result.loss, expected))
            assert result.grads is not None and set(result.grads) == set(names)
            for name, expected_grad in zip(names, gradients, strict=True):
                np.testing.assert_allclose(
                    result.grads[name], expected_grad, rtol=RTOL, atol=ATOL, err_msg=f"{where} d/d{name}"
                )
                worst[1] = max(worst[1], relative_error(result.grads[name], np.asarray(expected_grad)))
    return worst[0], worst[1]


def relative_error(got: Any, want: Any) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = np.maximum(np.abs(want), 1e-300)
    error = np.abs(got - want) / scale
    return float(np.max(np.where(np.abs(got - want) <= ATOL, 0.0, error)))


class JaxParity:
    """``jax_cases``: (case, reference) pairs compared with ``assert_matches_jax`` on three seeds."""

    jax_cases: tuple[tuple[Case, JaxCaseReference], ...] = ()

    @pytest.mark.parametrize("seed", range(3))
    def test_values_and_gradients_match_the_jax_reference(self, jax: Any, seed: int) -> None:
        assert self.jax_cases
        for case, reference in self.jax_cases:
            assert_matches_jax(jax, case, reference, zlib.crc32(f"{case.id}/{seed}".encode()))
