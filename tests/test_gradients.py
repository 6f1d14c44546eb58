"""Every analytic gradient against central finite differences, for every loss and reduction."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.engine import CATALOG, compute

from .cases import CASES, Case, resolve_params
from .numerics import central_difference, total


def _weights(case: Case, inputs: dict[str, np.ndarray], kind: str, seed: int) -> np.ndarray | None:
    if kind == "unweighted":
        return None
    rng = np.random.default_rng(seed + 7)
    spec = CATALOG[case.loss]
    shape = spec.shape_rule.unreduced_shape({k: v.shape for k, v in inputs.items()})
    return rng.uniform(0.2, 2.0, shape[:1] if kind == "per-sample" else shape)


CASE_REDUCTIONS = [
    pytest.param(case, reduction, id=f"{case.id}-{reduction}")
    for case in CASES
    for reduction in CATALOG[case.loss].reductions
]


@pytest.mark.parametrize("weighting", ["unweighted", "per-sample", "per-value"])
@pytest.mark.parametrize(("case", "reduction"), CASE_REDUCTIONS)
def test_gradient_matches_central_differences(case: Case, reduction: str, weighting: str) -> None:
    spec = CATALOG[case.loss]
    seed = zlib.crc32(f"{case.id}/{reduction}/{weighting}".encode())
    inputs = case.inputs(seed)
    params = resolve_params(case, inputs, seed)
    weight = _weights(case, inputs, weighting, seed)

    def loss_at(name: str, value: np.ndarray) -> float:
        return total(compute(spec, {**inputs, name: value}, params, sample_weight=weight, reduction=reduction).loss)

    result = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
    assert result.grads is not None and set(result.grads) == set(spec.differentiable)
    for name in spec.differentiable:
        numeric = central_difference(lambda x, name=name: loss_at(name, x), inputs[name])
        assert result.grads[name].shape == inputs[name].shape
        np.testing.assert_allclose(result.grads[name], numeric, rtol=1e-6, atol=1e-7, err_msg=f"d/d{name}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_float32_gradient_close_to_float64(case: Case) -> None:
    spec = CATALOG[case.loss]
    inputs = case.inputs(11)
    params = resolve_params(case, inputs, 11)
    wide = compute(spec, inputs, params, return_grad=True, dtype="float64")
    narrow = compute(spec, inputs, params, return_grad=True, dtype="float32")
    assert narrow.grads is not None and wide.grads is not None
    for name, grad in narrow.grads.items():
        assert grad.dtype == np.float32
        np.testing.assert_allclose(grad, wide.grads[name], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(narrow.loss, wide.loss, rtol=2e-5, atol=1e-6)
