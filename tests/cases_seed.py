"""Cases for the seed losses (mse, cross-entropies, focal, hinge, perceptron, KL, cosine)."""

from __future__ import annotations

from typing import Any

from .casekit import (
    Case,
    binary_hinge,
    binary_logits,
    binary_probabilities,
    class_logits,
    class_probabilities,
    index_logits,
    index_probabilities,
    kl_log_both,
    kl_log_input,
    kl_log_target,
    kl_probabilities,
    one_hot_logits,
    signed_hinge,
    signed_perceptron,
    torch_reduce,
    vectors,
)

T = dict[str, Any]


def _classes_second(x: Any) -> Any:
    """PyTorch puts the class axis second: (N, C, d1, ...)."""
    return x.movedim(-1, 1) if x.dim() > 2 else x


def torch_mse(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.mse_loss(t["y_pred"], t["y_true"], reduction=reduction)


def torch_bce_logits(torch: Any, t: T, p: T, reduction: str) -> Any:
    ls = p.get("label_smoothing", 0.0)
    target = t["y_true"] * (1 - ls) + 0.5 * ls  # label smoothing as Keras defines it
    pos_weight = p.get("pos_weight")
    if pos_weight is not None:
        pos_weight = torch.as_tensor(pos_weight, dtype=torch.float64)
    return torch.nn.functional.binary_cross_entropy_with_logits(
        t["y_pred"], target, pos_weight=pos_weight, reduction=reduction
    )


def sigmoid_focal_loss(torch: Any, inputs: Any, targets: Any, alpha: float, gamma: float, reduction: str) -> Any:
    """``torchvision.ops.sigmoid_focal_loss`` (0.29), verbatim: torchvision has no CPU wheel here."""
    p = torch.sigmoid(inputs)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


def torch_focal_logits(torch: Any, t: T, p: T, reduction: str) -> Any:
    ls = p.get("label_smoothing", 0.0)
    target = t["y_true"] * (1 - ls) + 0.5 * ls
    alpha = p.get("alpha", 0.25)
    return sigmoid_focal_loss(
        torch, t["y_pred"], target, alpha=-1 if alpha is None else alpha, gamma=p.get("gamma", 2.0), reduction=reduction
    )


def torch_cross_entropy_probabilities(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.cross_entropy(
        _classes_second(t["y_pred"]),
        _classes_second(t["y_true"]),
        label_smoothing=p.get("label_smoothing", 0.0),
        reduction=reduction,
    )


def torch_cross_entropy_indices(torch: Any, t: T, p: T, reduction: str) -> Any:
    weight = p.get("class_weight")
    ignore_index = p.get("ignore_index")
    return torch.nn.functional.cross_entropy(
        _classes_second(t["y_pred"]),
        t["y_true"].long(),
        weight=None if weight is None else torch.as_tensor(weight, dtype=torch.float64),
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=p.get("label_smoothing", 0.0),
        reduction=reduction,
    )


def torch_kl_div(torch: Any, t: T, p: T, reduction: str) -> Any:
    import warnings

    with warnings.catch_warnings():  # torch warns that its elementwise "mean" may change some day
        warnings.simplefilter("ignore", UserWarning)
        return torch.nn.functional.kl_div(
            t["y_pred"], t["y_true"], reduction=reduction, log_target=p.get("log_target", False)
        )


def torch_perceptron(torch: Any, t: T, p: T, reduction: str) -> Any:
    """optax's ``max(0, -y f)`` written with ``clamp_min``, which fixes the gradient at the kink."""
    return torch_reduce(torch, torch.clamp_min(-t["y_true"] * t["y_pred"], 0), reduction)


def torch_hinge(torch: Any, t: T, p: T, reduction: str) -> Any:
    """Keras's hinge written with ``clamp_min`` (labels already ±1 or all 0/1)."""
    y = t["y_true"]
    y = 2 * y - 1 if bool(((y == 0) | (y == 1)).all()) else y
    return torch_reduce(torch, torch.clamp_min(1 - y * t["y_pred"], 0), reduction)


KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")

CASES: list[Case] = [
    Case("binary_crossentropy", binary_logits, {"from_logits": True}, torch_reference=torch_bce_logits),
    Case(
        "binary_crossentropy",
        binary_logits,
        {"from_logits": True, "label_smoothing": 0.2},
        torch_reference=torch_bce_logits,
    ),
    Case(
        "binary_crossentropy", binary_logits, {"from_logits": True, "pos_weight": 2.5}, torch_reference=torch_bce_logits
    ),
    Case(
        "binary_crossentropy",
        binary_logits,
        {"from_logits": True, "pos_weight": "per-class"},
        torch_reference=torch_bce_logits,
    ),
    Case("binary_crossentropy", binary_probabilities, {}),
    Case("binary_crossentropy", binary_probabilities, {"label_smoothing": 0.1, "pos_weight": 3.0}),
    Case("binary_focal", binary_logits, {}, torch_reference=torch_focal_logits),
    Case("binary_focal", binary_logits, {"gamma": 0.5, "alpha": None}, torch_reference=torch_focal_logits),
    Case(
        "binary_focal",
        binary_logits,
        {"gamma": 0.0, "alpha": 0.7, "label_smoothing": 0.1},
        torch_reference=torch_focal_logits,
    ),
    Case("binary_focal", binary_probabilities, {"from_logits": False}),
    Case("binary_focal", binary_probabilities, {"from_logits": False, "gamma": 1.5, "alpha": None}),
    Case("hinge", signed_hinge, torch_reference=torch_hinge),
    Case("hinge", binary_hinge, torch_reference=torch_hinge),
    Case("perceptron", signed_perceptron, torch_reference=torch_perceptron),
    Case(
        "categorical_crossentropy",
        class_logits,
        {"from_logits": True},
        torch_reference=torch_cross_entropy_probabilities,
    ),
    Case(
        "categorical_crossentropy",
        one_hot_logits,
        {"from_logits": True, "label_smoothing": 0.1},
        torch_reference=torch_cross_entropy_probabilities,
    ),
    Case("categorical_crossentropy", class_probabilities, {}),
    Case("categorical_crossentropy", class_probabilities, {"label_smoothing": 0.2}),
    Case(
        "sparse_categorical_crossentropy",
        index_logits,
        {"from_logits": True},
        torch_reference=torch_cross_entropy_indices,
    ),
    Case(
        "sparse_categorical_crossentropy",
        index_logits,
        {"from_logits": True, "label_smoothing": 0.15},
        torch_reference=torch_cross_entropy_indices,
    ),
    Case(
        "sparse_categorical_crossentropy",
        index_logits,
        {"from_logits": True, "class_weight": "per-class"},
        torch_reference=torch_cross_entropy_indices,
    ),
    Case(
        "sparse_categorical_crossentropy",
        index_logits,
        {"from_logits": True, "ignore_index": 1},
        torch_reference=torch_cross_entropy_indices,
    ),
    Case(
        "sparse_categorical_crossentropy",
        index_logits,
        {"from_logits": True, "class_weight": "per-class", "ignore_index": 0, "label_smoothing": 0.1},
        torch_reference=torch_cross_entropy_indices,
    ),
    Case("sparse_categorical_crossentropy", index_probabilities, {}),
    Case("sparse_categorical_crossentropy", index_probabilities, {"class_weight": "per-class", "label_smoothing": 0.1}),
    Case("categorical_focal", class_probabilities, {}),
    Case("categorical_focal", class_probabilities, {"gamma": 0.5, "alpha": 1.0, "label_smoothing": 0.1}),
    Case("categorical_focal", class_logits, {"from_logits": True}),
    Case("kl_divergence", kl_probabilities, {}),
    Case(
        "kl_divergence",
        kl_log_input,
        {"log_input": True},
        torch_reference=torch_kl_div,
        torch_reductions=KL_REDUCTIONS,
    ),
    Case(
        "kl_divergence",
        kl_log_both,
        {"log_input": True, "log_target": True},
        torch_reference=torch_kl_div,
        torch_reductions=KL_REDUCTIONS,
    ),
    Case("kl_divergence", kl_log_target, {"log_target": True}),
    Case("cosine_similarity", vectors, {}),
]
