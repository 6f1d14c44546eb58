"""``OptaxParity``: values and ``jax.grad`` gradients against an optax reference, as ``TorchParity`` does
against PyTorch.

A test class that mixes it in (with ``LossTests``, whose ``case``/``reduction``/``weighting``
parametrization it shares, ``tests/engine/conftest.py``) defines ``optax_reference(optax, jnp, inputs,
params)``: the loss's unreduced values (``()`` for a *scalar* loss) from optax, on the inputs as
JAX arrays. This reduces them as the contract says (``none``: ``w * l``; ``sum``; ``mean``:
``sum(w * l) / count``) with the weighting's sample weights, takes ``jax.grad`` of the sum of the
result with respect to every differentiable input, and compares both with the engine in float64
(JAX with ``JAX_ENABLE_X64``, ``tests/support/references.py``) to the contract's rtol 1e-9
(atol 1e-12).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from service.engine import CATALOG, compute
from tests.support.engine import ATOL, RTOL, Case, Inputs, resolve_params, sample_weight


class OptaxParity:
    """Every case x reduction x weighting (``LossTests``' parametrization), on random values of two
    shapes. The shapes are fixed (``LossTests`` draws random ones): JAX compiles each operation once per
    shape, and reusing them keeps these tests from spending their time compiling."""

    parity_shapes: tuple[tuple[int, ...], ...] = ((3, 4), (2, 3, 4))

    @staticmethod
    def optax_reference(optax: Any, jnp: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        raise NotImplementedError  # pragma: no cover - each test class gives its own

    def test_values_and_gradients_match_optax(
        self, jax: Any, optax: Any, case: Case, reduction: str, weighting: str
    ) -> None:
        spec = CATALOG[case.loss]
        shapes = [shape for shape in self.parity_shapes if case.min_rank <= len(shape) <= case.max_rank]
        assert shapes, f"no parity shape of rank {case.min_rank} to {case.max_rank}"
        for shape in shapes:
            seed = zlib.crc32(f"{case.id}/{reduction}/{weighting}/optax/{shape}".encode())
            inputs = case.inputs(seed, shape)
            params = resolve_params(case, inputs, seed)
            weight = sample_weight(case, inputs, weighting, seed)
            expected, expected_grads = self._reference(
                jax, optax, spec.differentiable, inputs, params, weight, reduction
            )
            result = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
            np.testing.assert_allclose(result.loss, np.asarray(expected), rtol=RTOL, atol=ATOL, err_msg=reduction)
            assert result.grads is not None
            for name in spec.differentiable:
                np.testing.assert_allclose(
                    result.grads[name], np.asarray(expected_grads[name]), rtol=RTOL, atol=ATOL, err_msg=f"d/d{name}"
                )

    def _reference(
        self,
        jax: Any,
        optax: Any,
        differentiable: tuple[str, ...],
        inputs: Inputs,
        params: dict[str, Any],
        weight: np.ndarray | None,
        reduction: str,
    ) -> tuple[Any, dict[str, Any]]:
        jnp = jax.numpy

        def reduced(variables: dict[str, Any]) -> Any:
            arrays = {name: jnp.asarray(value) for name, value in inputs.items()} | variables
            values = self.optax_reference(optax, jnp, arrays, params)
            if weight is not None:
                values = values * jnp.asarray(weight).reshape(weight.shape + (1,) * (values.ndim - weight.ndim))
            if reduction == "none":
                return values
            total = jnp.sum(values)
            return total / values.size if reduction == "mean" else total

        variables = {name: jnp.asarray(inputs[name]) for name in differentiable}
        return reduced(variables), jax.grad(lambda v: jnp.sum(reduced(v)))(variables)
