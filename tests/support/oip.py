"""Open Inference Protocol scenarios shared by the client tests (HTTP and gRPC): losses, inputs, params.

Each is (loss, {input: (array, kind)}, array params sent as inputs, scalar params, reduction);
kind "real" follows the test's FP32/FP64, "index" is INT64. ``reference`` is what
``POST /losses/{name}`` on the same server answers for the same data, the bits both protocols
must give.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

NUMPY_OF = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "INT32": np.int32}


def reference(
    http: httpx.Client,
    loss: str,
    inputs: dict[str, np.ndarray],
    params: dict[str, Any],
    reduction: str | None,
    dtype: str,
) -> dict[str, np.ndarray]:
    body: dict[str, Any] = {name: value.tolist() for name, value in inputs.items()}
    body.update(params=params, return_grad=True, dtype=dtype)
    if reduction is not None:
        body["reduction"] = reduction
    response = http.post(f"/losses/{loss}", json=body)
    assert response.status_code == 200, response.text
    document = response.json()
    result = {"loss": np.asarray(document["loss"], dtype=np.float64)}
    result.update({f"grad_{name}": np.asarray(g, dtype=np.float64) for name, g in document["grad"].items()})
    return result


RNG = np.random.default_rng(73)
LOGITS = RNG.normal(0, 2, size=(5, 4))
TARGETS = (RNG.uniform(size=(5, 4)) < 0.5).astype(float)
DIST = RNG.uniform(0.1, 1, size=(5, 4))
DIST /= DIST.sum(axis=-1, keepdims=True)
PRED_DIST = RNG.uniform(0.1, 1, size=(5, 4))
PRED_DIST /= PRED_DIST.sum(axis=-1, keepdims=True)

SCENARIOS: dict[
    str, tuple[str, dict[str, tuple[np.ndarray, str]], dict[str, np.ndarray], dict[str, Any], str | None]
] = {
    "mse": (
        "mse",
        {"y_true": (RNG.normal(size=(3, 4)), "real"), "y_pred": (RNG.normal(size=(3, 4)), "real")},
        {},
        {},
        None,
    ),
    "mse-sum": (
        "mse",
        {"y_true": (RNG.normal(size=(6,)), "real"), "y_pred": (RNG.normal(size=(6,)), "real")},
        {},
        {},
        "sum",
    ),
    "bce-logits-pos_weight": (
        "binary_crossentropy",
        {"y_true": (TARGETS, "real"), "y_pred": (LOGITS, "real")},
        {"pos_weight": np.array([1.0, 2.5, 0.5, 4.0])},
        {"from_logits": True},
        "mean",
    ),
    "cce-label_smoothing": (
        "categorical_crossentropy",
        {"y_true": (DIST, "real"), "y_pred": (PRED_DIST, "real")},
        {},
        {"label_smoothing": 0.1},
        "sum",
    ),
    "scce-class_weight-ignore_index": (
        "sparse_categorical_crossentropy",
        {"y_true": (np.array([0, 3, 1, 2, 3]), "index"), "y_pred": (LOGITS, "real")},
        {"class_weight": np.array([0.5, 1.0, 2.0, 1.5])},
        {"from_logits": True, "ignore_index": 1},
        None,
    ),
    "kl-batchmean": (
        "kl_divergence",
        {"y_true": (DIST, "real"), "y_pred": (PRED_DIST, "real")},
        {},
        {},
        "batchmean",
    ),
    "cosine-none": (
        "cosine_similarity",
        {"y_true": (RNG.normal(size=(4, 3)), "real"), "y_pred": (RNG.normal(size=(4, 3)), "real")},
        {},
        {},
        "none",
    ),
}

# The overlap, divergence and robust losses' scenarios, on data of their own.
_OVERLAP = np.random.default_rng(29)
ONE_HOT = np.eye(3)[_OVERLAP.integers(0, 3, (2, 4, 4))]
MASK_LOGITS_3 = _OVERLAP.normal(0, 2, (2, 4, 4, 3))
MASKS = (_OVERLAP.uniform(size=(2, 4, 4)) < 0.4).astype(float)
MASK_LOGITS = _OVERLAP.normal(0, 2, (2, 4, 4))
MASSES = _OVERLAP.uniform(0, 2, (3, 5))
LOG_Q = _OVERLAP.normal(0, 1, (3, 5))
Y = _OVERLAP.normal(size=(3, 4))
P = Y + _OVERLAP.normal(0, 2, (3, 4))
SCENARIOS |= {
    "multiclass_dice-class_weight": (
        "multiclass_dice",
        {"y_true": (ONE_HOT, "real"), "y_pred": (MASK_LOGITS_3, "real")},
        {"class_weight": np.array([0.5, 1.0, 2.0])},
        {"ignore_background": True, "alpha": 0.3, "beta": 0.7},
        "none",
    ),
    "binary_dice": (
        "binary_dice",
        {"y_true": (MASKS, "real"), "y_pred": (MASK_LOGITS, "real")},
        {},
        {"smooth": 0.5},
        "sum",
    ),
    "generalized_dice": (
        "generalized_dice",
        {"y_true": (ONE_HOT, "real"), "y_pred": (MASK_LOGITS_3, "real")},
        {},
        {},
        None,
    ),
    "generalized_kl_divergence": (
        "generalized_kl_divergence",
        {"y_true": (MASSES, "real"), "y_pred": (LOG_Q, "real")},
        {},
        {},
        "mean",
    ),
    "charbonnier": ("charbonnier", {"y_true": (Y, "real"), "y_pred": (P, "real")}, {}, {}, "none"),
    "welsch": ("welsch", {"y_true": (Y, "real"), "y_pred": (P, "real")}, {}, {}, "mean"),
}
