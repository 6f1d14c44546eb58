"""The kit for describing a loss test case: the ``Case`` type and input makers.

Each case draws inputs that are valid for the loss and away from its kinks and clipping
boundaries, where derivatives are defined and references agree to 1e-9.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Inputs = dict[str, np.ndarray]
Maker = Callable[[np.random.Generator, tuple[int, ...]], Inputs]


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


def regression(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.normal(size=shape), "y_pred": rng.normal(size=shape)}


def binary_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": soft_targets(rng, shape), "y_pred": rng.normal(0, 3, shape)}


def binary_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": soft_targets(rng, shape), "y_pred": probabilities(rng, shape)}


def class_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": distribution(rng, shape), "y_pred": rng.normal(0, 2, shape)}


def class_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    # Unnormalised rows: Keras renormalises, and the gradient must follow that.
    return {"y_true": distribution(rng, shape), "y_pred": rng.uniform(0.05, 0.6, shape)}


def one_hot_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    index = rng.integers(0, shape[-1], shape[:-1])
    return {"y_true": np.eye(shape[-1])[index], "y_pred": rng.normal(0, 2, shape)}


def index_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": rng.normal(0, 2, shape)}


def index_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": rng.uniform(0.05, 0.6, shape)}


def signed_hinge(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    y = rng.choice([-1.0, 1.0], shape)
    return {"y_true": y, "y_pred": margin_away_from_kink(rng, y, 1.0)}


def binary_hinge(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    inputs = signed_hinge(rng, shape)
    return {"y_true": (inputs["y_true"] + 1) / 2, "y_pred": inputs["y_pred"]}


def signed_perceptron(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    y = rng.choice([-1.0, 1.0], shape)
    return {"y_true": y, "y_pred": margin_away_from_kink(rng, y, 0.0)}


def kl_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": distribution(rng, shape), "y_pred": distribution(rng, shape)}


def kl_log_input(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    t = distribution(rng, shape)
    t[..., 0] = 0.0  # a zero target exercises xlogy(0, 0) = 0
    return {"y_true": t, "y_pred": np.log(distribution(rng, shape))}


def kl_log_both(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": np.log(distribution(rng, shape)), "y_pred": np.log(distribution(rng, shape))}


def kl_log_target(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": np.log(distribution(rng, shape)), "y_pred": distribution(rng, shape)}


def vectors(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.normal(size=shape), "y_pred": rng.normal(size=shape)}


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
#: of the targets not ignored, when ``class_weight`` or ``ignore_index`` is set.
WEIGHTED_MEAN_LOSSES = frozenset({"sparse_categorical_crossentropy", "nll"})


def uses_weighted_mean(loss: str, params: dict[str, Any]) -> bool:
    in_play = params.get("class_weight") is not None or params.get("ignore_index") is not None
    return loss in WEIGHTED_MEAN_LOSSES and in_play


def mean_scale(loss: str, inputs: Inputs) -> np.ndarray | float:
    """The per-value factor the loss's ``mean`` applies before averaging (``Unreduced.mean_scale``):
    CTC divides each sequence's loss by its target length clamped to >= 1, as PyTorch."""
    if loss == "ctc":
        return 1.0 / np.maximum(inputs["target_lengths"], 1)
    return 1.0


def resolve_params(case: Case, inputs: Inputs, seed: int = 0) -> dict[str, Any]:
    """Concrete params: "per-class" becomes one positive weight per class of the last axis."""
    rng = np.random.default_rng(seed + 1000)
    n_classes = inputs["y_pred"].shape[-1] if "y_pred" in inputs else 0
    resolved = dict(case.params)
    for key, value in case.params.items():
        if value == "per-class":
            resolved[key] = rng.uniform(0.5, 2.0, n_classes).tolist()
    if case.params.get("ignore_index") is not None and "y_true" in inputs:
        # Make sure the ignored class occurs, but not everywhere.
        flat = inputs["y_true"].reshape(-1)
        flat[0] = case.params["ignore_index"]
        flat[-1] = (case.params["ignore_index"] + 1) % n_classes
    return resolved
