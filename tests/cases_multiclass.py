"""Cases for the multiclass losses added by the catalog issue, and for the segmentation losses.

PyTorch is the reference of ``nll`` and ``multi_margin``. For the Keras- and optax-referenced
losses (categorical hinge, poly-1, generalized cross-entropy, dice, Tversky) the
``torch_reference`` is the reference's formula written with torch ops: it pins values and,
through autograd, the gradients at 1e-9; the reference libraries' own numbers are golden
values in ``test_values_multiclass.py``.

``multi_margin`` with ``class_weight`` keeps a plain mean (divided by the count whatever the
weights, as ``multi_margin_loss`` does); the shared suites know which losses use PyTorch's
weighted mean (``casekit.WEIGHTED_MEAN_LOSSES``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .casekit import Case, Inputs, Maker, distribution, probabilities, redraw_until, soft_targets, torch_reduce
from .cases_seed import _classes_second

T = dict[str, Any]


def _weight(torch: Any, p: T) -> Any:
    weight = p.get("class_weight")
    return None if weight is None else torch.as_tensor(weight, dtype=torch.float64)


# nll


def index_log_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": np.log(distribution(rng, shape))}


def torch_nll(torch: Any, t: T, p: T, reduction: str) -> Any:
    ignore_index = p.get("ignore_index")
    return torch.nn.functional.nll_loss(
        _classes_second(t["y_pred"]),
        t["y_true"].long(),
        weight=_weight(torch, p),
        ignore_index=-100 if ignore_index is None else ignore_index,
        reduction=reduction,
    )


# categorical_hinge


def _hinge_ok(inputs: Inputs) -> np.ndarray:
    """Away from the outer kink (|m| >= 0.05) and from ties in the max over classes (gap >= 0.01)."""
    y, f = inputs["y_true"], inputs["y_pred"]
    scaled = np.sort((1 - y) * f, axis=-1)
    m = scaled[..., -1] - np.sum(y * f, axis=-1) + 1
    gap = scaled[..., -1] - scaled[..., -2] if f.shape[-1] > 1 else np.ones(m.shape)
    return (np.abs(m) >= 0.05) & (gap >= 0.01)


def hinge_one_hot(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    def draw() -> Inputs:
        return {
            "y_true": np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])],
            "y_pred": rng.normal(0, 1.5, shape),
        }

    return redraw_until(draw, _hinge_ok)


def hinge_soft(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return redraw_until(lambda: {"y_true": distribution(rng, shape), "y_pred": rng.normal(0, 1.5, shape)}, _hinge_ok)


def torch_categorical_hinge(torch: Any, t: T, p: T, reduction: str) -> Any:
    """Keras's formula with ``amax`` (ties split evenly) and ``clamp_min`` (passes at 0)."""
    y, f = t["y_true"], t["y_pred"]
    neg = torch.amax((1 - y) * f, dim=-1)
    pos = torch.sum(y * f, dim=-1)
    return torch_reduce(torch, torch.clamp_min(neg - pos + 1, 0), reduction)


# multi_margin


def margin_scores(margin: float) -> Maker:
    """Class indices and scores with every ``z_c = margin - x_t + x_c`` (c != t) at least 0.1 from 0."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        target = rng.integers(0, shape[-1], shape[:-1])
        x_t = rng.normal(0, 1, (*shape[:-1], 1))
        z = rng.uniform(0.1, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        x = x_t - margin + z
        np.put_along_axis(x, target[..., None], x_t, axis=-1)
        return {"y_true": target, "y_pred": x}

    return make


def torch_multi_margin(torch: Any, t: T, p: T, reduction: str) -> Any:
    """PyTorch takes (N, C) only: (N, ..., C) goes through the flattened (-1, C) scores."""
    x = t["y_pred"]
    loss = torch.nn.functional.multi_margin_loss(
        x.reshape(-1, x.shape[-1]),
        t["y_true"].long().reshape(-1),
        p=p.get("p", 1),
        margin=p.get("margin", 1.0),
        weight=_weight(torch, p),
        reduction=reduction,
    )
    return loss.reshape(x.shape[:-1]) if reduction == "none" else loss


# poly1_crossentropy


def soft_labels_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Soft labels in [0, 1] whose rows need not sum to 1 (optax allows it), and wide logits."""
    return {"y_true": soft_targets(rng, shape), "y_pred": rng.normal(0, 3, shape)}


def distribution_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": distribution(rng, shape), "y_pred": rng.normal(0, 2, shape)}


def one_hot_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])], "y_pred": rng.normal(0, 2, shape)}


def torch_poly1(torch: Any, t: T, p: T, reduction: str) -> Any:
    """optax's formula: cross-entropy with probability targets + epsilon sum(y (1 - softmax))."""
    y, x = t["y_true"], t["y_pred"]
    ce = -torch.sum(y * torch.log_softmax(x, dim=-1), dim=-1)
    return torch_reduce(
        torch, ce + p.get("epsilon", 2.0) * torch.sum(y * (1 - torch.softmax(x, dim=-1)), dim=-1), reduction
    )


# generalized_crossentropy


def index_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Class indices and probabilities in [0.05, 0.95], rows not normalised (Keras uses them as given)."""
    return {"y_true": rng.integers(0, shape[-1], shape[:-1]), "y_pred": probabilities(rng, shape)}


def torch_generalized_ce(torch: Any, t: T, p: T, reduction: str) -> Any:
    """Keras's formula: ``(1 - p_t^q) / q`` with ``p_t`` gathered at the target."""
    q = p.get("q", 0.5)
    p_t = torch.gather(t["y_pred"], -1, t["y_true"].long().unsqueeze(-1)).squeeze(-1)
    return torch_reduce(torch, (1 - p_t**q) / q, reduction)


# dice, tversky


def masks(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Hard or soft target masks and predicted probabilities in [0.05, 0.95]."""
    return {"y_true": soft_targets(rng, shape), "y_pred": probabilities(rng, shape)}


def hard_masks(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.integers(0, 2, shape).astype(float), "y_pred": probabilities(rng, shape)}


def _example_sum(torch: Any, x: Any) -> Any:
    return torch.sum(x, dim=tuple(range(1, x.dim())))


def torch_dice(torch: Any, t: T, p: T, reduction: str) -> Any:
    y, x = t["y_true"], t["y_pred"]
    s = lambda v: _example_sum(torch, v)  # noqa: E731
    dice = 2.0 * s(y * x) / (s(y) + s(x) + p.get("eps", 1e-7))
    return torch_reduce(torch, 1 - dice, reduction)


def torch_tversky(torch: Any, t: T, p: T, reduction: str) -> Any:
    y, x = t["y_true"], t["y_pred"]
    s = lambda v: _example_sum(torch, v)  # noqa: E731
    intersection = s(y * x)
    # Keras >= 3.16 naming: alpha weighs the false positives (1 - y) x, beta the false negatives y (1 - x)
    denominator = (
        intersection + s((1 - y) * x) * p.get("alpha", 0.5) + s(y * (1 - x)) * p.get("beta", 0.5) + p.get("eps", 1e-7)
    )
    return torch_reduce(torch, 1 - intersection / denominator, reduction)


CASES: list[Case] = [
    Case("nll", index_log_probabilities, {}, torch_reference=torch_nll),
    Case("nll", index_log_probabilities, {"class_weight": "per-class"}, torch_reference=torch_nll),
    Case("nll", index_log_probabilities, {"ignore_index": 1}, torch_reference=torch_nll),
    Case("nll", index_log_probabilities, {"ignore_index": -100}, torch_reference=torch_nll),
    Case(
        "nll",
        index_log_probabilities,
        {"class_weight": "per-class", "ignore_index": 0},
        torch_reference=torch_nll,
    ),
    Case("categorical_hinge", hinge_one_hot, torch_reference=torch_categorical_hinge),
    Case("categorical_hinge", hinge_soft, torch_reference=torch_categorical_hinge),
    Case("multi_margin", margin_scores(1.0), {}, max_rank=2, torch_reference=torch_multi_margin),
    Case("multi_margin", margin_scores(1.0), {"p": 2}, max_rank=2, torch_reference=torch_multi_margin),
    Case("multi_margin", margin_scores(0.5), {"margin": 0.5}, max_rank=2, torch_reference=torch_multi_margin),
    Case("multi_margin", margin_scores(2.0), {"p": 2, "margin": 2.0}, max_rank=2, torch_reference=torch_multi_margin),
    Case(
        "multi_margin",
        margin_scores(1.0),
        {"class_weight": "per-class"},
        max_rank=2,
        torch_reference=torch_multi_margin,
    ),
    Case(
        "multi_margin",
        margin_scores(0.5),
        {"p": 2, "margin": 0.5, "class_weight": "per-class"},
        max_rank=2,
        torch_reference=torch_multi_margin,
    ),
    # (N, ..., C): the per-sample formula at every position, against PyTorch on (-1, C).
    Case(
        "multi_margin", margin_scores(1.0), {"margin": 1.0}, min_rank=3, max_rank=3, torch_reference=torch_multi_margin
    ),
    Case(
        "multi_margin",
        margin_scores(0.3),
        {"p": 2, "margin": 0.3},
        min_rank=3,
        max_rank=3,
        torch_reference=torch_multi_margin,
    ),
    Case("poly1_crossentropy", distribution_logits, {}, torch_reference=torch_poly1),
    Case("poly1_crossentropy", one_hot_logits, {"epsilon": -1.0}, torch_reference=torch_poly1),
    Case("poly1_crossentropy", soft_labels_logits, {"epsilon": 5.5}, torch_reference=torch_poly1),
    Case("generalized_crossentropy", index_probabilities, {}, torch_reference=torch_generalized_ce),
    Case("generalized_crossentropy", index_probabilities, {"q": 1.0}, torch_reference=torch_generalized_ce),
    Case("generalized_crossentropy", index_probabilities, {"q": 0.1}, torch_reference=torch_generalized_ce),
    Case("dice", masks, {}, max_rank=4, torch_reference=torch_dice),
    Case("dice", hard_masks, {"eps": 1.0}, torch_reference=torch_dice),
    Case("tversky", masks, {}, max_rank=4, torch_reference=torch_tversky),
    Case("tversky", hard_masks, {"alpha": 0.7, "beta": 0.3}, torch_reference=torch_tversky),
    Case("tversky", masks, {"alpha": 0.0, "beta": 2.0, "eps": 0.5}, torch_reference=torch_tversky),
]
