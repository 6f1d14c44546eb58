"""The loss-test kit: a case is a loss, its params and how to draw valid inputs for it; ``LossTests``
is what every loss's test class checks from its cases; the rest are small helpers.

A loss's test class (``tests/engine/test_<family>.py``) lists its cases and adds its own
hand-worked values, golden values from the reference library and saturated inputs::

    class TestMse(LossTests, TorchParity):
        cases = (Case("mse", regression, torch_reference=torch_mse),)

        def test_by_hand(self) -> None: ...

``LossTests`` then checks, for each case: the analytic gradient of every differentiable input
against central differences for every reduction and every weighting (none, one weight per
sample, one per value); float32 against float64; ``none`` summing to ``sum`` and ``mean`` being
the sum over the count. ``TorchParity`` adds values and autograd gradients against the case's
PyTorch reference (float64, rtol 1e-9), every reduction, with and without sample weights.

Input makers and torch references live beside the classes that use them; the ones here are
shared by several families. ``every_case`` hands the cases to the tests of the other layers
(the API tests send them), so that they are declared once.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, Result, compute
from tests.support.require import skip_unless_available

Inputs = dict[str, np.ndarray]
Maker = Callable[[np.random.Generator, tuple[int, ...]], Inputs]
ENGINE_TESTS = Path(__file__).resolve().parents[1] / "engine"


def probabilities(rng: np.random.Generator, shape: tuple[int, ...], low: float = 0.05) -> np.ndarray:
    return rng.uniform(low, 1 - low, shape)


def distribution(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=-1, keepdims=True)


def soft_targets(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    hard = rng.integers(0, 2, shape).astype(float)
    soft = rng.uniform(0, 1, shape)
    return np.where(rng.uniform(size=shape) < 0.5, hard, soft)


def margin_away_from_kink(rng: np.random.Generator, y: np.ndarray, offset: float) -> np.ndarray:
    """Scores f with |offset - y f| >= 0.1, so that the hinge is differentiable there."""
    margin = rng.uniform(0.1, 2.0, y.shape) * rng.choice([-1.0, 1.0], y.shape)
    return (offset - margin) * y  # y in {-1, 1}: offset - y f = margin


# Class targets, shared by the multi-class, classification and overlap families.


def one_hot_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    index = rng.integers(0, shape[-1], shape[:-1])
    return {"y_true": np.eye(shape[-1])[index], "y_pred": rng.normal(0, 2, shape)}


def index_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": rng.normal(0, 2, shape)}


def index_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": rng.uniform(0.05, 0.6, shape)}


def regression(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.normal(size=shape), "y_pred": rng.normal(size=shape)}


def binary_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Hard or soft targets in [0, 1] (rows need not sum to 1) and wide logits."""
    return {"y_true": soft_targets(rng, shape), "y_pred": rng.normal(0, 3, shape)}


# A PyTorch reference: (torch, inputs as float64 tensors, params, reduction) -> the reduced loss.
TorchReference = Callable[[Any, dict[str, Any], dict[str, Any], str], Any]


@dataclass(frozen=True)
class Case:
    """One loss with one set of params, and how to draw valid inputs for it.

    ``torch_reference``, where the loss's reference is PyTorch, computes it with torch for
    each reduction in ``torch_reductions``; the parity tests compare values and autograd
    gradients against it.
    """

    loss: str
    make: Maker
    params: dict[str, Any] = field(default_factory=dict)
    min_rank: int = 2
    max_rank: int = 3
    torch_reference: TorchReference | None = None
    torch_reductions: tuple[str, ...] = ("none", "mean", "sum")

    @property
    def id(self) -> str:
        settings = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.loss}[{settings}]" if settings else self.loss

    def inputs(self, seed: int, shape: tuple[int, ...] | None = None) -> Inputs:
        rng = np.random.default_rng(seed)
        if shape is None:
            rank = int(rng.integers(self.min_rank, self.max_rank + 1))
            shape = tuple(int(n) for n in rng.integers(2, 5, rank))
        return self.make(rng, shape)


def redraw_until(draw: Callable[[], Inputs], ok: Callable[[Inputs], np.ndarray], tries: int = 10_000) -> Inputs:
    """Draw inputs, then redraw the samples where ``ok`` is false (e.g. too close to a kink).

    ``ok`` returns a mask over the leading axes of every input; those entries are replaced from
    a fresh draw until all hold.
    """
    inputs = draw()
    for _ in range(tries):
        bad = ~ok(inputs)
        if not bad.any():
            return inputs
        fresh = draw()
        for name in inputs:
            inputs[name][bad] = fresh[name][bad]
    raise AssertionError("could not draw inputs away from the kinks")  # pragma: no cover


def torch_reduce(torch: Any, values: Any, reduction: str) -> Any:
    """PyTorch's none/sum/mean, for references written as an expression of unreduced values."""
    return {"none": lambda v: v, "sum": torch.sum, "mean": torch.mean}[reduction](values)


#: The losses whose ``mean`` is PyTorch's weighted mean (API.md §2): divided by the class weights
#: of the targets not ignored, when ``class_weight`` or ``ignore_index`` is set and the targets are
#: class indices (``linear_crossentropy`` also takes probability targets, whose mean is over N).
WEIGHTED_MEAN_LOSSES = frozenset({"sparse_categorical_crossentropy", "nll", "linear_crossentropy"})


def uses_weighted_mean(loss: str, params: dict[str, Any], inputs: Inputs) -> bool:
    in_play = params.get("class_weight") is not None or params.get("ignore_index") is not None
    return loss in WEIGHTED_MEAN_LOSSES and in_play and inputs["y_true"].dtype.kind in "iu"


def n_classes(inputs: Inputs) -> int:
    """The size of the class axis: y_pred's last, or linear_weight's first (``linear_crossentropy``)."""
    if "y_pred" in inputs:
        return int(inputs["y_pred"].shape[-1])
    return int(inputs["linear_weight"].shape[0]) if "linear_weight" in inputs else 0


def given_differentiable(loss: str, inputs: Inputs) -> list[str]:
    """The loss's differentiable inputs that ``inputs`` holds (an optional one may be omitted)."""
    return [name for name in CATALOG[loss].differentiable if name in inputs]


def mean_scale(loss: str, inputs: Inputs) -> np.ndarray | float:
    """The per-value factor the loss's ``mean`` applies before averaging (``Unreduced.mean_scale``):
    CTC divides each sequence's loss by its target length clamped to >= 1, as PyTorch."""
    if loss == "ctc":
        return 1.0 / np.maximum(inputs["target_lengths"], 1)
    return 1.0


def resolve_params(case: Case, inputs: Inputs, seed: int = 0) -> dict[str, Any]:
    """Concrete params: "per-class" becomes one positive weight per class of the last axis."""
    rng = np.random.default_rng(seed + 1000)
    classes = n_classes(inputs)
    resolved = dict(case.params)
    for key, value in case.params.items():
        if value == "per-class":
            resolved[key] = rng.uniform(0.5, 2.0, classes).tolist()
    if case.params.get("ignore_index") is not None and "y_true" in inputs:
        # Make sure the ignored class occurs, but not everywhere.
        flat = inputs["y_true"].reshape(-1)
        flat[0] = case.params["ignore_index"]
        flat[-1] = (case.params["ignore_index"] + 1) % classes
    return resolved


# Numerics.


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, rel_step: float = 1e-6) -> np.ndarray:
    """d f / d x by ``(f(x + h) - f(x - h)) / 2h`` per element, ``h = rel_step * max(1, |x|)``."""
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        h = rel_step * max(1.0, abs(float(x[index])))
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


def total(loss: float | np.ndarray) -> float:
    """The scalar a gradient is taken of: the loss, or the sum of the values for ``none``."""
    return float(np.sum(loss))


# Calling the engine.


def run(
    name: str,
    params: dict | None = None,
    reduction: Any = "none",
    *,
    sample_weight: Any = None,
    dtype: Any = "float64",
    **inputs: Any,
) -> Result:
    """The engine's whole answer for ``inputs`` (nested lists or arrays): the loss and every gradient."""
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    return compute(
        CATALOG[name],
        arrays,
        params or {},
        sample_weight=sample_weight,
        reduction=reduction,
        return_grad=True,
        dtype=dtype,
    )


def values(name: str, params: dict | None = None, reduction: Any = "none", **inputs: Any) -> np.ndarray:
    """The loss ``name`` of ``inputs`` (nested lists or arrays), reduced by ``reduction``, as an array."""
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    return np.asarray(compute(CATALOG[name], arrays, params or {}, reduction=reduction).loss)


def grads(name: str, params: dict | None = None, reduction: Any = "sum", **inputs: Any) -> dict[str, np.ndarray]:
    """The gradient of every differentiable input (of the sum, by default)."""
    result = run(name, params, reduction, **inputs)
    assert result.grads is not None
    return result.grads


def grad(name: str, params: dict | None = None, reduction: Any = "sum", **inputs: Any) -> np.ndarray:
    """The gradient of ``y_pred``."""
    return grads(name, params, reduction, **inputs)["y_pred"]


def refused(name: str, params: dict | None = None, **inputs: Any) -> InvalidInput:
    """The ``InvalidInput`` the engine raises for these inputs."""
    with pytest.raises(InvalidInput) as caught:
        values(name, params, **inputs)
    return caught.value


def matches_torch(
    torch: Any,
    name: str,
    torch_loss: Callable[..., Any],
    params: dict | None = None,
    exact: bool = False,
    **inputs: Any,
) -> Result:
    """The ``sum`` of ``name`` and its gradients against torch's: ``torch_loss(**tensors)`` returns torch's sum
    (float64 tensors, named as the inputs). ``exact``: equal to the bit, else to rtol 1e-12."""
    spec = CATALOG[name]
    tensors = {
        k: torch.tensor(np.asarray(v, dtype=np.float64)).requires_grad_(k in spec.differentiable)
        for k, v in inputs.items()
    }
    expected = torch_loss(**tensors)
    expected.backward()
    result = run(name, params, "sum", **inputs)
    assert result.grads is not None
    check = np.testing.assert_array_equal if exact else lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12)
    check(result.loss, expected.item())
    for k in spec.differentiable:
        check(result.grads[k], tensors[k].grad.numpy())
    return result


def every_case() -> list[Case]:
    """The cases of every loss's test class, loss by loss in catalog order: valid inputs for each loss
    and set of params, for the tests of the layers above the engine (``tests/api``).

    The classes are read from every ``tests/engine/test_*.py``, where the cases are declared next to
    their makers and torch references; only the ``Case`` values leave those modules. A module is not
    always named after a family (``test_classification.py``, ``test_pairs.py``, ``test_robust.py`` hold
    losses of several families, or part of one), so every module is read, not one per family.
    """
    order = {name: index for index, name in enumerate(CATALOG)}
    cases: list[Case] = []
    for path in sorted(ENGINE_TESTS.glob("test_*.py")):
        module = importlib.import_module(f"tests.engine.{path.stem}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, LossTests) and value.__module__ == module.__name__:
                cases.extend(value.cases)
    return sorted(cases, key=lambda case: order[case.loss])


# The checks every loss gets.

WEIGHTINGS = ("unweighted", "per-sample", "per-value")


def sample_weight(case: Case, inputs: Inputs, kind: str, seed: int) -> np.ndarray | None:
    """No weight, one per sample, or one per unreduced value."""
    if kind == "unweighted":
        return None
    shape = CATALOG[case.loss].shape_rule.unreduced_shape({k: v.shape for k, v in inputs.items()})
    return np.random.default_rng(seed + 7).uniform(0.2, 2.0, shape[:1] if kind == "per-sample" else shape)


class LossTests:
    """Checks every loss's test class inherits; ``cases`` are its cases (``tests/engine/conftest.py``
    parametrizes ``case``, ``reduction`` and ``weighting`` from them)."""

    cases: ClassVar[tuple[Case, ...]]

    def test_gradient_matches_central_differences(self, case: Case, reduction: str, weighting: str) -> None:
        spec = CATALOG[case.loss]
        seed = zlib.crc32(f"{case.id}/{reduction}/{weighting}".encode())
        inputs = case.inputs(seed)
        params = resolve_params(case, inputs, seed)
        weight = sample_weight(case, inputs, weighting, seed)

        def loss_at(name: str, value: np.ndarray) -> float:
            changed = {**inputs, name: value}
            return total(compute(spec, changed, params, sample_weight=weight, reduction=reduction).loss)

        result = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
        assert result.grads is not None and set(result.grads) == set(given_differentiable(case.loss, inputs))
        for name in result.grads:
            numeric = central_difference(lambda x, name=name: loss_at(name, x), inputs[name])
            assert result.grads[name].shape == inputs[name].shape
            np.testing.assert_allclose(result.grads[name], numeric, rtol=1e-6, atol=1e-7, err_msg=f"d/d{name}")

    def test_float32_is_close_to_float64(self, case: Case) -> None:
        spec = CATALOG[case.loss]
        inputs = case.inputs(11)
        params = resolve_params(case, inputs, 11)
        wide = compute(spec, inputs, params, return_grad=True, dtype="float64")
        narrow = compute(spec, inputs, params, return_grad=True, dtype="float32")
        assert narrow.grads is not None and wide.grads is not None
        for name, gradient in narrow.grads.items():
            assert gradient.dtype == np.float32
            np.testing.assert_allclose(gradient, wide.grads[name], rtol=2e-4, atol=1e-5)
        np.testing.assert_allclose(narrow.loss, wide.loss, rtol=2e-5, atol=1e-6)
        if spec.scalar:  # one value per request, returned as a number: no none to look at
            return
        none = compute(spec, inputs, params, reduction="none", return_grad=True, dtype="float32")
        assert isinstance(none.loss, np.ndarray) and none.loss.dtype == np.float32
        wide_none = compute(spec, inputs, params, reduction="none", return_grad=True)
        np.testing.assert_allclose(none.loss, wide_none.loss, rtol=1e-4, atol=1e-5)
        assert none.grads is not None and wide_none.grads is not None
        for name in given_differentiable(case.loss, inputs):  # an optional input may be omitted
            np.testing.assert_allclose(none.grads[name], wide_none.grads[name], rtol=1e-3, atol=1e-4)

    @pytest.mark.parametrize("seed", range(4))
    def test_none_sums_to_sum_and_mean_is_the_sum_over_the_count(self, case: Case, seed: int) -> None:
        """On random shapes and values, with and without a sample weight (one seed in two).

        A *scalar* loss has one value per request and neither ``none`` nor ``sum``: for it, that both
        and a sample weight are refused (``mean`` is checked by the other tests)."""
        weighted = bool(seed % 2)
        spec = CATALOG[case.loss]
        inputs = case.inputs(seed)
        params = resolve_params(case, inputs, seed)
        if spec.scalar:
            assert spec.shape_rule.unreduced_shape({k: v.shape for k, v in inputs.items()}) == ()
            for reduction in ("none", "sum"):
                with pytest.raises(InvalidInput, match="does not support reduction"):
                    compute(spec, inputs, params, reduction=reduction)
            with pytest.raises(InvalidInput, match="takes no sample_weight"):
                compute(spec, inputs, params, sample_weight=np.ones(len(next(iter(inputs.values())))))
            assert np.isfinite(compute(spec, inputs, params).loss)
            return
        shape = spec.shape_rule.unreduced_shape({k: v.shape for k, v in inputs.items()})
        weight = np.random.default_rng(seed).uniform(0, 2, shape[:1]) if weighted else None
        none = compute(spec, inputs, params, sample_weight=weight, reduction="none").loss
        summed = compute(spec, inputs, params, sample_weight=weight, reduction="sum").loss
        assert isinstance(none, np.ndarray) and none.shape == shape
        assert np.sum(none) == pytest.approx(summed, rel=1e-12, abs=1e-12)
        if weight is None:
            mean = compute(spec, inputs, params, reduction="mean").loss
            weighted_mean = uses_weighted_mean(case.loss, params, inputs)
            count = weighted_count(case.loss, params, inputs) if weighted_mean else none.size
            scaled = np.sum(none * mean_scale(case.loss, inputs))  # CTC: each value over its target length
            assert mean == pytest.approx(scaled / count, rel=1e-12, abs=1e-15)
        if "batchmean" in spec.reductions:
            batchmean = compute(spec, inputs, params, sample_weight=weight, reduction="batchmean").loss
            assert batchmean == pytest.approx(summed / shape[0], rel=1e-12, abs=1e-15)


def weighted_count(loss: str, params: dict[str, Any], inputs: Inputs) -> float:
    """PyTorch's weighted-mean denominator: the class weights of the targets not ignored."""
    target = inputs["y_true"]
    ignore = params.get("ignore_index")
    kept = target != ignore if ignore is not None else np.ones(target.shape, bool)
    weights = (
        np.asarray(params["class_weight"]) if params.get("class_weight") is not None else np.ones(n_classes(inputs))
    )
    return float(np.sum(weights[np.where(kept, target, 0)] * kept))


RTOL, ATOL = 1e-9, 1e-12  # the contract's agreement with the reference, in float64


@pytest.fixture(scope="session")
def torch() -> Any:
    """torch, or a skip (a failure where the run requires it: ``LOSS_SERVICE_TEST_REQUIRE``)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the machine
        skip_unless_available("torch", "torch is not installed: pip install torch==2.13.0")
    return torch


def torch_tensors(torch: Any, case: Case, inputs: Inputs) -> dict[str, Any]:
    spec = CATALOG[case.loss]
    return {
        name: torch.tensor(value, dtype=torch.int64 if value.dtype.kind == "i" else torch.float64).requires_grad_(
            name in spec.differentiable
        )
        for name, value in inputs.items()
    }


class TorchParity:
    """Values and autograd gradients against each case's PyTorch reference (``torch_case`` is every case
    that has one), float64, to the contract's tolerance."""

    @pytest.mark.parametrize("shape_seed", range(3))
    def test_values_and_gradients_match_torch(self, torch: Any, torch_case: Case, shape_seed: int) -> None:
        case, spec, reference = torch_case, CATALOG[torch_case.loss], torch_case.torch_reference
        assert reference is not None
        seed = zlib.crc32(f"{case.id}/{shape_seed}".encode())
        inputs = case.inputs(seed)
        params = resolve_params(case, inputs, seed)
        for reduction in case.torch_reductions:
            tensors = torch_tensors(torch, case, inputs)
            expected = reference(torch, tensors, params, reduction)
            expected.sum().backward()
            result = compute(spec, inputs, params, reduction=reduction, return_grad=True)
            np.testing.assert_allclose(result.loss, expected.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=reduction)
            assert result.grads is not None
            for name in given_differentiable(case.loss, inputs):
                np.testing.assert_allclose(
                    result.grads[name],
                    tensors[name].grad.numpy(),
                    rtol=RTOL,
                    atol=ATOL,
                    err_msg=f"{reduction}: d/d{name}",
                )

    def test_sample_weights_match_torch_unreduced_values(self, torch: Any, torch_case: Case) -> None:
        """``sum(w * l) / count`` and ``sum(w * l)`` built on torch's unreduced values."""
        case, spec, reference = torch_case, CATALOG[torch_case.loss], torch_case.torch_reference
        assert reference is not None
        seed = zlib.crc32(f"{case.id}/weighted".encode())
        inputs = case.inputs(seed)
        params = resolve_params(case, inputs, seed)
        for reduction in ("mean", "sum", "none"):
            tensors = torch_tensors(torch, case, inputs)
            unreduced = reference(torch, tensors, params, "none")
            weight = np.random.default_rng(seed).uniform(0.2, 2.0, unreduced.shape[:1])
            weighted = unreduced * torch.tensor(weight).reshape(weight.shape + (1,) * (unreduced.dim() - 1))
            if reduction == "none":
                expected = weighted
            elif reduction == "sum":
                expected = weighted.sum()
            else:
                weighted_mean = uses_weighted_mean(case.loss, params, inputs)
                count = weighted_count(case.loss, params, inputs) if weighted_mean else None
                scaled = weighted * torch.as_tensor(mean_scale(case.loss, inputs))  # CTC: over the target lengths
                expected = scaled.sum() / (count if count is not None else unreduced.numel())
            expected.sum().backward()
            result = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
            np.testing.assert_allclose(result.loss, expected.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=reduction)
            assert result.grads is not None
            for name in given_differentiable(case.loss, inputs):
                np.testing.assert_allclose(result.grads[name], tensors[name].grad.numpy(), rtol=RTOL, atol=ATOL)
