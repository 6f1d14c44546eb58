"""Contrastive losses over a batch of embeddings: each sample is scored against the others.

Every loss here is *batch-coupled* (API.md section 8): a sample's loss depends on the other
samples of the request, which is therefore one batch, never split. ``cosent`` and ``ntxent``
are also *scalar*: one value per request (``mean`` only, no ``sample_weight``).

The cosine similarities follow each reference exactly:

- sentence-transformers (``multiple_negatives_ranking``, ``cosent``) normalises rows with
  ``torch.nn.functional.normalize``: ``x / max(|x|, 1e-12)``;
- optax (``ntxent``) divides by ``sqrt(max(|x|^2, eps))`` with ``eps`` the machine epsilon of the
  computation's dtype, i.e. the norm floored at ``sqrt(eps)``;
- Keras (``circle``) uses the embeddings as given: ``1 - e_i . e_j`` is its distance.

The norm is computed scaled by the row's largest entry, so it neither overflows nor underflows
(PyTorch and optax square unscaled entries: a row beyond about 1e154 has an infinite squared
norm there and normalises to 0; here it normalises to its direction).

A floored norm is a kink: where ``|x|`` is below the floor the row is divided by the floor, a
constant, so the gradient is ``g / floor`` (a zero row: cosine 0 with every row, and a gradient
of 1e12 times the cotangent of its unit vector for the sentence-transformers losses, as PyTorch's
autograd gives); at or above it the gradient is ``(g - u (u . g)) / |x|``, the floor passing the
gradient at equality (PyTorch's ``clamp_min``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInput, Issue
from ..shapes import PairsWithLabels
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..stable import sigmoid, softplus

Shape = tuple[int, ...]

VECTORS = "a batch of vectors (N, D)"

#: ``torch.nn.functional.normalize``'s default ``eps``: the floor of the norm in sentence-transformers.
NORMALIZE_EPS = 1e-12

SCALE = ParamSpec("scale", "number", "multiplies the cosine similarities (the inverse of a temperature)", gt=0)

family = Family("contrastive")


# Shape rules.


def _rank_two(name: str, shapes: Mapping[str, Shape]) -> Shape:
    shape = shapes[name]
    if len(shape) != 2:
        raise InvalidInput(
            f"{name} has the wrong rank",
            [Issue((name,), f"expected an array of rank 2 (N, D), got shape {list(shape)}")],
        )
    return shape


def _require_shape(name: str, shapes: Mapping[str, Shape], expected: Shape, what: str) -> None:
    if shapes[name] != expected:
        raise InvalidInput(
            "input shapes do not match",
            [Issue((name,), f"{name} has shape {list(shapes[name])} but must have {what} {list(expected)}")],
        )


@dataclass(frozen=True)
class AnchoredBatch:
    """``anchor`` and ``positive`` of one shape ``(N, D)``, and ``negative`` of that shape when
    given (it is optional); one loss per anchor, ``(N,)``."""

    description: str = "per-anchor: (N,)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return dict.fromkeys(("anchor", "positive", "negative"), ("N", "D"))

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        anchor = _rank_two("anchor", shapes)
        for name in ("positive", "negative"):
            if name in shapes:
                _require_shape(name, shapes, anchor, "anchor's shape")
        return anchor[:1]


@dataclass(frozen=True)
class LabelledEmbeddings:
    """Embeddings ``y_pred`` ``(N, D)`` and one label per row ``y_true`` ``(N,)``: a loss per row
    ``(N,)``, or one for the batch ``()`` when ``scalar``."""

    scalar: bool = False

    @property
    def description(self) -> str:
        return "one value for the whole batch: ()" if self.scalar else "per-sample: (N,)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return {"y_pred": ("N", "D"), "y_true": ("N",)}

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        embeddings = _rank_two("y_pred", shapes)
        _require_shape("y_true", shapes, embeddings[:1], "one label per row of y_pred: shape")
        return () if self.scalar else embeddings[:1]


@dataclass(frozen=True)
class ScoredPairs:
    """``x1`` and ``x2`` ``(N, D)`` and a score per pair ``y_true`` ``(N,)``: one value for the batch."""

    description: str = "one value for the whole batch: ()"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return PairsWithLabels().input_shapes()

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        PairsWithLabels().unreduced_shape(shapes)
        return ()


# Shared pieces.


def _norms(x: Array) -> Array:
    """The L2 norm of each row (kept as a column), scaled by its largest entry: no square overflows."""
    top = np.max(np.abs(x), axis=-1, keepdims=True)
    safe = np.where(top > 0, top, 1)
    return top * np.sqrt(np.sum((x / safe) ** 2, axis=-1, keepdims=True))


def unit_rows(x: Array, floor: float) -> tuple[Array, Callable[[Array], Array]]:
    """``u = x / max(|x|, floor)`` per row, and the pullback of a cotangent ``g`` of ``u`` to ``x``.

    Gradient: ``(g - u (u . g)) / |x|`` where ``|x| >= floor`` (PyTorch's ``clamp_min`` passes
    the gradient at equality), ``g / floor`` below it, where the divisor is the constant floor.
    """
    norm = _norms(x)
    divisor = np.maximum(norm, floor)
    u = x / divisor
    inside = norm >= floor

    def pull(g: Array) -> Array:
        radial = np.sum(u * g, axis=-1, keepdims=True)
        return np.where(inside, g - u * radial, g) / divisor

    return u, pull


def logsumexp_rows(x: Array) -> tuple[Array, Array, Array]:
    """``log sum_j exp(x_j)`` over the last axis as ``m + log1p(r)``: ``m``, ``log1p(r)`` and the softmax
    ``exp(x - m) / (1 + r)``.

    ``m`` is the largest entry, whose term ``exp(x - m)`` is exactly 1; ``r`` sums the others, each
    at most 1, so no exponential overflows, and ``log1p`` keeps ``r``'s full relative precision
    where it is tiny (a nearly certain softmax), which ``log(1 + r)`` would round away.
    """
    largest = np.argmax(x, axis=-1)[..., None]
    top = np.take_along_axis(x, largest, axis=-1)
    e = np.exp(x - top)
    rest = e.copy()
    np.put_along_axis(rest, largest, 0, axis=-1)
    others = np.sum(rest, axis=-1, keepdims=True)
    return top[..., 0], np.log1p(others[..., 0]), e / (1 + others)


def masked_logsumexp(x: Array, mask: Array) -> tuple[Array, Array]:
    """``log sum_j exp(x_ij)`` over the ``j`` where ``mask`` holds, per row, and its softmax weights.

    The row maximum is subtracted first, so no exponential overflows. A row with no entry has
    ``-inf`` and weights 0 (its gradient is 0, not NaN).
    """
    top = np.max(np.where(mask, x, -np.inf), axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    e = np.where(mask, np.exp(np.where(mask, x - top, 0)), 0)
    total = np.sum(e, axis=-1, keepdims=True)
    has_any = total > 0
    safe = np.where(has_any, total, 1)
    lse = np.where(has_any, top + np.log(safe), -np.inf)
    return lse[..., 0], e / safe


def _gram_pullback(d_gram: Array, e: Array) -> Array:
    """The cotangent of ``e`` through ``G = e e^T`` for a cotangent ``d_gram`` of ``G``."""
    return (d_gram + d_gram.T) @ e


# The losses.


@family.loss(
    summary="Multiple negatives ranking loss (InfoNCE): cross-entropy of each anchor's scaled cosines with"
    " the batch's positives (and hard negatives) against its own positive.",
    reference="sentence_transformers.losses.MultipleNegativesRankingLoss",
    formula=r"\ell = -\log \frac{\exp(s \cos(a_i, p_i))}{\sum_{c \in \{p_1, \dots, p_N, n_1, \dots, n_N\}}"
    r" \exp(s \cos(a_i, c))}",
    example={"anchor": [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], "positive": [[0.9, 0.1], [0.5, 0.9], [-0.1, 1.0]]},
    inputs=(
        InputSpec("anchor", f"the anchors (queries): {VECTORS}", differentiable=True),
        InputSpec("positive", f"each anchor's positive: {VECTORS}, anchor's shape", differentiable=True),
        InputSpec(
            "negative",
            f"optional hard negatives, one per anchor: {VECTORS}, anchor's shape; every row is a candidate"
            " for every anchor",
            differentiable=True,
            required=False,
        ),
    ),
    shape_rule=AnchoredBatch(),
    params=(SCALE,),
    batch=True,
)
def multiple_negatives_ranking(
    anchor: Array, positive: Array, negative: Array | None = None, *, scale: float = 20.0
) -> Unreduced:
    """Multiple negatives ranking loss (InfoNCE with in-batch negatives), per anchor.

    The candidates are the ``N`` positives, followed by the ``N`` hard negatives when given
    (sentence-transformers appends them as extra columns): ``z_ij = scale * cos(a_i, c_j)`` and
    ``l_i = logsumexp_j z_ij - z_ii``, the cross-entropy of row ``i`` against column ``i``.
    sentence-transformers' loss is the mean of ``l`` (``CrossEntropyLoss`` with its default
    ``mean``): this service's ``mean``. ``cos`` is the dot product of rows normalised by
    ``x / max(|x|, 1e-12)`` (``cos_sim``), in the reference's order: ``(u v^T) * scale``.

    Stable form: ``l_i = log1p(sum_{j != k} exp(z_ij - m_i)) + (m_i - z_ii)`` with ``m_i = z_ik``
    the row maximum: no exponential overflows, both terms are >= 0 so nothing cancels, and
    ``log1p`` keeps a nearly certain anchor's tiny loss to full precision (the reference's
    ``-(z_ii - logsumexp z_i)`` cancels there: at scale 40 it gives -0.0 where the loss is
    1.19e-14). A
    large ``scale`` (a saturated softmax) stays finite: ``l_i`` tends to ``max_j z_ij - z_ii``
    and the gradient to that of the winning column; a scale so large that ``z`` overflows is a
    non-finite result (422).

    Gradient: ``dl_i/dz_ij = softmax_j(z_i) - [j = i]`` (at ``j = i`` formed as minus the other
    columns' softmax, which does not cancel); ``dz/du = scale v``, ``dz/dv = scale u``,
    then through the normalisation (module docstring). Degenerate inputs: a zero row has cosine
    0 with every row (its gradient is 1e12 times that of its unit vector, as PyTorch's); a
    batch of one without negatives has the single candidate, loss 0 and gradient 0.

    Shapes: ``anchor``, ``positive`` and the optional ``negative``: ``(N, D)``; ``l``: ``(N,)``.
    """
    n = anchor.shape[0]
    u, pull_anchor = unit_rows(anchor, NORMALIZE_EPS)
    candidates = positive if negative is None else np.concatenate([positive, negative])
    v, pull_candidates = unit_rows(candidates, NORMALIZE_EPS)
    logits = (u @ v.T) * scale
    rows = np.arange(n)
    top, log1p_rest, softmax = logsumexp_rows(logits)
    values = log1p_rest + (top - logits[rows, rows])  # two terms >= 0: nothing cancels

    # softmax_ii - 1 is minus the softmax of the other candidates: no cancellation for a certain anchor
    own = softmax[rows, rows].copy()
    softmax[rows, rows] = 0
    not_own = np.sum(softmax, axis=1)
    softmax[rows, rows] = own

    def vjp(g: Array) -> dict[str, Array]:
        d_logits = g[:, None] * softmax
        d_logits[rows, rows] = -g * not_own
        d_logits *= scale
        d_candidates = pull_candidates(d_logits.T @ u)
        grads = {"anchor": pull_anchor(d_logits @ v), "positive": d_candidates[:n]}
        if negative is not None:
            grads["negative"] = d_candidates[n:]
        return grads

    return Unreduced(values, vjp)


@family.loss(
    summary="CoSENT: log(1 + sum of exp(scale (cos_k - cos_i))) over the pairs of pairs whose target"
    " score ranks pair i above pair k.",
    reference="sentence_transformers.losses.CoSENTLoss",
    formula=r"\ell = \log\Big(1 + \sum_{y_i > y_k} \exp\big(s \cos(x_{1k}, x_{2k}) - s \cos(x_{1i}, x_{2i})\big)\Big)",
    example={
        "x1": [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]],
        "x2": [[0.9, 0.1], [0.8, 0.6], [1.0, 0.2]],
        "y_true": [0.9, 0.6, 0.1],
    },
    inputs=(
        InputSpec("x1", f"the first vectors of the pairs: {VECTORS}", differentiable=True),
        InputSpec("x2", f"the second vectors of the pairs: {VECTORS}, x1's shape", differentiable=True),
        InputSpec(
            "y_true", "the target similarity score of each pair (any real numbers; only their order counts), (N,)"
        ),
    ),
    shape_rule=ScoredPairs(),
    params=(SCALE,),
    scalar=True,
)
def cosent(x1: Array, x2: Array, y_true: Array, *, scale: float = 20.0) -> Unreduced:
    """CoSENT loss, one value for the batch: ``l = log(1 + sum_{y_i > y_k} exp(s_k - s_i))``.

    ``s = scale * cos(x1, x2)`` per pair (``pairwise_cos_sim``: rows normalised by
    ``x / max(|x|, 1e-12)``). Every ordered pair of pairs whose targets differ contributes once:
    the pair with the lower target should have the lower cosine. As sentence-transformers 6.3,
    the sum is formed without the ``N x N`` matrix: pairs sorted by target, ``t_k = s_k +
    log sum_{y_i > y_k} exp(-s_i)`` by a suffix log-cumulative-sum-exp, ``l = logsumexp(0, t)``.

    Stable form: every ``logsumexp`` subtracts its maximum (``np.logaddexp`` for the running
    sums), so no exponential overflows; the leading 0 is the ``1 +``; the last one is
    ``m + log1p(sum of the other terms)`` (``m >= 0``), exact for a tiny loss too.

    Gradient: ``dl/ds_k = exp(t_k - l) - exp(P_k - s_k - l)`` with ``P_k = log sum_{y_i < y_k}
    exp(s_i)`` (both exponents are <= 0); ``ds/dcos = scale``; then through the normalisation
    (module docstring). Degenerate inputs: ties add no pair; with no pair at all (every target
    equal, or a batch of one) ``l = log 1 = 0`` with gradient 0, as sentence-transformers
    returns. A zero row has cosine 0. A large ``scale`` stays finite (``l`` tends to the largest
    ``s_k - s_i``); one so large that ``s`` overflows is a non-finite result (422).

    Shapes: ``x1``, ``x2``: ``(N, D)``; ``y_true``: ``(N,)``; ``l``: ``()``.
    """
    u1, pull1 = unit_rows(x1, NORMALIZE_EPS)
    u2, pull2 = unit_rows(x2, NORMALIZE_EPS)
    order = np.argsort(y_true, kind="stable")
    labels = y_true[order]
    s = (np.sum(u1 * u2, axis=-1) * scale)[order]
    above = np.searchsorted(labels, labels, side="right")  # first pair with a strictly higher target
    below = np.searchsorted(labels, labels, side="left")  # pairs [0, below) have a strictly lower target
    minus_inf = np.full(1, -np.inf, dtype=s.dtype)
    suffix = np.concatenate([np.logaddexp.accumulate(-s[::-1])[::-1], minus_inf])  # log sum_{j >= k} exp(-s_j)
    prefix = np.concatenate([minus_inf, np.logaddexp.accumulate(s)])  # log sum_{j < k} exp(s_j)
    t = s + suffix[above]
    top, log1p_rest, _ = logsumexp_rows(np.concatenate([np.zeros(1, dtype=t.dtype), t]))
    loss = top + log1p_rest  # top >= 0 (the leading 0 is a candidate): two terms >= 0
    d_sorted = np.exp(t - loss) - np.exp(prefix[below] - s - loss)
    d_cos = np.empty_like(d_sorted)
    d_cos[order] = d_sorted * scale

    def vjp(g: Array) -> dict[str, Array]:
        k = (g * d_cos)[:, None]
        return {"x1": pull1(k * u2), "x2": pull2(k * u1)}

    return Unreduced(np.asarray(loss), vjp)


GROUP_IDS = InputSpec(
    "y_true", "the group of each embedding: embeddings with the same id are positive pairs, (N,)", integer=True
)
EMBEDDINGS = InputSpec("y_pred", f"the embeddings: {VECTORS}", differentiable=True)


@family.loss(
    summary="NT-Xent (normalized temperature-scaled cross entropy) over every positive pair of the batch,"
    " each against the negatives of its anchor.",
    reference="optax.losses.ntxent",
    formula=r"\ell = \frac{1}{|P|} \sum_{(i, j) \in P} -\log \frac{\exp(c_{ij} / \tau)}{\exp(c_{ij} / \tau)"
    r" + \sum_{k: y_k \ne y_i} \exp(c_{ik} / \tau)}",
    example={
        "y_pred": [[1.0, 0.0], [0.9, 0.2], [0.0, 1.0], [0.1, 0.9]],
        "y_true": [0, 0, 1, 1],
        "params": {"temperature": 0.5},
    },
    inputs=(EMBEDDINGS, GROUP_IDS),
    shape_rule=LabelledEmbeddings(scalar=True),
    params=(ParamSpec("temperature", "number", "divides the cosine similarities", gt=0),),
    scalar=True,
)
def ntxent(y_pred: Array, y_true: Array, *, temperature: float = 0.07) -> Unreduced:
    """NT-Xent, one value for the batch: the mean over the positive pairs of a softmax cross-entropy.

    ``x_ij = cos(e_i, e_j) / temperature``, the rows normalised as optax does:
    ``e / sqrt(max(|e|^2, eps))``, ``eps`` the machine epsilon of the computation's dtype
    (float64: 2.2e-16; float32: 1.2e-7), i.e. the norm floored at ``sqrt(eps)``. The positive
    pairs ``P`` are the ordered pairs ``(i, j)``, ``i != j``, with ``y_i = y_j``; the negatives of
    ``i`` the ``k`` with ``y_k != y_i``. Each positive pair has its own softmax over itself and
    the negatives of its anchor (other positives are not in it, as optax):
    ``l = (1 / |P|) sum_{(i, j) in P} softplus(L_i - x_ij)``, ``L_i = logsumexp_{k neg i} x_ik``.

    Stable form: ``log(exp(x_ij) + exp(L_i)) - x_ij = softplus(L_i - x_ij)``, with ``L_i`` a
    max-shifted log-sum-exp. (optax shifts each row by its maximum over positives and negatives
    together, which can underflow both terms of a pair's denominator for a tiny temperature and
    give an infinite loss where the true one is finite; elsewhere the two agree to rounding.)

    Gradient: ``dl/dx_ij = -sigmoid(L_i - x_ij) / |P|`` for ``(i, j)`` in ``P``;
    ``dl/dx_ik = softmax_k(x_i over the negatives) sum_{j: (i, j) in P} sigmoid(L_i - x_ij) / |P|``;
    ``dx/dC = 1 / temperature`` with ``C = u u^T`` (so each row gets ``(dC + dC^T) u``), then
    through the normalisation (module docstring).

    Degenerate inputs: with no positive pair (every id distinct, or a batch of one) the loss is
    0/0, undefined: a 422 at ``/y_true`` (optax returns NaN). An anchor with no negative (a
    single group) has ``L_i = -inf``: each of its pairs adds 0. A zero row has cosine 0.

    Shapes: ``y_pred``: ``(N, D)``; ``y_true``: ``(N,)`` integers; ``l``: ``()``.
    """
    same = y_true[:, None] == y_true[None, :]
    positive = same & ~np.eye(len(y_true), dtype=bool)
    count = int(np.count_nonzero(positive))
    if count == 0:
        raise InvalidInput(
            "ntxent needs at least one positive pair: it is the mean over the positive pairs",
            [Issue(("y_true",), "no two embeddings share a group id, so there is no positive pair to average over")],
        )
    floor = float(np.sqrt(np.finfo(y_pred.dtype).eps))
    u, pull = unit_rows(y_pred, floor)
    x = (u @ u.T) / temperature
    lse, weights = masked_logsumexp(x, ~same)
    gap = np.where(positive, lse[:, None] - x, 0)
    values = np.sum(np.where(positive, softplus(gap), 0)) / count
    pulled = np.where(positive, sigmoid(gap), 0) / count

    def vjp(g: Array) -> dict[str, Array]:
        d_x = g * (weights * np.sum(pulled, axis=1, keepdims=True) - pulled)
        return {"y_pred": pull(_gram_pullback(d_x / temperature, u))}

    return Unreduced(np.asarray(values), vjp)


@family.loss(
    summary="Circle loss: softplus of the log-sum-exp of weighted positive and negative cosine distances,"
    " the batch being its own reference.",
    reference="keras.losses.circle",
    formula=r"\ell = \operatorname{softplus}\Big(\log \sum_{j \in P_i} e^{-\gamma \alpha^p_{ij} (m - d_{ij})}"
    r" + \log \sum_{k \in N_i} e^{\gamma \alpha^n_{ik} (1 - m - d_{ik})}\Big)",
    example={"y_true": [0, 0, 1, 1], "y_pred": [[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.0, 1.0]]},
    inputs=(
        InputSpec("y_true", "the integer label of each embedding, (N,)", integer=True),
        InputSpec(
            "y_pred", f"the embeddings, used as given (L2-normalise them for cosines): {VECTORS}", differentiable=True
        ),
    ),
    shape_rule=LabelledEmbeddings(),
    params=(
        ParamSpec("gamma", "number", "the scale of the weighted distances"),
        ParamSpec("margin", "number", "the relaxation margin m: positives aim at distance m, negatives at 1 - m"),
        ParamSpec("remove_diagonal", "boolean", "leave each embedding's similarity with itself out of its positives"),
    ),
    batch=True,
)
def circle(
    y_true: Array, y_pred: Array, *, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True
) -> Unreduced:
    """Circle loss (Sun et al. 2020), per sample, with the batch as its own reference.

    Keras's ``circle`` with ``ref_labels = y_true`` and ``ref_embeddings = y_pred``: the distance
    ``d_ij = max(1 - e_i . e_j, 0)`` of the embeddings as given (Keras does not normalise them);
    positives ``P_i`` the ``j`` with ``y_j = y_i`` (without ``j = i`` when ``remove_diagonal``),
    negatives ``N_i`` the others; weights ``alpha^p = max(m + d, 0)``, ``alpha^n = max(1 + m - d, 0)``;
    ``l_i = softplus(p_i + n_i)`` with ``p_i = logsumexp_{P_i} -gamma alpha^p (m - d)`` and
    ``n_i = logsumexp_{N_i} gamma alpha^n (1 - m - d)``. ``mean`` is the sum over all N
    samples divided by N (the Keras class masks out the samples whose loss is 0 and averages the
    rest: its number is this ``sum`` over the count of positive values).

    Stable form: masked log-sum-exps with their maxima subtracted; ``softplus(x) = max(x, 0) +
    log1p(exp(-|x|))``. A sample with no positive or no negative (a label of its own, a batch of
    one, a single label) has ``p_i`` or ``n_i = -inf``: ``l_i = 0`` with no gradient through it
    (it still serves as a reference for the others).

    Gradient (PyTorch's autograd through the same expression with ``clamp_min``, which passes
    the gradient at equality; JAX's ``maximum`` splits it in half at a tie): ``dl_i/ds_i =
    sigmoid(s_i)``, ``s_i = p_i + n_i``; softmax weights within ``P_i`` and ``N_i``;
    ``d(-gamma alpha^p (m - d))/dd = -gamma ((m - d) [m + d >= 0] - alpha^p)``,
    ``d(gamma alpha^n (1 - m - d))/dd = -gamma ((1 - m - d) [1 + m - d >= 0] + alpha^n)``,
    ``dd/d(e_i . e_j) = -[1 - e_i . e_j >= 0]``; the Gram matrix sends each row
    ``(dG + dG^T) e``. Large embeddings make ``d`` large and the loss can exceed the float
    range: a non-finite result (422).

    Shapes: ``y_true``: ``(N,)`` integers; ``y_pred``: ``(N, D)``; ``l``: ``(N,)``.
    """
    n = len(y_true)
    same = y_true[:, None] == y_true[None, :]
    positive = same & ~np.eye(n, dtype=bool) if remove_diagonal else same
    negative = ~same
    raw = 1 - y_pred @ y_pred.T
    d = np.maximum(raw, 0)
    pos_raw, neg_raw = margin + d, 1 + margin - d
    pos_weight, neg_weight = np.maximum(pos_raw, 0), np.maximum(neg_raw, 0)
    pos_logits = -gamma * pos_weight * (margin - d)
    neg_logits = gamma * neg_weight * ((1 - margin) - d)
    p, pos_softmax = masked_logsumexp(pos_logits, positive)
    q, neg_softmax = masked_logsumexp(neg_logits, negative)
    s = p + q
    defined = positive.any(axis=1) & negative.any(axis=1)  # else p or q is -inf: l = softplus(-inf) = 0
    safe_s = np.where(defined, s, 0)
    values = np.where(defined, softplus(safe_s), 0)
    ds = np.where(defined, sigmoid(safe_s), 0)[:, None]
    # The slopes over -gamma; gamma multiplies sigmoid(s) first, which is in [0, 1]: where the loss saturates
    # at 0 (sigmoid(s) = 0, e.g. gamma = -1e308) the gradient is 0, not 0 times an overflowed slope (NaN).
    unit_pos = (margin - d) * (pos_raw >= 0) - pos_weight
    unit_neg = ((1 - margin) - d) * (neg_raw >= 0) + neg_weight
    # where() rather than a product: an entry outside a mask weighs 0 even where its slope overflowed
    d_dist = (ds * -gamma) * (
        np.where(positive, pos_softmax * unit_pos, 0) + np.where(negative, neg_softmax * unit_neg, 0)
    )
    d_gram = -d_dist * (raw >= 0)

    def vjp(g: Array) -> dict[str, Array]:
        return {"y_pred": _gram_pullback(g[:, None] * d_gram, y_pred)}

    return Unreduced(values, vjp)
