"""Parity with PyTorch, the reference for logit-input losses (API.md §4-5).

Values and autograd gradients in float64 must agree to rtol 1e-9 (atol 1e-12), for every
reduction PyTorch offers, with and without sample weights, on random shapes. Skipped only
where torch is not installed; CI installs ``torch==2.13.0``.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, compute

from .cases import CASES, Case, resolve_params
from .conftest import skip_unless_available

try:
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    skip_unless_available("torch", "torch is not installed: pip install torch==2.13.0")
    raise
F = torch.nn.functional

RTOL, ATOL = 1e-9, 1e-12

# A torch reference: (inputs as float64 tensors, params, reduction) -> the reduced loss.
Reference = Callable[[dict[str, Any], dict[str, Any], str], Any]


def sigmoid_focal_loss(inputs: Any, targets: Any, alpha: float = 0.25, gamma: float = 2, reduction: str = "none") -> Any:
    """``torchvision.ops.sigmoid_focal_loss`` (torchvision 0.2x), verbatim: torchvision has no CPU wheel here."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "none":
        pass
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


def _classes_second(x: Any) -> Any:
    """PyTorch puts the class axis second: (N, C, d1, ...)."""
    return x.movedim(-1, 1) if x.dim() > 2 else x


def mse(t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    return F.mse_loss(t["y_pred"], t["y_true"], reduction=reduction)


def bce_logits(t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    ls = p.get("label_smoothing", 0.0)
    target = t["y_true"] * (1 - ls) + 0.5 * ls  # label smoothing as Keras defines it
    pos_weight = p.get("pos_weight")
    if pos_weight is not None:
        pos_weight = torch.as_tensor(pos_weight, dtype=torch.float64)
    return F.binary_cross_entropy_with_logits(t["y_pred"], target, pos_weight=pos_weight, reduction=reduction)


def focal_logits(t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    ls = p.get("label_smoothing", 0.0)
    target = t["y_true"] * (1 - ls) + 0.5 * ls
    alpha = p.get("alpha", 0.25)
    return sigmoid_focal_loss(
        t["y_pred"], target, alpha=-1 if alpha is None else alpha, gamma=p.get("gamma", 2.0), reduction=reduction
    )


def cross_entropy_probabilities(t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    loss = F.cross_entropy(
        _classes_second(t["y_pred"]),
        _classes_second(t["y_true"]),
        label_smoothing=p.get("label_smoothing", 0.0),
        reduction=reduction,
    )
    return loss


def cross_entropy_indices(t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    weight = p.get("class_weight")
    ignore_index = p.get("ignore_index")
    return F.cross_entropy(
        _classes_second(t["y_pred"]),
        t["y_true"].long(),
        weight=None if weight is None else torch.as_tensor(weight, dtype=torch.float64),
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=p.get("label_smoothing", 0.0),
        reduction=reduction,
    )


def kl_div(t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    with warnings.catch_warnings():  # torch warns that its elementwise "mean" may change some day
        warnings.simplefilter("ignore", UserWarning)
        return F.kl_div(t["y_pred"], t["y_true"], reduction=reduction, log_target=p.get("log_target", False))


def perceptron(t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    """optax's ``max(0, -y f)`` written with ``clamp_min``: fixes the gradient at the kink."""
    return _reduce(torch.clamp_min(-t["y_true"] * t["y_pred"], 0), reduction)


def hinge(t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    y = t["y_true"]
    y = 2 * y - 1 if bool(((y == 0) | (y == 1)).all()) else y
    return _reduce(torch.clamp_min(1 - y * t["y_pred"], 0), reduction)


def _reduce(values: Any, reduction: str) -> Any:
    return {"none": lambda v: v, "sum": torch.sum, "mean": torch.mean}[reduction](values)


def reference_for(case: Case) -> Reference | None:
    logits = case.params.get("from_logits", case.loss == "binary_focal")
    return {
        "mse": mse,
        "binary_crossentropy": bce_logits if logits else None,
        "binary_focal": focal_logits if logits else None,
        "categorical_crossentropy": cross_entropy_probabilities if logits else None,
        "sparse_categorical_crossentropy": cross_entropy_indices if logits else None,
        "kl_divergence": kl_div if case.params.get("log_input") else None,
        "perceptron": perceptron,
        "hinge": hinge,
    }.get(case.loss)


TORCH_CASES = [case for case in CASES if reference_for(case) is not None]


def test_every_torch_referenced_loss_has_a_parity_case() -> None:
    torch_referenced = {name for name, spec in CATALOG.items() if "torch" in spec.reference}
    assert torch_referenced <= {case.loss for case in TORCH_CASES}


def _torch_inputs(case: Case, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    spec = CATALOG[case.loss]
    return {
        name: torch.tensor(value, dtype=torch.int64 if value.dtype.kind == "i" else torch.float64).requires_grad_(
            name in spec.differentiable
        )
        for name, value in inputs.items()
    }


def _reductions(case: Case) -> list[str]:
    return ["none", "mean", "sum"] + (["batchmean"] if case.loss == "kl_divergence" else [])


@pytest.mark.parametrize("shape_seed", range(3))
@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_values_and_gradients_match_torch(case: Case, shape_seed: int) -> None:
    """Each of torch's own reductions, unweighted: values and autograd gradients."""
    spec, reference = CATALOG[case.loss], reference_for(case)
    assert reference is not None
    seed = zlib.crc32(f"{case.id}/{shape_seed}".encode())
    inputs = case.inputs(seed)
    params = resolve_params(case, inputs, seed)
    for reduction in _reductions(case):
        tensors = _torch_inputs(case, inputs)
        expected = reference(tensors, params, reduction)
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
    spec, reference = CATALOG[case.loss], reference_for(case)
    assert reference is not None
    seed = zlib.crc32(f"{case.id}/weighted".encode())
    inputs = case.inputs(seed)
    params = resolve_params(case, inputs, seed)
    for reduction in ("mean", "sum", "none"):
        tensors = _torch_inputs(case, inputs)
        values = reference(tensors, params, "none")
        rng = np.random.default_rng(seed)
        weight = rng.uniform(0.2, 2.0, values.shape[:1])
        w = torch.tensor(weight).reshape(weight.shape + (1,) * (values.dim() - 1))
        weighted = values * w
        if reduction == "none":
            expected = weighted
        elif reduction == "sum":
            expected = weighted.sum()
        else:
            in_play = params.get("class_weight") is not None or params.get("ignore_index") is not None
            expected = weighted.sum() / (_torch_weight_total(tensors, params) if in_play else values.numel())
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
    w = torch.ones(tensors["y_pred"].shape[-1], dtype=torch.float64) if weight is None else torch.tensor(weight, dtype=torch.float64)
    return w[target[kept]].sum()


@pytest.mark.parametrize("loss", ["perceptron", "hinge"])
def test_gradient_at_the_kink_is_torch_clamp_min(loss: str) -> None:
    y = np.array([[1.0, -1.0, 1.0, -1.0]])
    f = np.array([[0.0, 0.0, 1.0, -1.0]]) if loss == "perceptron" else np.array([[1.0, -1.0, 0.0, 0.0]])
    tensors = {"y_true": torch.tensor(y), "y_pred": torch.tensor(f, requires_grad=True)}
    expected = (perceptron if loss == "perceptron" else hinge)(tensors, {}, "sum")
    expected.backward()
    result = compute(CATALOG[loss], {"y_true": y, "y_pred": f}, reduction="sum", return_grad=True)
    assert result.grads is not None
    np.testing.assert_array_equal(result.grads["y_pred"], tensors["y_pred"].grad.numpy())


def test_all_targets_ignored_is_nan_in_torch_and_a_non_finite_result_here() -> None:
    from service.engine import InvalidInput

    logits = np.array([[0.1, 0.2], [0.3, -0.1]])
    targets = np.array([1, 1])
    expected = F.cross_entropy(torch.tensor(logits), torch.tensor(targets), ignore_index=1)
    assert torch.isnan(expected)
    spec = CATALOG["sparse_categorical_crossentropy"]
    with pytest.raises(InvalidInput, match="not finite"):
        compute(spec, {"y_true": targets, "y_pred": logits}, {"from_logits": True, "ignore_index": 1})
    summed = compute(spec, {"y_true": targets, "y_pred": logits}, {"from_logits": True, "ignore_index": 1}, reduction="sum")
    assert summed.loss == 0.0
