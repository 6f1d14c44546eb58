"""Classification losses joining the catalog (API.md section 8): the seed's focal loss on class
indices, optax's multi-class hinge, perceptron and sparsemax losses, optax's binary sparsemax
loss, and PyTorch's fused linear layer + cross-entropy.

Scores are ``(N, ..., C)`` with the class axis last and class indices ``(N, ...)``; the
losses are per sample, except ``binary_sparsemax`` (elementwise) and ``linear_crossentropy``
(``(N,)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInput, Issue
from ..shapes import ClassIndexed, Elementwise, Shape, _require_equal, _require_rank
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..validate import require, require_class_indices, require_probabilities
from ._common import CLASS_INDICES, CLASS_WEIGHT, GAMMA, LABEL_SMOOTHING, per_class, smooth_class_labels
from .multiclass import (
    IGNORE_INDEX,
    _checked_class_weights,
    _class_index_nll,
    categorical_focal,
    log_probs_from_logits,
    nonnegative_per_class,
)

SCORES = InputSpec("y_pred", "scores with the class axis last", differentiable=True)

family = Family("multiclass", inputs=(CLASS_INDICES, SCORES), shape_rule=ClassIndexed())

#: ``binary_sparsemax`` belongs with the binary losses (elementwise, labels 0/1).
binary_family = Family(
    "binary",
    inputs=(
        InputSpec("y_true", "labels 0/1, of y_pred's shape"),
        InputSpec("y_pred", "logits", differentiable=True),
    ),
    shape_rule=Elementwise(),
)

# Integers beyond 2**53 cannot be told apart in float64: not trustworthy class indices.
_MAX_EXACT_INTEGER = 2.0**53


def _one_hot(y_true: Array, n_classes: int, dtype: np.dtype) -> Array:
    one_hot = np.zeros((*y_true.shape, n_classes), dtype=dtype)
    np.put_along_axis(one_hot, y_true[..., None], 1, axis=-1)
    return one_hot


def _share_of_the_max(a: Array) -> Array:
    """``d max(a) / d a`` over the last axis: the maximum's entries share 1 evenly (ties split it,
    as ``torch.amax`` and ``jax.grad`` of ``jnp.max`` do), 0 elsewhere."""
    at_max = a == np.max(a, axis=-1, keepdims=True)
    return at_max / np.sum(at_max, axis=-1, keepdims=True)


# The seed's focal loss on class indices.


@family.loss(
    summary="Focal loss on class indices: cross-entropy weighted by alpha_y (1 - p_t)^gamma, logits or probabilities.",
    reference="the seed's FocalLoss: ce = cross_entropy(logits, y), p_t = exp(-ce), alpha_y (1 - p_t)^gamma ce "
    "(= kornia.losses.focal_loss(alpha=None) times alpha_y); probabilities: "
    "keras.losses.categorical_focal_crossentropy on one_hot(y_true)",
    formula=r"\ell = \alpha_{y} \, (1 - p_{y})^{\gamma} \, (-\log p_{y}), \quad p = \operatorname{softmax}(\hat{y})",
    example={"y_true": [1, 0], "y_pred": [[0.5, 2.0, -1.0], [1.5, 0.2, -0.3]]},
    inputs=(CLASS_INDICES, InputSpec("y_pred", "logits, or probabilities when from_logits is false", True)),
    params=(
        ParamSpec(
            "alpha",
            "number_or_weights",
            "weight of every sample (a number >= 0), or one weight >= 0 per class (length C): each sample is "
            "weighted by its true class's",
            ge=0,
        ),
        GAMMA,
        ParamSpec("from_logits", "boolean", "y_pred holds logits (true) or probabilities (false)"),
        ParamSpec("eps", "number", "probabilities (only) are clipped to [eps, 1 - eps]", gt=0, lt=0.5),
    ),
)
def sparse_categorical_focal(
    y_true: Array,
    y_pred: Array,
    *,
    alpha: float | list[float] = 1.0,
    gamma: float = 2.0,
    from_logits: bool = True,
    eps: float = 1e-7,
) -> Unreduced:
    """Focal loss on class indices (the seed's ``FocalLoss``), per sample:
    ``l = alpha_t (1 - p_t)^gamma ce`` with ``ce = -log p_t``.

    ``t`` is the target index and ``alpha_t`` is ``alpha``, or ``alpha[t]`` for one weight per
    class.

    Logits: ``ce = logsumexp(x) - x_t``, no clipping (PyTorch ``cross_entropy``), and
    ``p_t = exp(-ce)``: kornia's ``focal_loss`` with ``alpha=None`` (its ``weight`` is the
    per-class ``alpha``). Stable form: with ``r = sum_{c != t} exp(x_c - x_m)`` and ``x_m``
    the maximum logit, ``1 - p_t`` is formed as ``sum_{c != t} softmax_c`` (no ``1 - p``
    cancellation) and, where ``t`` is the maximum, ``ce = log1p(r)`` (no rounding of
    ``1 + r``); elsewhere ``p_t <= 1/2`` and ``ce = log(sum exp(x - x_m)) - (x_t - x_m)``
    adds two positive numbers. The references round ``1 - exp(-ce)``, which is the same to
    ~1e-16 absolute, and only differs relatively once ``ce`` is below ~1e-7.

    Gradient: ``dl/dx = alpha_t F (softmax(x) - onehot_t)`` with
    ``F = (1 - p_t)^gamma (1 + gamma p_t ce / (1 - p_t))`` (the ``t`` entry of
    ``softmax - onehot`` formed as ``-(1 - p_t)``). Where ``1 - p_t`` is 0 (every other
    logit's ``exp`` underflows) the factor ``(1 - p_t)^gamma`` passes no gradient, as in
    kornia: ``F = 0^gamma`` (1 for ``gamma = 0``, else 0), so the gradient stays finite for
    ``0 < gamma < 1``.

    Probabilities (``from_logits`` false): Keras's ``categorical_focal_crossentropy`` on
    ``one_hot(y_true)`` with the per-class ``alpha``: ``q = clip(p / sum(p), eps, 1 - eps)``,
    ``l = alpha_t (1 - q_t)^gamma (-log q_t)``, gradient through the clip (0 where it acted)
    and the normalisation.

    Shapes: ``y_pred``: ``(N, ..., C)``; ``y_true``: ``(N, ...)`` integers in [0, C);
    ``alpha``: a number or ``(C,)``; ``l``: ``(N, ...)``.
    """
    n_classes = y_pred.shape[-1]
    require_class_indices("y_true", y_true, n_classes)
    alpha_c = nonnegative_per_class("alpha", alpha, n_classes, y_pred.dtype)
    if not from_logits:
        one_hot = _one_hot(y_true, n_classes, y_pred.dtype)
        return categorical_focal(one_hot, y_pred, alpha=alpha_c, gamma=gamma, from_logits=False, eps=eps)  # type: ignore[arg-type]

    alpha_t = alpha_c[y_true] if isinstance(alpha_c, np.ndarray) else alpha_c
    target = y_true[..., None]
    shifted = y_pred - np.max(y_pred, axis=-1, keepdims=True)
    e = np.exp(shifted)
    total = np.sum(e, axis=-1)
    e_t = np.take_along_axis(e, target, axis=-1)[..., 0]
    shifted_t = np.take_along_axis(shifted, target, axis=-1)[..., 0]
    np.put_along_axis(e, target, 0.0, axis=-1)
    rest = np.sum(e, axis=-1)  # sum over the other classes, never 1 + tiny - 1
    target_is_max = shifted_t == 0
    ce = np.where(target_is_max, np.log1p(rest), np.log(total) - shifted_t)
    one_minus_pt = rest / total
    p_t = e_t / total
    focal = one_minus_pt**gamma
    values = alpha_t * focal * ce

    # F = d l / d ce / alpha_t = (1 - p)^gamma + gamma (1 - p)^(gamma - 1) p ce, with ce / (1 - p) -> 1 as p -> 1.
    positive = one_minus_pt > 0
    ratio = np.where(positive, ce / np.where(positive, one_minus_pt, 1), 0)
    factor = np.where(positive, focal * (1 + gamma * p_t * ratio), 0.0**gamma)
    d_ce = (e / total[..., None]).astype(y_pred.dtype, copy=False)  # softmax - onehot, off the target
    np.put_along_axis(d_ce, target, -one_minus_pt[..., None], axis=-1)  # and on it: p_t - 1 = -(1 - p_t)
    d_pred = (alpha_t * factor)[..., None] * d_ce
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * d_pred})


# optax's multi-class margin losses.


@family.loss(
    summary="Multi-class hinge max(0, 1 + max_{j != y} s_j - s_y) on class indices.",
    reference="optax.losses.multiclass_hinge_loss",
    formula=r"\ell = \max_{j} \left(\hat{y}_j + 1 - [j = y]\right) - \hat{y}_{y} = "
    r"\max\left(0, 1 + \max_{j \neq y} \hat{y}_j - \hat{y}_{y}\right)",
    example={"y_true": [1, 0], "y_pred": [[0.2, 0.7, 0.1], [0.6, 0.1, 0.3]]},
)
def multiclass_hinge(y_true: Array, y_pred: Array) -> Unreduced:
    """Multi-class hinge (optax ``multiclass_hinge_loss``), per sample:
    ``l = max_j (s_j + 1 - [j = t]) - s_t``, which is ``max(0, 1 + max_{j != t} s_j - s_t)``.

    Evaluated as optax writes it: the maximum over ``a = s + 1 - onehot_t`` (the target's own
    entry ``s_t`` is the hinge's 0), minus ``s_t``.

    Gradient: ``dl/ds = d max(a)/da - onehot_t``, where the maximum's entries share 1 evenly
    (ties split it, as ``jax.grad`` of optax and ``torch.amax`` do). So at the hinge's kink,
    ``s_t == 1 + max_{j != t} s_j``, the target's own entry is one of ``k`` tied entries:
    ``dl/ds_t = 1/k - 1`` and ``dl/ds_j = 1/k`` for each tied rival (``-1/2`` and ``1/2`` with
    one rival), not the ``clamp_min`` form's ``-1``/``1``: this is the reference's own expression
    and section 8's tie rule. Past the margin (``s_t`` the unique maximum of ``a``) the loss and
    its gradient are 0.

    Shapes: ``y_pred``: ``(N, ..., C)``; ``y_true``: ``(N, ...)`` integers in [0, C); ``l``: ``(N, ...)``.
    """
    n_classes = y_pred.shape[-1]
    require_class_indices("y_true", y_true, n_classes)
    one_hot = _one_hot(y_true, n_classes, y_pred.dtype)
    a = y_pred + 1.0 - one_hot
    s_t = np.take_along_axis(y_pred, y_true[..., None], axis=-1)[..., 0]
    values = np.max(a, axis=-1) - s_t
    d_pred = _share_of_the_max(a) - one_hot
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * d_pred})


@family.loss(
    summary="Multi-class perceptron max_j s_j - s_y on class indices.",
    reference="optax.losses.multiclass_perceptron_loss",
    formula=r"\ell = \max_{j} \hat{y}_j - \hat{y}_{y}",
    example={"y_true": [1, 0], "y_pred": [[0.2, 0.7, 0.1], [0.6, 0.1, 0.9]]},
)
def multiclass_perceptron(y_true: Array, y_pred: Array) -> Unreduced:
    """Multi-class perceptron (optax ``multiclass_perceptron_loss``), per sample: ``l = max_j s_j - s_t``.

    Gradient: ``dl/ds = d max(s)/ds - onehot_t``: the maximum's entries share 1 evenly (ties
    split it, as ``jax.grad`` of optax and ``torch.amax`` do). When ``s_t`` is the unique maximum
    the loss and gradient are 0; when it ties with ``k - 1`` rivals the loss is 0 and the
    gradient is ``1/k - 1`` on the target and ``1/k`` on each rival.

    Shapes: ``y_pred``: ``(N, ..., C)``; ``y_true``: ``(N, ...)`` integers in [0, C); ``l``: ``(N, ...)``.
    """
    n_classes = y_pred.shape[-1]
    require_class_indices("y_true", y_true, n_classes)
    one_hot = _one_hot(y_true, n_classes, y_pred.dtype)
    s_t = np.take_along_axis(y_pred, y_true[..., None], axis=-1)[..., 0]
    values = np.max(y_pred, axis=-1) - s_t
    d_pred = _share_of_the_max(y_pred) - one_hot
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * d_pred})


# Sparsemax.


def _projection(s: Array, leading_run: bool) -> tuple[Array, Array]:
    """optax's projection of each row onto the simplex, and the cumulative sum of the sorted row it used.

    ``k`` counts the ``j`` where the condition holds (optax), or the leading run of them."""
    n = s.shape[-1]
    u = -np.sort(-s, axis=-1)
    cumsum = np.cumsum(u, axis=-1)
    ind = np.arange(1, n + 1, dtype=s.dtype)
    holds = 1 / ind + (u - cumsum / ind) > 0
    k = (np.sum(np.cumprod(holds, axis=-1), axis=-1) if leading_run else np.count_nonzero(holds, axis=-1))[..., None]
    threshold = np.take_along_axis(cumsum, k - 1, axis=-1)
    return np.maximum(1 / k + (s - threshold / k), 0).astype(s.dtype, copy=False), cumsum


def sparsemax(s: Array) -> Array:
    """The Euclidean projection of each row (last axis) onto the probability simplex.

    As optax's ``projection_simplex``: ``u`` the row sorted in decreasing order, ``k`` the
    number of ``j`` with ``1/j + u_j - cumsum(u)_j / j > 0`` (at least 1), and
    ``p = max(1/k + s - cumsum(u)_k / k, 0)``. Exact for any finite scores (no exponentials).

    Where ``cumsum(u)`` overflows, optax's answer is wrong: ``[1e308, 1e308]`` projects to
    ``[1, 1]`` (a loss of -0.5, below the minimum 0) and ``[-1e308, -1e308]`` to ``[inf, inf]``
    (NaN) where ``[1/2, 1/2]`` and a loss of 1/4 are exact; an ``inf`` reached past the support
    counts the condition as holding there. Those rows are projected from their differences
    (the projection does not change when every score moves by the same amount): shifted by
    their maximum, with ``k`` the leading run of ``j`` where the condition holds (in exact
    arithmetic, exactly the ones where it holds). Every other row is optax's, bit for bit.
    """
    p, cumsum = _projection(s, leading_run=False)
    overflowed = ~np.all(np.isfinite(cumsum), axis=-1, keepdims=True)
    if overflowed.any():
        shifted, _ = _projection(s - np.max(s, axis=-1, keepdims=True), leading_run=True)
        p = np.where(overflowed, shifted, p)
    return p


@family.loss(
    summary="Multi-class sparsemax loss (the Fenchel-Young loss of sparsemax) on class indices.",
    reference="optax.losses.multiclass_sparsemax_loss, applied to each row over the leading axes",
    formula=r"\ell = \sum_{j} p_j (\hat{y}_j - \hat{y}_{y}) + \tfrac{1}{2}\left(1 - \lVert p \rVert^2\right), "
    r"\quad p = \operatorname{sparsemax}(\hat{y})",
    example={"y_true": [1, 0], "y_pred": [[0.2, 0.7, 0.1], [0.6, 0.1, 0.3]]},
)
def multiclass_sparsemax(y_true: Array, y_pred: Array) -> Unreduced:
    """Multi-class sparsemax loss (Martins & Astudillo 2016; optax ``multiclass_sparsemax_loss``),
    per sample: ``l = sum_j p_j (s_j - s_t) + (1 - |p|^2) / 2`` with ``p = sparsemax(s)``.

    optax's form, applied to every row over the leading axes (optax maps over the first axis
    only): the scores are shifted by the target's, ``s_j - s_t``, so that large common offsets
    cancel exactly, and only the support of ``p`` enters the sum. ``l >= 0``, 0 exactly when
    ``p`` is the target's one-hot (``s_t`` at least 1 above every other score).

    Gradient: ``dl/ds = sparsemax(s) - onehot_t``, the Fenchel-Young gradient, continuous in
    ``s`` (also where an entry enters or leaves the support, and at ties). ``jax.grad`` of
    optax's expression gives the same plus a term that vanishes exactly in exact arithmetic
    (rounding, ~1e-16 of the scores).

    Shapes: ``y_pred``: ``(N, ..., C)``; ``y_true``: ``(N, ...)`` integers in [0, C); ``l``: ``(N, ...)``.
    """
    n_classes = y_pred.shape[-1]
    require_class_indices("y_true", y_true, n_classes)
    p = sparsemax(y_pred)
    target = y_true[..., None]
    shifted = y_pred - np.take_along_axis(y_pred, target, axis=-1)
    np.put_along_axis(shifted, target, 0.0, axis=-1)
    values = np.sum(p * np.where(p > 0, shifted, 0), axis=-1) + 0.5 * (1 - np.sum(p * p, axis=-1))
    d_pred = p - _one_hot(y_true, n_classes, y_pred.dtype)
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * d_pred})


@binary_family.loss(
    summary="Binary sparsemax loss: sparse_plus(-x) for label 1, sparse_plus(x) for label 0.",
    reference="optax.losses.sparsemax_loss",
    formula=r"\ell = \operatorname{sparse\_plus}\left((1 - 2y)\,\hat{y}\right), \quad \operatorname{sparse\_plus}(z) = "
    r"\begin{cases} 0 & z \le -1 \\ (z + 1)^2 / 4 & -1 < z < 1 \\ z & z \ge 1 \end{cases}",
    example={"y_true": [[1.0, 0.0], [0.0, 1.0]], "y_pred": [[0.3, -0.8], [0.4, 2.0]]},
)
def binary_sparsemax(y_true: Array, y_pred: Array) -> Unreduced:
    """Binary sparsemax loss (Blondel et al. 2020; optax ``sparsemax_loss``), elementwise:
    ``l = sparse_plus(z)`` with ``z = -x`` for label 1 and ``z = x`` for label 0.

    ``sparse_plus(z)`` is 0 for ``z <= -1``, ``(z + 1)^2 / 4`` between, and ``z`` for
    ``z >= 1``: no exponentials, exact for any finite logit. ``l = 0`` exactly when
    ``sparse_sigmoid(x)`` equals the label (``x >= 1`` for label 1, ``x <= -1`` for 0).

    Gradient: ``dl/dx = (1 - 2y) sparse_sigmoid'``, with ``dl/dz`` 0 for ``z <= -1``,
    ``(z + 1)/2`` between and 1 for ``z >= 1``; continuous, so the switch points ``z = ±1``
    are not kinks (the branches agree there, as ``jax.grad`` of optax gives).

    Shapes: ``y_true``, ``y_pred``: ``(N, ...)``, labels 0 or 1; ``l``: the same.
    """
    require("y_true", (y_true == 0) | (y_true == 1), y_true, "a label 0 or 1")
    sign = 1 - 2 * y_true  # -1 for label 1, +1 for label 0
    z = sign * y_pred
    values = np.where(z <= -1, 0.0, np.where(z >= 1, z, (z + 1) ** 2 / 4))
    slope = np.where(z <= -1, 0.0, np.where(z >= 1, 1.0, (z + 1) / 2))
    d_pred = (sign * slope).astype(y_pred.dtype, copy=False)
    return Unreduced(values, lambda g: {"y_pred": g * d_pred})


# PyTorch's linear layer + cross-entropy.


@dataclass(frozen=True)
class LinearLayerTargets:
    """``x`` ``(N, D)``, ``linear_weight`` ``(C, D)``, an optional ``linear_bias`` ``(C,)``, and
    ``y_true`` class indices ``(N,)`` or probabilities ``(N, C)``; the loss is ``(N,)``."""

    description: str = "per-sample: (N,)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        # y_true: (N,) class indices or (N, C) probabilities
        return {"x": ("N", "D"), "linear_weight": ("C", "D"), "linear_bias": ("C",), "y_true": ("N", "...")}

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        _require_rank("x", shapes["x"], 2, 2)
        _require_rank("linear_weight", shapes["linear_weight"], 2, 2)
        (n, d), (c, d_weight) = shapes["x"], shapes["linear_weight"]
        if d_weight != d:
            raise InvalidInput(
                "input shapes do not match",
                [Issue(("linear_weight",), f"linear_weight has shape {[c, d_weight]}: it needs {d} columns (x's D)")],
            )
        if "linear_bias" in shapes:
            _require_equal("linear_bias", shapes["linear_bias"], "linear_weight", (c,), "shape (C,) =")
        _require_rank("y_true", shapes["y_true"], 1, 2)
        target = (n,) if len(shapes["y_true"]) == 1 else (n, c)
        what = "shape (N,) =" if len(target) == 1 else "shape (N, C) ="
        _require_equal("y_true", shapes["y_true"], "x", target, what)
        return (n,)


@family.loss(
    summary="Cross-entropy of a linear layer's logits x W^T + b, with gradients for x, W and b.",
    reference="torch.nn.functional.linear_cross_entropy: cross_entropy(x W^T + b, y)",
    formula=r"\ell = -\sum_{c} w_c \, y_c \log \operatorname{softmax}(x W^\top + b)_c",
    example={
        "x": [[1.0, 0.5], [0.0, -1.0]],
        "linear_weight": [[0.2, -0.1], [0.4, 0.3], [-0.5, 0.1]],
        "linear_bias": [0.1, 0.0, -0.1],
        "y_true": [1, 2],
    },
    inputs=(
        InputSpec("x", "features (N, D)", differentiable=True),
        InputSpec("linear_weight", "the linear layer's weight (C, D)", differentiable=True),
        InputSpec("linear_bias", "the linear layer's bias (C,); omitted: no bias", differentiable=True, required=False),
        InputSpec(
            "y_true",
            "class indices (N,) (integers in [0, C), or ignore_index), or target probabilities (N, C) in [0, 1]",
        ),
    ),
    shape_rule=LinearLayerTargets(),
    params=(
        CLASS_WEIGHT,
        ParamSpec("ignore_index", "integer", IGNORE_INDEX.description + " (class-index targets only)", nullable=True),
        LABEL_SMOOTHING,
    ),
)
def linear_crossentropy(
    x: Array,
    linear_weight: Array,
    y_true: Array,
    linear_bias: Array | None = None,
    *,
    class_weight: list[float] | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
) -> Unreduced:
    """Cross-entropy of a linear layer's logits (PyTorch ``linear_cross_entropy``), per sample:
    ``z = x W^T + b`` then ``cross_entropy(z, y)``.

    The targets' rank decides their kind: ``y_true`` of shape ``(N,)`` holds class indices
    (integral numbers, ``2`` or ``2.0``; 1.5 is refused), ``(N, C)`` target probabilities
    (one-hot or soft). ``y_true`` is read in the computation's dtype, like every real input:
    in float32, indices are exact up to 2**24 classes.

    - Indices: ``l = (1 - ls) w_t (-log q_t) + (ls / C) sum_c w_c (-log q_c)`` with
      ``q = softmax(z)`` (max-shifted log-sum-exp), ``w`` the class weights (1 when null),
      ``l = 0`` where ``t == ignore_index``. When ``class_weight`` or ``ignore_index`` is set,
      ``mean`` divides by ``sum(w_t)`` over the targets not ignored (as
      ``sparse_categorical_crossentropy``); all targets ignored is 0/0: NaN in PyTorch, a
      non-finite result (422) here.
    - Probabilities: ``l = -sum_c w_c y_c log q_c``, ``y = y_true (1 - ls) + ls / C``;
      ``mean`` divides by N whatever the weights (PyTorch). ``ignore_index`` does not apply to
      probability targets: setting it is a 422.

    Gradient: with ``G = dl/dz`` (``q sum(c) - c`` for the per-class coefficients ``c`` above,
    ``c = w y`` for probabilities, the smoothed weighted one-hot for indices):
    ``dl/dx = G W``, ``dl/dW = G^T x``, ``dl/db = sum_n G``. No gradient is returned for an
    omitted bias.

    Shapes: ``x``: ``(N, D)``; ``linear_weight``: ``(C, D)``; ``linear_bias``: ``(C,)``;
    ``y_true``: ``(N,)`` or ``(N, C)``; ``l``: ``(N,)``.
    """
    logits = x @ linear_weight.T
    if linear_bias is not None:
        logits = logits + linear_bias
    log_q, _, back = log_probs_from_logits(logits)
    if y_true.ndim == 1:
        integral = (y_true == np.round(y_true)) & (np.abs(y_true) <= _MAX_EXACT_INTEGER)
        require("y_true", integral, y_true, "a class index (an integer; (N,) targets are class indices)")
        target = y_true.astype(np.int64)
        w = _checked_class_weights(target, logits, class_weight, ignore_index)
        unreduced = _class_index_nll(target, log_q, back, w, ignore_index, label_smoothing)
        d_logits = unreduced.vjp
        values, denominator = unreduced.values, unreduced.mean_denominator
    else:
        if ignore_index is not None:
            raise InvalidInput(
                "ignore_index applies to class-index targets only",
                [Issue(("ignore_index",), "y_true holds probabilities (N, C): leave ignore_index null", "param")],
            )
        require_probabilities("y_true", y_true)
        weights = per_class("class_weight", class_weight, logits.shape[-1], logits.dtype)
        y = smooth_class_labels(y_true, label_smoothing)
        if weights is not None:
            y = y * weights
        values, denominator = -np.sum(y * log_q, axis=-1), None
        d_logits = lambda g: {"y_pred": back(-y * g[..., None])}  # noqa: E731

    def vjp(g: Array) -> dict[str, Array]:
        d_z = d_logits(g)["y_pred"]
        grads = {"x": d_z @ linear_weight, "linear_weight": d_z.T @ x}
        if linear_bias is not None:
            grads["linear_bias"] = np.sum(d_z, axis=0)
        return grads

    return Unreduced(values, vjp, mean_denominator=denominator)
