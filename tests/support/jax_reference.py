"""Parity against a reference written in JAX (optax, Keras on the JAX backend): values and ``jax.grad``.

A reference here is a function of the inputs (JAX arrays by name, the differentiable ones traced)
returning the loss's unreduced values (or its one value, for a scalar loss). ``reference_result``
reduces them as the service's contract does (``sum(w * l)``, ``sum(w * l) / count``, or the
weighted values for ``none``, whose gradient is that of their sum) and differentiates the
reduced number with ``jax.grad``, so that every reduction and weighting is checked against the
reference's own values and autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from service.engine import CATALOG, compute

from .engine import ATOL, RTOL, Inputs

JaxReference = Callable[..., Any]


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
