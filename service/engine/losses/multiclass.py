"""Multi-class losses: scores ``(N, ..., C)`` with the class axis last; per-sample values ``(N, ...)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from ..errors import InvalidInput, Issue, NonFiniteResult
from ..shapes import ClassIndexed, PerSample
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..stable import log_softmax
from ..validate import require, require_class_indices, require_probabilities
from ._common import (
    CLASS_INDICES,
    CLASS_SCORES,
    CLASS_WEIGHT,
    EPS,
    FROM_LOGITS,
    GAMMA,
    LABEL_SMOOTHING,
    PROBABILITY_TARGETS,
    clip_probabilities,
    per_class,
    smooth_class_labels,
)

IGNORE_INDEX = ParamSpec("ignore_index", "integer", "targets equal to this index add nothing", nullable=True)

LOG_PROBABILITIES = InputSpec(
    "y_pred", "log-probabilities (e.g. a log_softmax) with the class axis last", differentiable=True
)

SCORES = InputSpec("y_pred", "scores with the class axis last", differentiable=True)

LOGITS = InputSpec("y_pred", "logits with the class axis last", differentiable=True)

PROBABILITIES = InputSpec("y_pred", "probabilities in [0, 1] with the class axis last", differentiable=True)

family = Family("multiclass", inputs=(PROBABILITY_TARGETS, CLASS_SCORES), shape_rule=PerSample())

# Pulls d(loss)/d(log q) back to d(loss)/d(y_pred).
LogProbsVjp = Callable[[Array], Array]


def log_probs_from_logits(x: Array) -> tuple[Array, Array, LogProbsVjp]:
    """``log softmax(x)`` (max-shifted log-sum-exp), its probabilities and its VJP.

    ``d/dx = d - softmax(x) * sum(d)`` over the class axis.
    """
    log_q = log_softmax(x)
    q = np.exp(log_q)
    return log_q, q, lambda d: d - q * np.sum(d, axis=-1, keepdims=True)


def log_probs_from_probabilities(p: Array, eps: float) -> tuple[Array, Array, LogProbsVjp]:
    """Keras's probability path: ``q = clip(p / sum(p), eps, 1 - eps)``, ``log q`` and the VJP.

    Keras renormalises each row to sum to 1 before clipping; the gradient flows through that
    normalisation: with ``e = d / q`` where the clip left the value unchanged (else 0),
    ``d/dp_k = (e_k - sum_c e_c p_c / sum(p)) / sum(p)``.
    """
    require_probabilities("y_pred", p)
    total = np.sum(p, axis=-1, keepdims=True)
    require("y_pred", total[..., 0] > 0, total[..., 0], "a row of probabilities with a positive sum")
    normalised = p / total
    q, unclipped = clip_probabilities(normalised, eps)

    def vjp(d: Array) -> Array:
        d_normalised = np.where(unclipped, d / q, 0)  # through log q, then the clip
        return (d_normalised - np.sum(d_normalised * normalised, axis=-1, keepdims=True)) / total

    return np.log(q), q, vjp


def _log_probs(y_pred: Array, from_logits: bool, eps: float) -> tuple[Array, Array, LogProbsVjp]:
    return log_probs_from_logits(y_pred) if from_logits else log_probs_from_probabilities(y_pred, eps)


@family.loss(
    summary="Cross-entropy against target distributions (one-hot or soft), on logits or probabilities.",
    reference="logits: torch.nn.functional.cross_entropy with probability targets (and weight); "
    "probabilities: keras.losses.categorical_crossentropy (each class term times its weight)",
    formula=r"\ell = -\sum_{c} w_c \, y_c \log p_c, \quad p = \operatorname{softmax}(\hat{y}) \ \text{or} \ \hat{y} / "
    r"\textstyle\sum_{c} \hat{y}_c",
    example={"y_true": [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], "y_pred": [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]},
    params=(FROM_LOGITS, CLASS_WEIGHT, LABEL_SMOOTHING, EPS),
)
def categorical_crossentropy(
    y_true: Array,
    y_pred: Array,
    *,
    from_logits: bool = False,
    class_weight: list[float] | None = None,
    label_smoothing: float = 0.0,
    eps: float = 1e-7,
) -> Unreduced:
    """Cross-entropy against a target distribution, per sample: ``l = -sum_c w_c y_c log q_c``.

    ``y = y_true (1 - ls) + ls / C`` and ``w`` the class weights (1 when null). With logits,
    ``log q = log_softmax(x)`` (PyTorch ``cross_entropy`` with probability targets and
    ``weight``), whose gradient is ``q sum(w y) - w y``; with probabilities, Keras's
    ``q = clip(p / sum(p), eps, 1 - eps)``, each class term times its weight. ``mean``
    divides by the number of samples whatever the weights, as PyTorch does for probability
    targets (unlike its weighted mean for index targets).

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``, targets in [0, 1]; ``class_weight``:
    ``(C,)``; ``l``: ``(N, ...)``.
    """
    require_probabilities("y_true", y_true)
    w = per_class("class_weight", class_weight, y_pred.shape[-1], y_pred.dtype)
    y = smooth_class_labels(y_true, label_smoothing)
    if w is not None:
        y = y * w  # the weighted target: each class term times its weight
    log_q, _, back = _log_probs(y_pred, from_logits, eps)
    values = -np.sum(y * log_q, axis=-1)
    return Unreduced(values, lambda g: {"y_pred": back(-y * g[..., None])})


@family.loss(
    summary="Cross-entropy against class indices, with class weights, an ignored index and label smoothing.",
    reference="logits: torch.nn.functional.cross_entropy with index targets; "
    "probabilities: keras.losses.sparse_categorical_crossentropy",
    formula=r"\ell = -w_{y} \log p_{y}, \quad p = \operatorname{softmax}(\hat{y}) \ \text{or} \ \hat{y} / "
    r"\textstyle\sum_{c} \hat{y}_c",
    example={"y_true": [1, 0], "y_pred": [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]},
    inputs=(CLASS_INDICES, CLASS_SCORES),
    shape_rule=ClassIndexed(),
    params=(
        FROM_LOGITS,
        CLASS_WEIGHT,
        IGNORE_INDEX,
        LABEL_SMOOTHING,
        EPS,
    ),
)
def sparse_categorical_crossentropy(
    y_true: Array,
    y_pred: Array,
    *,
    from_logits: bool = False,
    class_weight: list[float] | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    eps: float = 1e-7,
) -> Unreduced:
    """Cross-entropy against class indices, per sample, as PyTorch's ``cross_entropy``.

    With ``t`` the target index, ``w`` the class weights (1 when null) and ``log q`` the
    log-probabilities (``log_softmax`` of logits, or Keras's clipped normalised
    probabilities):
    ``l = (1 - ls) w_t (-log q_t) + (ls / C) sum_c w_c (-log q_c)``, and ``l = 0`` where
    ``t == ignore_index``. When ``class_weight`` or ``ignore_index`` is set, ``mean``
    divides by ``sum(w_t)`` over the targets not ignored (PyTorch's weighted mean); if
    every target is ignored that is 0/0, which PyTorch returns as NaN and this service
    reports as a non-finite result.

    Gradient: ``dl/dlog q_c = -((1 - ls) w_t [c = t] + (ls / C) w_c)`` (0 for an ignored
    sample), then through ``log_softmax`` for logits, or through the normalisation and the
    clip (0 where it acted) for probabilities.

    Shapes: ``y_pred``: ``(N, ..., C)``; ``y_true``: ``(N, ...)`` integers in [0, C) or
    ``ignore_index``; ``l``: ``(N, ...)``.
    """
    w = _checked_class_weights(y_true, y_pred, class_weight, ignore_index)
    log_q, _, back = _log_probs(y_pred, from_logits, eps)
    return _class_index_nll(y_true, log_q, back, w, ignore_index, label_smoothing)


def nonnegative_per_class(name: str, value: float | list[float], n_classes: int, dtype: np.dtype) -> float | Array:
    """A param that is a number or one weight >= 0 per class (the last axis): the number, or the weights' array."""
    weights = per_class(name, value, n_classes, dtype)
    assert weights is not None
    if isinstance(weights, np.ndarray) and not (weights >= 0).all():
        first = int(np.flatnonzero(~(weights >= 0))[0])
        raise InvalidInput(
            f"{name} must be >= 0 for every class",
            [Issue((name,), f"entry {first} is {weights[first].item()!r}; each weight must be >= 0", "param")],
        )
    return weights


def _checked_class_weights(
    y_true: Array, y_pred: Array, class_weight: list[float] | None, ignore_index: int | None
) -> Array | None:
    """Checks class-index targets against ``y_pred``'s class axis; the class weights as an array (or None)."""
    n_classes = y_pred.shape[-1]
    require_class_indices("y_true", y_true, n_classes, ignore_index)
    return cast("Array | None", per_class("class_weight", class_weight, n_classes, y_pred.dtype))


def _class_index_nll(
    y_true: Array,
    log_q: Array,
    back: LogProbsVjp,
    w: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
) -> Unreduced:
    """PyTorch's ``nll_loss`` (with ``cross_entropy``'s label smoothing) on log-probabilities ``log q``.

    The core shared by ``sparse_categorical_crossentropy`` and ``nll``:
    ``l = (1 - ls) w_t (-log q_t) + (ls / C) sum_c w_c (-log q_c)``, 0 where ``t`` is
    ignored; ``back`` pulls ``dl/dlog q`` back to ``y_pred``. When class weights or an
    ignored index are in play, ``mean`` divides by ``sum(w_t)`` over the kept targets.
    """
    n_classes = log_q.shape[-1]
    kept = y_true != ignore_index if ignore_index is not None else np.ones(y_true.shape, dtype=bool)
    target = np.where(kept, y_true, 0)
    class_w = np.ones(n_classes, dtype=log_q.dtype) if w is None else w
    w_t = np.where(kept, class_w[target], 0)
    one_hot = np.zeros(log_q.shape, dtype=log_q.dtype)
    np.put_along_axis(one_hot, target[..., None], 1, axis=-1)
    # d l / d log q, per class: the weighted, smoothed one-hot target (negated).
    coefficients = (1 - label_smoothing) * w_t[..., None] * one_hot
    if label_smoothing:
        coefficients = coefficients + (label_smoothing / n_classes) * class_w * kept[..., None]
    values = -np.sum(coefficients * log_q, axis=-1)

    in_play = w is not None or ignore_index is not None
    denominator = float(np.sum(w_t)) if in_play else None
    return Unreduced(values, lambda g: {"y_pred": back(-coefficients * g[..., None])}, mean_denominator=denominator)


@family.loss(
    summary="Focal loss for target distributions: cross-entropy weighted by alpha (1 - q)^gamma.",
    reference="keras.losses.categorical_focal_crossentropy",
    formula=r"\ell = -\sum_{c} \alpha_c \, y_c (1 - p_c)^{\gamma} \log p_c",
    example={"y_true": [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], "y_pred": [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]},
    params=(
        ParamSpec(
            "alpha",
            "number_or_weights",
            "weight of every class (a number in [0, 1]), or one weight >= 0 per class (length C)",
            ge=0,
            le=1,
        ),
        GAMMA,
        FROM_LOGITS,
        LABEL_SMOOTHING,
        EPS,
    ),
)
def categorical_focal(
    y_true: Array,
    y_pred: Array,
    *,
    alpha: float | list[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    eps: float = 1e-7,
) -> Unreduced:
    """Categorical focal loss (Keras ``categorical_focal_crossentropy``), per sample:
    ``l = -sum_c alpha_c (1 - q_c)^gamma y_c log q_c``.

    ``alpha`` is one number for every class, or one weight per class (length C, each >= 0;
    Keras 3 multiplies the class axis by it, e.g. inverse class frequencies, so weights above
    1 are allowed there, while the number form keeps its [0, 1] bound).

    ``y = y_true (1 - ls) + ls / C``; ``q = clip(p / sum(p), eps, 1 - eps)`` with ``p`` the
    probabilities (softmax of the logits when ``from_logits``). The clip keeps ``1 - q``
    at least ``eps``, so ``(1 - q)^(gamma - 1)`` in the gradient is finite even for
    ``gamma < 1``. Gradient: ``dl/dlog q_c = -alpha_c y_c (1 - q_c)^gamma +
    alpha_c gamma y_c q_c (1 - q_c)^(gamma - 1) log q_c``, pulled back through the clip and
    the normalisation (or the softmax).

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``, targets in [0, 1]; ``alpha``: a number or
    ``(C,)``; ``l``: ``(N, ...)``.
    """
    require_probabilities("y_true", y_true)
    alpha_c = nonnegative_per_class("alpha", alpha, y_pred.shape[-1], y_pred.dtype)
    y = smooth_class_labels(y_true, label_smoothing)
    if from_logits:
        _, q_raw, softmax_back = log_probs_from_logits(y_pred)
        q, unclipped = clip_probabilities(q_raw, eps)
        log_q = np.log(q)
        back = lambda d: softmax_back(np.where(unclipped, d, 0))  # noqa: E731 - d/dlog q through the clip
    else:
        log_q, q, back = log_probs_from_probabilities(y_pred, eps)
    one_minus_q = 1 - q
    modulating = one_minus_q**gamma
    values = -np.sum(alpha_c * modulating * y * log_q, axis=-1)
    # d/dlog q of -alpha (1 - q)^gamma y log q, using dq/dlog q = q.
    d_log_q = -alpha_c * y * (modulating - gamma * q * one_minus_q ** (gamma - 1) * log_q)
    return Unreduced(values, lambda g: {"y_pred": back(d_log_q * g[..., None])})


@family.loss(
    summary="Negative log-likelihood of class indices on log-probabilities, with class weights and ignore_index.",
    reference="torch.nn.functional.nll_loss",
    formula=r"\ell = -w_{y} \, \hat{y}_{y}",
    example={"y_true": [1, 0], "y_pred": [[-2.0, -0.5, -1.5], [-0.2, -2.0, -3.0]]},
    inputs=(CLASS_INDICES, LOG_PROBABILITIES),
    shape_rule=ClassIndexed(),
    params=(CLASS_WEIGHT, IGNORE_INDEX),
)
def nll(
    y_true: Array,
    y_pred: Array,
    *,
    class_weight: list[float] | None = None,
    ignore_index: int | None = None,
) -> Unreduced:
    """Negative log-likelihood of class indices (PyTorch ``nll_loss``), per sample: ``l = -w_t y_pred_t``.

    ``y_pred`` holds log-probabilities (a ``log_softmax``); like PyTorch this service does not
    check that, so any finite score is accepted and the loss is linear in it. ``w`` are the
    class weights (1 when null); ``l = 0`` where ``t == ignore_index``. When ``class_weight``
    or ``ignore_index`` is set, ``mean`` divides by ``sum(w_t)`` over the targets not ignored
    (PyTorch's weighted mean); if every target is ignored that is 0/0, NaN in PyTorch, a
    non-finite result (422) here. ``sum`` is then 0.

    Gradient: ``dl/dy_pred = -w_t`` on the target class, 0 elsewhere (and 0 for an ignored
    sample). This is ``sparse_categorical_crossentropy``'s weighted NLL core, applied to
    ``y_pred`` directly instead of to ``log_softmax(y_pred)``.

    Shapes: ``y_pred``: ``(N, ..., C)``; ``y_true``: ``(N, ...)`` integers in [0, C) or
    ``ignore_index``; ``l``: ``(N, ...)``.
    """
    w = _checked_class_weights(y_true, y_pred, class_weight, ignore_index)
    return _class_index_nll(y_true, y_pred, lambda d: d, w, ignore_index, 0.0)


@family.loss(
    summary="Categorical hinge max(max((1 - y) f) - sum(y f) + 1, 0) for one-hot or probability targets.",
    reference="keras.losses.categorical_hinge",
    formula=r"\ell = \max\left(0, 1 + \max_{c} (1 - y_c) \hat{y}_c - \sum_{c} y_c \hat{y}_c\right)",
    example={"y_true": [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], "y_pred": [[0.2, 0.7, 0.1], [0.6, 0.1, 0.3]]},
    inputs=(InputSpec("y_true", "one-hot targets or probabilities in [0, 1], of y_pred's shape"), SCORES),
)
def categorical_hinge(y_true: Array, y_pred: Array) -> Unreduced:
    """Categorical hinge (Keras ``categorical_hinge``), per sample: ``l = max(neg - pos + 1, 0)``.

    ``pos = sum_c y_c f_c`` and ``neg = max_c (1 - y_c) f_c``, literally as Keras: for a
    one-hot ``y`` the target's own entry ``(1 - 1) f_t = 0`` takes part in the maximum, so
    ``neg = max(0, max_{c != t} f_c)``. ``y_true`` is one-hot or probabilities; values outside
    [0, 1] (Keras also documents -1/1) are refused.

    Gradient: ``dl/df_c = [m >= 0] ((1 - y_c) s_c - y_c)`` with ``m = neg - pos + 1``.
    Kinks: the outer ``max(m, 0)`` follows PyTorch's ``clamp_min``, which passes the gradient
    at ``m == 0`` (JAX's ``maximum``, under Keras, would pass half). Ties in the maximum over
    classes share it evenly, ``s_c = [(1 - y_c) f_c == neg] / #ties``, as PyTorch's ``amax``
    and JAX's ``max`` (Keras) both do; ``s_c = 0`` off the maximum.

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``; ``l``: ``(N, ...)``.
    """
    require_probabilities("y_true", y_true)
    pos = np.sum(y_true * y_pred, axis=-1)
    scaled = (1 - y_true) * y_pred
    neg = np.max(scaled, axis=-1)
    m = neg - pos + 1.0
    values = np.maximum(m, 0.0)
    at_max = scaled == neg[..., None]
    share = at_max / np.sum(at_max, axis=-1, keepdims=True)
    d_pred = np.where((m >= 0)[..., None], (1 - y_true) * share - y_true, 0.0)
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * d_pred})


@family.loss(
    summary="Multi-class margin loss: sum over wrong classes of max(0, margin - x_t + x_c)^p / C.",
    reference="torch.nn.functional.multi_margin_loss",
    formula=r"\ell = \frac{1}{C} \sum_{i \neq y} w_{y} \max(0, m - \hat{y}_{y} + \hat{y}_i)^{p}",
    example={"y_true": [1, 0], "y_pred": [[0.2, 0.7, 0.1], [0.6, 0.1, 0.3]]},
    inputs=(CLASS_INDICES, SCORES),
    shape_rule=ClassIndexed(),
    params=(
        ParamSpec("p", "integer", "exponent of the hinge: 1 or 2", choices=(1, 2)),
        ParamSpec("margin", "number", "the margin the target score must clear"),
        CLASS_WEIGHT,
    ),
)
def multi_margin(
    y_true: Array,
    y_pred: Array,
    *,
    p: int = 1,
    margin: float = 1.0,
    class_weight: list[float] | None = None,
) -> Unreduced:
    """Multi-class margin loss (PyTorch ``multi_margin_loss``), per sample:
    ``l = sum_{c != t} w_t max(0, margin - x_t + x_c)^p / C``.

    ``t`` is the target index, ``w`` the class weights (1 when null), ``p`` 1 or 2. PyTorch
    takes only ``(N, C)`` (or ``(C,)``); this service also takes ``(N, ..., C)``, applying
    the same per-sample formula at every position of the extra axes (PyTorch on the
    flattened ``(-1, C)`` scores, reshaped). As in PyTorch the class weights do not change
    the mean: ``mean`` divides by the number of values, not by ``sum(w_t)``.

    Gradient, with ``z_c = margin - x_t + x_c``: ``dl/dx_c = w_t p z_c^(p-1) / C`` for
    ``c != t`` where ``z_c > 0``, and ``dl/dx_t = -sum_{c != t}`` of those. At the kink
    ``z_c == 0`` the term contributes 0 (PyTorch's kernel tests ``z > 0``; this is not
    ``clamp_min``'s convention, but it is what the reference does).

    Shapes: ``y_pred``: ``(N, ..., C)``; ``y_true``: ``(N, ...)`` integers in [0, C);
    ``l``: ``(N, ...)``.
    """
    n_classes = y_pred.shape[-1]
    w = _checked_class_weights(y_true, y_pred, class_weight, None)
    target = y_true[..., None]
    x_t = np.take_along_axis(y_pred, target, axis=-1)
    z = margin - x_t + y_pred
    active = (z > 0) & (np.arange(n_classes) != target)
    terms = np.where(active, z if p == 1 else z * z, 0.0)
    slopes = np.where(active, 1.0 if p == 1 else 2.0 * z, 0.0)
    if w is not None:
        w_t = w[y_true][..., None]
        terms, slopes = terms * w_t, slopes * w_t
    values = np.sum(terms, axis=-1) / n_classes
    d_other = (slopes / n_classes).astype(y_pred.dtype, copy=False)
    d_pred = d_other.copy()
    np.put_along_axis(d_pred, target, -np.sum(d_other, axis=-1, keepdims=True), axis=-1)
    return Unreduced(values, lambda g: {"y_pred": g[..., None] * d_pred})


@family.loss(
    summary="Poly-1 cross-entropy on logits: cross-entropy + epsilon * sum(y (1 - softmax)).",
    reference="optax.losses.poly_loss_cross_entropy",
    formula=r"\ell = -\sum_{c} y_c \log p_c + \epsilon \left(1 - \sum_{c} y_c p_c\right), \quad p = "
    r"\operatorname{softmax}(\hat{y})",
    example={"y_true": [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], "y_pred": [[0.5, 2.0, -1.0], [1.5, 0.2, -0.3]]},
    inputs=(PROBABILITY_TARGETS, LOGITS),
    params=(ParamSpec("epsilon", "number", "weight of the first polynomial term sum(y (1 - softmax))"),),
)
def poly1_crossentropy(y_true: Array, y_pred: Array, *, epsilon: float = 2.0) -> Unreduced:
    """Poly-1 cross-entropy on logits (optax ``poly_loss_cross_entropy``), per sample:
    ``l = -sum_c y_c log q_c + epsilon sum_c y_c (1 - q_c)``, ``q = softmax(y_pred)``.

    ``log q`` is the max-shifted ``log_softmax``, so any finite logits give a finite loss.
    ``y_true`` holds target probabilities in [0, 1] (one-hot or soft); like optax, rows need
    not sum to 1. ``epsilon`` may be any number (optax does not bound it; the PolyLoss paper
    uses ``epsilon >= -1``, below which the loss can go negative).

    Gradient: ``dl/dlog q_c = -y_c (1 + epsilon q_c)``, through the softmax:
    ``dl/dx = q sum(y) - y + epsilon (q sum(y q) - y q)``.

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``; ``l``: ``(N, ...)``.
    """
    require_probabilities("y_true", y_true)
    log_q, q, back = log_probs_from_logits(y_pred)
    values = -np.sum(y_true * log_q, axis=-1) + epsilon * np.sum(y_true * (1 - q), axis=-1)
    d_log_q = -y_true * (1 + epsilon * q)
    return Unreduced(values, lambda g: {"y_pred": back(d_log_q * g[..., None])})


@family.loss(
    summary="Generalized cross-entropy (1 - p_t^q) / q on probabilities, robust to noisy labels.",
    reference="keras.losses.categorical_generalized_cross_entropy",
    formula=r"\ell = \frac{1 - \hat{y}_{y}^{\,q}}{q}",
    example={"y_true": [1, 0], "y_pred": [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]},
    inputs=(CLASS_INDICES, PROBABILITIES),
    shape_rule=ClassIndexed(),
    params=(ParamSpec("q", "number", "between cross-entropy (q -> 0) and mean absolute error (q = 1)", gt=0, le=1),),
)
def generalized_crossentropy(y_true: Array, y_pred: Array, *, q: float = 0.5) -> Unreduced:
    """Generalized cross-entropy (Zhang & Sabuncu 2018; Keras
    ``categorical_generalized_cross_entropy``), per sample: ``l = (1 - p_t^q) / q``.

    ``p_t`` is ``y_pred`` at the target index. As in Keras, ``y_pred`` is used as given:
    neither renormalised nor clipped; values outside [0, 1] are refused (API.md section 3).
    ``1 - p_t^q`` is evaluated as ``-expm1(q log p_t)``, which is exact near ``p_t = 1`` where
    the subtraction would cancel (they agree to ~1e-13 relative elsewhere); ``p_t = 0`` gives
    ``1 / q``.

    Gradient: ``dl/dp_t = -p_t^(q - 1)``, 0 for the other classes. At ``p_t = 0`` with
    ``q < 1`` it is infinite (JAX under Keras gives -inf), so asking for the gradient there is
    a non-finite result (422, pointing at that probability); the loss alone is fine. ``q = 1``
    is ``1 - p_t``, with gradient -1 everywhere.

    Shapes: ``y_pred``: ``(N, ..., C)`` probabilities; ``y_true``: ``(N, ...)`` integers in
    [0, C); ``l``: ``(N, ...)``.
    """
    require_class_indices("y_true", y_true, y_pred.shape[-1])
    require_probabilities("y_pred", y_pred)
    target = y_true[..., None]
    p_t = np.take_along_axis(y_pred, target, axis=-1)[..., 0]
    values = -np.expm1(q * np.log(p_t)) / q
    d_p_t = -(p_t ** (q - 1.0))

    def vjp(g: Array) -> dict[str, Array]:
        infinite = ~np.isfinite(d_p_t)
        if infinite.any():  # p_t = 0 (or, in float32, tiny) with q < 1: point at the first one
            first = np.unravel_index(int(np.flatnonzero(infinite)[0]), infinite.shape)
            where: tuple[str | int, ...] = ("y_pred", *(int(i) for i in first), int(y_true[first]))
            detail = f"the gradient -p^(q - 1) overflows at this target probability (q = {q}): it is infinite at p = 0"
            raise NonFiniteResult("the result of generalized_crossentropy is not finite", [Issue(where, detail)])
        d_pred = np.zeros(y_pred.shape, dtype=y_pred.dtype)
        np.put_along_axis(d_pred, target, (g * d_p_t)[..., None], axis=-1)
        return {"y_pred": d_pred}

    return Unreduced(values, vjp)
