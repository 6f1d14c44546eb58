"""Sequence losses: connectionist temporal classification (CTC), one value per sequence.

``log_probs`` is time-major ``(T, N, C)`` as in PyTorch; ``targets`` is ``(N, S)``, padded; the
lengths are ``(N,)``. The forward-backward recursions run in log space over the extended label
sequence (the target with a blank before, between and after its labels), vectorised over the
batch and the label positions, with one Python step per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInput, Issue
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..stable import log_softmax
from ..validate import MAX_ISSUES, require

Shape = tuple[int, ...]


@dataclass(frozen=True)
class CtcShapes:
    """``log_probs`` ``(T, N, C)``, ``targets`` ``(N, S)``, ``input_lengths`` and ``target_lengths`` ``(N,)``.

    The loss is ``(N,)``, one value per sequence. (``S >= 1``: every input must be non-empty, so
    a batch whose targets are all empty still sends one padding column.)
    """

    log_probs: str = "log_probs"
    targets: str = "targets"
    input_lengths: str = "input_lengths"
    target_lengths: str = "target_lengths"
    description: str = "per-sequence: (N,)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return {
            self.log_probs: ("T", "N", "C"),
            self.targets: ("N", "S"),
            self.input_lengths: ("N",),
            self.target_lengths: ("N",),
        }

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        log_probs = shapes[self.log_probs]
        if len(log_probs) != 3:
            raise InvalidInput(
                f"{self.log_probs} has the wrong rank",
                [
                    Issue(
                        (self.log_probs,),
                        f"expected an array of rank 3 (T, N, C), got rank {len(log_probs)} (shape {list(log_probs)})",
                    )
                ],
            )
        batch = log_probs[1]
        targets = shapes[self.targets]
        if len(targets) != 2 or targets[0] != batch:
            raise InvalidInput(
                "input shapes do not match",
                [
                    Issue(
                        (self.targets,),
                        f"{self.targets} has shape {list(targets)} but must have shape (N, S) with N = {batch}"
                        f" ({self.log_probs} has shape (T, N, C) = {list(log_probs)})",
                    )
                ],
            )
        for name in (self.input_lengths, self.target_lengths):
            if shapes[name] != (batch,):
                raise InvalidInput(
                    "input shapes do not match",
                    [
                        Issue(
                            (name,),
                            f"{name} has shape {list(shapes[name])} but must have shape [{batch}] (one length per"
                            f" sequence, N = {batch})",
                        )
                    ],
                )
        return (batch,)


family = Family("sequence", shape_rule=CtcShapes())


def _logsumexp3(a: Array, b: Array, c: Array) -> Array:
    """``log(exp(a) + exp(b) + exp(c))`` elementwise, shifted by the maximum; ``-inf`` where all three are."""
    top = np.maximum(np.maximum(a, b), c)
    shift = np.where(np.isneginf(top), 0.0, top)
    return shift + np.log(np.exp(a - shift) + np.exp(b - shift) + np.exp(c - shift))


@family.loss(
    summary="Connectionist temporal classification: -log of the total probability of every alignment of the "
    "target to the frames, per sequence.",
    reference="torch.nn.functional.ctc_loss (mean: each loss divided by its target length, clamped to >= 1, "
    "then the mean over the batch)",
    formula=r"\ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(t)} \prod_{\tau = 1}^{T} p_{\tau}(\pi_{\tau})",
    example={
        "log_probs": [[[-0.5, -1.5, -2.0]], [[-1.0, -0.6, -2.0]], [[-0.4, -2.0, -1.5]]],
        "targets": [[1]],
        "input_lengths": [3],
        "target_lengths": [1],
    },
    inputs=(
        InputSpec(
            "log_probs",
            "log-probabilities (T, N, C), time first, blank included (e.g. log_softmax outputs; each frame is "
            "renormalised with log_softmax, the identity for log-probabilities)",
            differentiable=True,
        ),
        InputSpec(
            "targets",
            "target class indices (N, S), padded: only the first target_lengths[n] entries of row n count, each "
            "in [0, C) and not the blank; S >= 1",
            integer=True,
        ),
        InputSpec("input_lengths", "frames per sequence (N,), each in [0, T]", integer=True),
        InputSpec("target_lengths", "target length per sequence (N,), each in [0, S]", integer=True),
    ),
    params=(
        ParamSpec("blank", "integer", "the class index of the blank label (must be < C)", ge=0),
        ParamSpec(
            "zero_infinity",
            "boolean",
            "count sequences too short for their target (no alignment: infinite loss) as loss 0 with zero "
            "gradient; when false such a request is refused (422)",
        ),
    ),
)
def ctc(
    log_probs: Array,
    targets: Array,
    input_lengths: Array,
    target_lengths: Array,
    *,
    blank: int = 0,
    zero_infinity: bool = False,
) -> Unreduced:
    """Connectionist temporal classification (PyTorch ``ctc_loss``), per sequence:
    ``l_n = -log sum_{pi in B^-1(y_n)} prod_{t < T_n} q[t, n, pi_t]``.

    ``B`` collapses an alignment ``pi`` (one class per frame) by merging repeats and then dropping
    blanks; ``y_n`` is ``targets[n, :target_lengths[n]]`` and ``T_n = input_lengths[n]``. The sum is
    the forward (alpha) recursion over the extended sequence ``l' = (blank, y_1, blank, ..., y_S,
    blank)``: ``alpha_t(s) = q_t(l'_s) (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2))``,
    the skip allowed when ``l'_s`` is a label different from ``l'_{s-2}``. It runs in log space
    (log-sum-exp shifted by the maximum, ``-inf`` for unreachable states), so nothing under- or
    overflows for finite inputs.

    **Normalisation.** ``log q = log_softmax(log_probs)`` over the class axis, per frame. For
    log-probabilities (a ``log_softmax`` output, as PyTorch requires) this is the identity up to
    rounding, and the value is PyTorch's. The reason is the gradient: PyTorch's ``ctc_loss``
    backward returns ``exp(log_probs) - gamma`` (Graves et al. 2006, eq. 16: the gradient with
    respect to the *logits* under a softmax), not the derivative of its own value, which is
    ``-gamma`` (``gamma[t, n, c]``: the posterior probability that frame ``t`` emits ``c``;
    pytorch/pytorch#52241, #82545). Differentiating ``l(log_softmax(log_probs))`` gives exactly
    PyTorch's gradient, ``q sum_c(gamma) - gamma = q - gamma`` on the frames ``t < T_n`` (0 beyond),
    and is a true derivative (it passes finite differences), so on log-probabilities this service
    agrees with PyTorch in both value and gradient. On unnormalised scores it differs from PyTorch,
    which is then inconsistent with itself: PyTorch's value is the CTC of the raw scores (it can be
    negative, and adding a constant to a frame changes it) while its gradient is the one of the
    renormalised scores evaluated with the raw posteriors; here both value and gradient are those
    of the renormalised scores, i.e. ``ctc_loss(log_softmax(x))`` in PyTorch (values and autograd
    gradients agree there), and the loss is finite for any finite input.

    **Infeasible samples.** A target needs ``target_lengths[n] + repeats`` frames (a blank must
    separate equal neighbours). With fewer, no alignment exists and PyTorch returns ``inf``. With
    ``zero_infinity`` the loss and its gradient are 0 there (as PyTorch). Without it the request is
    refused (422) with a pointer at ``/input_lengths/n``: an infinite loss is not a result this
    service can return (PyTorch's ``inf``, and its NaN gradient). An empty target is feasible for
    any length: ``l_n = -sum_{t < T_n} log q[t, n, blank]``, 0 when ``T_n = 0`` (PyTorch allows
    ``input_lengths`` 0).

    ``mean`` divides each sequence's loss by its target length clamped to at least 1, then takes
    the mean over the batch, as PyTorch (``mean_scale = 1 / max(target_lengths, 1)``; sample
    weights multiply on top: ``sum(w l / max(L, 1)) / N``). No kinks: the loss is smooth in
    ``log_probs``.

    Gradient (of ``l_n``): ``dl_n/dlog_probs[t, n, c] = q[t, n, c] sum_c' gamma[t, n, c'] -
    gamma[t, n, c]``, ``gamma[t, n, c] = sum_{s: l'_s = c} alpha_t(s) beta_t(s) / (q_t(c) p_n)``
    (with the beta recursion run backward from the last two states; ``sum_c gamma = 1`` for
    ``t < T_n`` and 0 beyond).

    Shapes: ``log_probs``: ``(T, N, C)``; ``targets``: ``(N, S)`` integers, in [0, C) and not the
    blank within ``target_lengths[n]``, anything after (padding); ``input_lengths``: ``(N,)`` in
    [0, T]; ``target_lengths``: ``(N,)`` in [0, S]; ``blank`` < C. ``l``: ``(N,)``.
    """
    n_frames, _, n_classes = log_probs.shape
    max_target = targets.shape[1]
    dtype = log_probs.dtype
    if blank >= n_classes:
        raise InvalidInput(
            "blank is not a class of log_probs",
            [Issue(("blank",), f"blank must be a class index in [0, {n_classes - 1}] (C = {n_classes})", "param")],
        )
    require("input_lengths", (input_lengths >= 0) & (input_lengths <= n_frames), input_lengths, f"in [0, {n_frames}]")
    require(
        "target_lengths",
        (target_lengths >= 0) & (target_lengths <= max_target),
        target_lengths,
        f"in [0, {max_target}]",
    )
    counted = np.arange(max_target) < target_lengths[:, None]
    label_ok = (targets >= 0) & (targets < n_classes) & (targets != blank)
    require(
        "targets",
        label_ok | ~counted,
        targets,
        f"a class index in [0, {n_classes - 1}] other than the blank {blank} (within target_lengths)",
    )
    labels = np.where(counted, targets, blank)  # padding never reaches the recursions
    repeats = np.sum(counted[:, 1:] & (labels[:, 1:] == labels[:, :-1]), axis=1)
    infeasible = input_lengths < target_lengths + repeats
    if infeasible.any() and not zero_infinity:
        _refuse_infeasible(infeasible, input_lengths, target_lengths, repeats)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return _ctc(log_probs, labels, input_lengths, target_lengths, blank, zero_infinity, dtype)


def _refuse_infeasible(infeasible: Array, input_lengths: Array, target_lengths: Array, repeats: Array) -> None:
    samples = np.flatnonzero(infeasible)
    issues = [
        Issue(
            ("input_lengths", int(n)),
            f"{int(input_lengths[n])} frames cannot align a target of length {int(target_lengths[n])} with"
            f" {int(repeats[n])} repeated neighbour(s): it needs at least {int(target_lengths[n] + repeats[n])}",
        )
        for n in samples[:MAX_ISSUES]
    ]
    raise InvalidInput(
        f"the ctc loss is infinite for {samples.size} sequence(s) (no alignment exists); "
        "set zero_infinity to true to count them as 0",
        issues,
    )


def _ctc(
    log_probs: Array,
    labels: Array,
    input_lengths: Array,
    target_lengths: Array,
    blank: int,
    zero_infinity: bool,
    dtype: np.dtype,
) -> Unreduced:
    n_frames, batch, n_classes = log_probs.shape
    width = 2 * labels.shape[1] + 1  # the extended sequence: blank, y_1, blank, ..., y_S, blank
    log_q = log_softmax(log_probs)
    extended = np.full((batch, width), blank, dtype=np.int64)
    extended[:, 1::2] = labels
    ext_length = 2 * target_lengths + 1
    position = np.arange(width)
    valid = position < ext_length[:, None]
    skip = np.zeros((batch, width), dtype=bool)  # s - 2 -> s allowed
    skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])
    # emit[t, n, s] = log q[t, n, l'_s]; -inf past the sample's extended sequence.
    emit = np.where(valid, log_q[:, np.arange(batch)[:, None], extended], -np.inf)
    minus_inf = np.full((batch, width), -np.inf, dtype=dtype)

    alpha = np.full((n_frames, batch, width), -np.inf, dtype=dtype)
    alpha[0, :, :2] = emit[0, :, :2]
    for t in range(1, n_frames):
        previous = alpha[t - 1]
        one = minus_inf.copy()
        one[:, 1:] = previous[:, :-1]
        two = minus_inf.copy()
        two[:, 2:] = np.where(skip[:, 2:], previous[:, :-2], -np.inf)
        alpha[t] = _logsumexp3(previous, one, two) + emit[t]

    rows = np.arange(batch)
    final = alpha[np.maximum(input_lengths - 1, 0), rows]  # (N, width): alpha at each sample's last frame
    last = final[rows, ext_length - 1]
    before_last = np.where(ext_length >= 2, final[rows, np.maximum(ext_length - 2, 0)], -np.inf)
    log_p = np.logaddexp(last, before_last)
    log_p = np.where(input_lengths == 0, np.where(target_lengths == 0, 0.0, -np.inf), log_p).astype(dtype, copy=False)
    nll = -log_p
    dead = np.isinf(nll) if zero_infinity else np.zeros(batch, dtype=bool)
    values = np.where(dead, 0.0, nll)
    mean_scale = (1.0 / np.maximum(target_lengths, 1)).astype(dtype)

    def vjp(g: Array) -> dict[str, Array]:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            unit = _unit_gradient(alpha, emit, extended, skip, ext_length, input_lengths, nll, log_q, n_classes)
        unit[:, dead, :] = 0.0
        return {"log_probs": unit * g[None, :, None]}

    return Unreduced(values, vjp, mean_scale=mean_scale)


def _unit_gradient(
    alpha: Array,
    emit: Array,
    extended: Array,
    skip: Array,
    ext_length: Array,
    input_lengths: Array,
    nll: Array,
    log_q: Array,
    n_classes: int,
) -> Array:
    """``dl_n/dlog_probs`` for each sequence (cotangent 1): ``q sum_c(gamma) - gamma``, from the beta recursion."""
    n_frames, batch, width = alpha.shape
    dtype = alpha.dtype
    position = np.arange(width)
    ends = (position == (ext_length - 1)[:, None]) | (position == (ext_length - 2)[:, None])
    minus_inf = np.full((batch, width), -np.inf, dtype=dtype)
    beta = np.full((n_frames, batch, width), -np.inf, dtype=dtype)
    following = minus_inf
    for t in range(n_frames - 1, -1, -1):
        one = minus_inf.copy()
        one[:, :-1] = following[:, 1:]
        two = minus_inf.copy()
        two[:, :-2] = np.where(skip[:, 2:], following[:, 2:], -np.inf)
        recursed = _logsumexp3(following, one, two) + emit[t]
        starts = (input_lengths - 1 == t)[:, None] & ends
        beta[t] = following = np.where(starts, emit[t], recursed)
    # alpha and beta both include frame t's emission: divide it out once, and divide by p_n.
    reachable = ~(np.isneginf(alpha) | np.isneginf(beta))
    log_occupancy = np.where(reachable, alpha + beta - emit + nll[None, :, None], -np.inf)
    occupancy = np.exp(log_occupancy)  # (T, N, width), each in [0, 1]
    one_hot = np.zeros((batch, width, n_classes), dtype=dtype)
    np.put_along_axis(one_hot, extended[:, :, None], 1.0, axis=2)
    gamma = np.matmul(occupancy.transpose(1, 0, 2), one_hot).transpose(1, 0, 2)  # (T, N, C)
    return np.exp(log_q) * np.sum(gamma, axis=-1, keepdims=True) - gamma
