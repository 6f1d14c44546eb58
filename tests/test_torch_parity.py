"""Parity with PyTorch, the reference for logit-input losses (API.md §4-5).

Values and autograd gradients in float64 must agree to rtol 1e-9 (atol 1e-12), for every
reduction PyTorch offers, with and without sample weights, on random shapes. Skipped only
where torch is not installed; CI installs ``torch==2.13.0``.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, compute

from .casekit import mean_scale, uses_weighted_mean
from .cases import CASES, Case, resolve_params
from .cases_seed import torch_hinge, torch_perceptron
from .conftest import skip_unless_available

try:
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    skip_unless_available("torch", "torch is not installed: pip install torch==2.13.0")
    raise
F = torch.nn.functional

RTOL, ATOL = 1e-9, 1e-12

TORCH_CASES = [case for case in CASES if case.torch_reference is not None]


def test_every_torch_referenced_loss_has_a_parity_case() -> None:
    new_layout = {"regression", "pairs", "classification", "contrastive"}  # their classes in tests/engine/
    torch_referenced = {
        name
        for name, spec in CATALOG.items()
        if "torch" in spec.reference and spec.fn.__module__.rsplit(".", 1)[-1] not in new_layout
    }
    assert torch_referenced <= {case.loss for case in TORCH_CASES}


def _torch_inputs(case: Case, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    spec = CATALOG[case.loss]
    return {
        name: torch.tensor(value, dtype=torch.int64 if value.dtype.kind == "i" else torch.float64).requires_grad_(
            name in spec.differentiable
        )
        for name, value in inputs.items()
    }


@pytest.mark.parametrize("shape_seed", range(3))
@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_values_and_gradients_match_torch(case: Case, shape_seed: int) -> None:
    """Each of torch's own reductions, unweighted: values and autograd gradients."""
    spec, reference = CATALOG[case.loss], case.torch_reference
    assert reference is not None
    seed = zlib.crc32(f"{case.id}/{shape_seed}".encode())
    inputs = case.inputs(seed)
    params = resolve_params(case, inputs, seed)
    for reduction in case.torch_reductions:
        tensors = _torch_inputs(case, inputs)
        expected = reference(torch, tensors, params, reduction)
        expected.sum().backward()
        result = compute(spec, inputs, params, reduction=reduction, return_grad=True)
        np.testing.assert_allclose(result.loss, expected.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=reduction)
        assert result.grads is not None
        for name in spec.differentiable:
            np.testing.assert_allclose(
                result.grads[name], tensors[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"{reduction}: d/d{name}"
            )


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_sample_weights_match_torch_unreduced_values(case: Case) -> None:
    """``sum(w * l) / count`` and ``sum(w * l)`` built on torch's unreduced values."""
    spec, reference = CATALOG[case.loss], case.torch_reference
    assert reference is not None
    seed = zlib.crc32(f"{case.id}/weighted".encode())
    inputs = case.inputs(seed)
    params = resolve_params(case, inputs, seed)
    for reduction in ("mean", "sum", "none"):
        tensors = _torch_inputs(case, inputs)
        values = reference(torch, tensors, params, "none")
        rng = np.random.default_rng(seed)
        weight = rng.uniform(0.2, 2.0, values.shape[:1])
        w = torch.tensor(weight).reshape(weight.shape + (1,) * (values.dim() - 1))
        weighted = values * w
        if reduction == "none":
            expected = weighted
        elif reduction == "sum":
            expected = weighted.sum()
        else:
            in_play = uses_weighted_mean(case.loss, params)
            scaled = weighted * torch.as_tensor(mean_scale(case.loss, inputs))  # CTC: over the target lengths
            expected = scaled.sum() / (_torch_weight_total(tensors, params) if in_play else values.numel())
        expected.sum().backward()
        result = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
        np.testing.assert_allclose(result.loss, expected.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=reduction)
        assert result.grads is not None
        for name in spec.differentiable:
            np.testing.assert_allclose(result.grads[name], tensors[name].grad.numpy(), rtol=RTOL, atol=ATOL)


def _torch_weight_total(tensors: dict[str, Any], params: dict[str, Any]) -> Any:
    """PyTorch's weighted-mean denominator: the class weights of the targets not ignored."""
    target = tensors["y_true"].long()
    weight = params.get("class_weight")
    ignore_index = params.get("ignore_index")
    kept = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    w = (
        torch.ones(tensors["y_pred"].shape[-1], dtype=torch.float64)
        if weight is None
        else torch.tensor(weight, dtype=torch.float64)
    )
    return w[target[kept]].sum()


@pytest.mark.parametrize("loss", ["perceptron", "hinge"])
def test_gradient_at_the_kink_is_torch_clamp_min(loss: str) -> None:
    y = np.array([[1.0, -1.0, 1.0, -1.0]])
    f = np.array([[0.0, 0.0, 1.0, -1.0]]) if loss == "perceptron" else np.array([[1.0, -1.0, 0.0, 0.0]])
    tensors = {"y_true": torch.tensor(y), "y_pred": torch.tensor(f, requires_grad=True)}
    expected = (torch_perceptron if loss == "perceptron" else torch_hinge)(torch, tensors, {}, "sum")
    expected.backward()
    result = compute(CATALOG[loss], {"y_true": y, "y_pred": f}, reduction="sum", return_grad=True)
    assert result.grads is not None
    np.testing.assert_array_equal(result.grads["y_pred"], tensors["y_pred"].grad.numpy())


def test_all_targets_ignored_is_nan_in_torch_and_a_non_finite_result_here() -> None:
    from service.engine import InvalidInput

    logits = np.array([[0.1, 0.2], [0.3, -0.1]])
    targets = np.array([1, 1])
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(targets), ignore_index=1)
    assert torch.isnan(expected)
    spec = CATALOG["sparse_categorical_crossentropy"]
    with pytest.raises(InvalidInput, match="not finite"):
        compute(spec, {"y_true": targets, "y_pred": logits}, {"from_logits": True, "ignore_index": 1})
    summed = compute(
        spec, {"y_true": targets, "y_pred": logits}, {"from_logits": True, "ignore_index": 1}, reduction="sum"
    )
    assert summed.loss == 0.0
