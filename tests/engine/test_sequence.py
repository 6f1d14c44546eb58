"""The sequence losses (``service/engine/losses/sequence.py``): ``ctc``.

PyTorch (``ctc_loss``) is the reference. Besides the cases' finite differences and parity: small
cases worked out by hand, a brute-force enumeration of every alignment (an independent reference
for values and gradients), PyTorch's conventions (mean, empty targets, zero_infinity, unnormalised
inputs), saturated inputs, domains and shapes.

The kit hands a maker a shape of rank 2 or 3 with sides in [2, 4]; for CTC it means
``N = shape[0]`` sequences, ``S = shape[1]`` target slots, ``C = shape[-1] + 2`` classes (blank
included: at least two labels, so repeats and non-repeats both occur) unless the case fixes ``C``,
and ``T = 2 S + 1`` frames, enough for any target of length ``S`` even with every neighbour
repeated (``S + (S - 1)`` frames). ``log_probs`` are ``log_softmax`` outputs (the loss's domain:
PyTorch's gradient is the derivative only through a ``log_softmax``, see
``service.engine.losses.sequence.ctc``).

The brute force sums ``prod_t q[t, pi_t]`` over all ``C ** T`` alignments ``pi`` that collapse
(merge repeats, drop blanks) to the target; the posterior ``gamma[t, c]`` is the share of that
sum whose alignment emits ``c`` at ``t``, and the gradient with respect to ``log_probs`` (through
the per-frame ``log_softmax``) is ``q sum_c gamma - gamma``.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute
from tests.support.engine import Case, Inputs, LossTests, Maker, TorchParity, refused, run

SPEC = CATALOG["ctc"]
NAMES = ("log_probs", "targets", "input_lengths", "target_lengths")


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def ctc_inputs(
    *, blank: int = 0, n_classes: int | None = None, empty_targets: bool = False, infeasible: bool = False
) -> Maker:
    """A CTC batch maker: random feasible targets (with repeats), lengths and ``log_softmax`` scores.

    ``blank``: the case's blank (never drawn as a label). ``n_classes``: a fixed ``C`` (else
    ``shape[-1] + 2``). ``empty_targets``: about half the targets have length 0.
    ``infeasible``: sequence 0 gets a full-length target and one frame fewer than it needs
    (for ``zero_infinity`` cases). Padding past a target's length holds garbage (-1, the blank,
    out-of-range classes): it must be ignored.
    """

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        batch, slots = shape[0], shape[1]
        classes = n_classes if n_classes is not None else shape[-1] + 2
        frames = 2 * slots + 1
        labels = np.array([c for c in range(classes) if c != blank])
        targets = rng.choice(labels, (batch, slots))
        repeat = rng.uniform(size=(batch, slots)) < 0.3  # make repeated neighbours common
        for s in range(1, slots):
            targets[:, s] = np.where(repeat[:, s], targets[:, s - 1], targets[:, s])
        target_lengths = rng.integers(0, slots + 1, batch)
        if empty_targets:
            target_lengths = np.where(rng.uniform(size=batch) < 0.5, 0, target_lengths)
        if infeasible:
            target_lengths[0] = slots
        counted = np.arange(slots) < target_lengths[:, None]
        repeats = np.sum(counted[:, 1:] & (targets[:, 1:] == targets[:, :-1]), axis=1)
        needed = target_lengths + repeats
        input_lengths = rng.integers(needed, frames + 1)
        if infeasible:
            input_lengths[0] = needed[0] - 1
        garbage = rng.choice([-1, blank, classes, classes + 3], (batch, slots))
        targets = np.where(counted, targets, garbage).astype(np.int64)
        return {
            "log_probs": log_softmax(rng.normal(0, 1.5, (frames, batch, classes))),
            "targets": targets,
            "input_lengths": input_lengths.astype(np.int64),
            "target_lengths": target_lengths.astype(np.int64),
        }

    return make


def torch_ctc(torch: Any, t: dict[str, Any], p: dict[str, Any], reduction: str) -> Any:
    return torch.nn.functional.ctc_loss(
        t["log_probs"],
        t["targets"],
        t["input_lengths"],
        t["target_lengths"],
        blank=p.get("blank", 0),
        reduction=reduction,
        zero_infinity=p.get("zero_infinity", False),
    )


def named(*arrays: Any) -> dict[str, Any]:
    """(log_probs, targets, input_lengths, target_lengths) by name."""
    return dict(zip(NAMES, arrays, strict=True))


def ctc(
    *arrays: Any,
    params: dict | None = None,
    reduction: Any = "none",
    sample_weight: Any = None,
    dtype: Any = "float64",
) -> tuple[Any, np.ndarray]:
    """``ctc`` on (log_probs, targets, input_lengths, target_lengths): the loss and d loss / d log_probs."""
    inputs = {k: np.asarray(v) for k, v in named(*arrays).items()}
    inputs["log_probs"] = inputs["log_probs"].astype(float)
    result = run("ctc", params, reduction, sample_weight=sample_weight, dtype=dtype, **inputs)
    assert result.grads is not None and set(result.grads) == {"log_probs"}
    return result.loss, result.grads["log_probs"]


def refused_ctc(*arrays: Any, params: dict | None = None) -> InvalidInput:
    return refused("ctc", params, **named(*arrays))


def collapse(path: tuple[int, ...], blank: int) -> list[int]:
    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    return [c for c in merged if c != blank]


def brute_force(log_q: np.ndarray, target: list[int], frames: int, blank: int) -> tuple[float, np.ndarray]:
    """-log P and gamma (T, C) for one sequence, by enumerating every alignment of its first ``frames`` frames."""
    n_frames, n_classes = log_q.shape
    total = 0.0
    occupancy = np.zeros((n_frames, n_classes))
    for path in itertools.product(range(n_classes), repeat=frames):
        if collapse(path, blank) == target:
            probability = math.exp(sum(log_q[t, c] for t, c in enumerate(path)))
            total += probability
            for t, c in enumerate(path):
                occupancy[t, c] += probability
    return -math.log(total), occupancy / total


def infeasible_batch() -> list[np.ndarray]:
    lp = log_softmax(np.random.default_rng(3).normal(size=(5, 3, 4)))
    # sequence 1: target [2, 2, 3] needs 3 + 1 repeat = 4 frames but has 3
    return [lp, np.array([[1, 2, 0], [2, 2, 3], [3, 0, 0]]), np.array([5, 3, 4]), np.array([2, 3, 1])]


class TestCtc(LossTests, TorchParity):
    cases = (
        Case("ctc", ctc_inputs(), torch_reference=torch_ctc),
        # blank = C - 1 (C fixed at 5), and a blank in the middle of the classes
        Case("ctc", ctc_inputs(blank=4, n_classes=5), {"blank": 4}, torch_reference=torch_ctc),
        Case("ctc", ctc_inputs(blank=1), {"blank": 1}, torch_reference=torch_ctc),
        # empty targets: l = -sum_t log q[t, blank]
        Case("ctc", ctc_inputs(empty_targets=True), {"zero_infinity": False}, torch_reference=torch_ctc),
        # an infeasible sequence counted as 0, with the blank last
        Case(
            "ctc",
            ctc_inputs(blank=3, n_classes=4, infeasible=True),
            {"blank": 3, "zero_infinity": True},
            torch_reference=torch_ctc,
        ),
        Case(
            "ctc", ctc_inputs(infeasible=True, empty_targets=True), {"zero_infinity": True}, torch_reference=torch_ctc
        ),
    )

    # Worked by hand

    def test_one_frame_one_label_is_minus_log_p(self) -> None:
        # T = 1, q = [0.2, 0.5, 0.3] (blank 0), target [1]: the only alignment is (1), l = -log 0.5.
        q = [0.2, 0.5, 0.3]
        loss, grad = ctc(np.log([[q]]), [[1]], [1], [1])
        np.testing.assert_allclose(loss, [-math.log(0.5)], rtol=1e-15)
        # dl/dlog_probs = q - gamma, gamma = one-hot of the label: [0.2, 0.5 - 1, 0.3]
        np.testing.assert_allclose(grad, [[[0.2, -0.5, 0.3]]], rtol=1e-14)

    def test_two_frames_sum_the_three_alignments(self) -> None:
        # blank 0, target [2], q_1 = [0.5, 0.3, 0.2], q_2 = [0.4, 0.1, 0.5]. Alignments collapsing to [2]:
        #   (2, 2): 0.2 * 0.5 = 0.10; (2, blank): 0.2 * 0.4 = 0.08; (blank, 2): 0.5 * 0.5 = 0.25; P = 0.43
        q = np.array([[[0.5, 0.3, 0.2]], [[0.4, 0.1, 0.5]]])
        loss, grad = ctc(np.log(q), [[2]], [2], [1])
        np.testing.assert_allclose(loss, [-math.log(0.43)], rtol=1e-15)
        # gamma_1 = [0.25, 0, 0.18] / 0.43 (frame 1 emits blank in (b, 2); 2 in (2, 2), (2, b))
        # gamma_2 = [0.08, 0, 0.35] / 0.43; gradient q - gamma
        gamma = np.array([[[0.25, 0.0, 0.18]], [[0.08, 0.0, 0.35]]]) / 0.43
        np.testing.assert_allclose(grad, q - gamma, rtol=1e-13, atol=1e-16)

    def test_repeated_labels_need_a_blank_between_them(self) -> None:
        # target [1, 1]: 3 frames allow only (1, blank, 1); l = -(log q_1(1) + log q_2(0) + log q_3(1))
        q = np.array([[[0.1, 0.6, 0.3]], [[0.7, 0.2, 0.1]], [[0.2, 0.5, 0.3]]])
        loss, grad = ctc(np.log(q), [[1, 1]], [3], [2])
        np.testing.assert_allclose(loss, [-math.log(0.6 * 0.7 * 0.5)], rtol=1e-15)
        one_hot = np.zeros((3, 1, 3))
        one_hot[[0, 1, 2], 0, [1, 0, 1]] = 1
        np.testing.assert_allclose(grad, q - one_hot, rtol=1e-14, atol=1e-16)
        # 2 frames cannot hold it: refused without zero_infinity, 0 with it
        error = refused_ctc(np.log(q[:2]), [[1, 1]], [2], [2])
        assert [i.location for i in error.issues] == [("input_lengths", 0)]
        assert "needs at least 3" in error.issues[0].detail
        loss, grad = ctc(np.log(q[:2]), [[1, 1]], [2], [2], params={"zero_infinity": True})
        assert loss.tolist() == [0.0] and not grad.any()

    def test_empty_target_is_the_all_blank_alignment(self) -> None:
        # l = -sum_{t < T_n} log q[t, n, blank]; frames past input_lengths do not count
        rng = np.random.default_rng(0)
        lp = log_softmax(rng.normal(size=(4, 2, 3)))
        loss, grad = ctc(lp, [[1], [2]], [4, 2], [0, 0], params={"blank": 2})
        np.testing.assert_allclose(loss, [-lp[:, 0, 2].sum(), -lp[:2, 1, 2].sum()], rtol=1e-14)
        expected = np.exp(lp)
        expected[..., 2] -= 1
        expected[2:, 1] = 0  # frames 2, 3 of sequence 1 are past its length
        np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-16)

    def test_zero_input_length(self) -> None:
        # PyTorch allows input_lengths 0: the empty alignment, P = 1 for an empty target (l = 0); none otherwise
        lp = log_softmax(np.random.default_rng(1).normal(size=(2, 2, 3)))
        loss, grad = ctc(lp, [[1], [1]], [0, 2], [0, 1])
        assert loss[0] == 0.0 and not grad[:, 0].any()
        assert [i.location for i in refused_ctc(lp, [[1], [1]], [0, 2], [1, 1]).issues] == [("input_lengths", 0)]

    # Against every alignment, enumerated

    @pytest.mark.parametrize(("n_classes", "blank"), [(2, 0), (3, 0), (3, 2), (3, 1), (4, 3)])
    def test_matches_the_brute_force_enumeration(self, n_classes: int, blank: int) -> None:
        rng = np.random.default_rng(n_classes * 10 + blank)
        frames = 5 if n_classes < 4 else 4
        labels = [c for c in range(n_classes) if c != blank]
        # sequences: repeats, no repeats, a short input, an empty target, a single label
        rows = [[labels[0], labels[0], labels[-1]], [labels[-1], labels[0], labels[0]], [labels[0]], [], [labels[-1]]]
        input_lengths = [frames, frames, 3, frames - 1, 2]
        targets = [row + [-7] * (3 - len(row)) for row in rows]  # padding holds garbage
        lp = log_softmax(rng.normal(0, 1.5, (frames, len(rows), n_classes)))
        loss, grad = ctc(lp, targets, input_lengths, [len(r) for r in rows], params={"blank": blank})
        for n, (row, length) in enumerate(zip(rows, input_lengths, strict=True)):
            expected, gamma = brute_force(lp[:, n], row, length, blank)
            assert loss[n] == pytest.approx(expected, rel=1e-13)
            q = np.exp(lp[:, n])
            np.testing.assert_allclose(grad[:, n], q * gamma.sum(-1, keepdims=True) - gamma, rtol=1e-11, atol=1e-14)

    def test_brute_force_on_unnormalised_scores_is_the_renormalised_loss(self) -> None:
        # Each frame is renormalised: l(x) = l(log_softmax(x)), and adding a constant to a frame changes nothing.
        rng = np.random.default_rng(5)
        x = rng.normal(0, 3, (4, 1, 3)) + 2.0
        loss, grad = ctc(x, [[1, 2]], [4], [2])
        expected, gamma = brute_force(log_softmax(x)[:, 0], [1, 2], 4, 0)
        assert loss[0] == pytest.approx(expected, rel=1e-13)
        np.testing.assert_allclose(grad[:, 0], np.exp(log_softmax(x)[:, 0]) - gamma, rtol=1e-11, atol=1e-14)
        shifted, _ = ctc(x + rng.normal(0, 10, (4, 1, 1)), [[1, 2]], [4], [2])
        np.testing.assert_allclose(shifted, loss, rtol=1e-13)

    # Reductions

    def test_mean_divides_by_the_clamped_target_lengths(self) -> None:
        lp = log_softmax(np.random.default_rng(2).normal(size=(9, 3, 5)))
        args = [lp, [[4, 0, 0], [1, 1, 0], [2, 3, 2]], [9, 9, 9], [0, 2, 3]]
        values, unit = ctc(*args)
        scale = 1 / np.array([1.0, 2.0, 3.0])  # an empty target divides by max(0, 1) = 1, as PyTorch
        mean, grad = ctc(*args, reduction="mean")
        assert mean == pytest.approx(np.sum(values * scale) / 3, rel=1e-14)
        w = np.array([0.5, 2.0, 1.5])
        weighted, weighted_grad = ctc(*args, reduction="mean", sample_weight=w)
        assert weighted == pytest.approx(np.sum(w * scale * values) / 3, rel=1e-14)  # sum(w s l) / N
        # the gradient of the mean scales each sequence's gradient by w_n s_n / N
        np.testing.assert_allclose(grad, unit * scale[None, :, None] / 3, rtol=1e-14)
        np.testing.assert_allclose(weighted_grad, unit * (w * scale)[None, :, None] / 3, rtol=1e-14)
        total, _ = ctc(*args, reduction="sum")
        assert total == pytest.approx(np.sum(values), rel=1e-14)

    # Infeasible sequences and zero_infinity

    def test_infeasible_sequence_without_zero_infinity_is_refused(self) -> None:
        # PyTorch returns inf (and a NaN gradient); an infinite loss is not a result: 422 pointing at the sequence
        for reduction in ("none", "mean", "sum"):
            with pytest.raises(InvalidInput, match="infinite") as error:
                compute(SPEC, dict(zip(NAMES, infeasible_batch(), strict=True)), reduction=reduction)
            assert [i.location for i in error.value.issues] == [("input_lengths", 1)]
            assert "zero_infinity" in error.value.detail

    def test_zero_infinity_counts_infeasible_sequences_as_zero(self) -> None:
        batch = infeasible_batch()
        loss, grad = ctc(*batch, params={"zero_infinity": True})
        assert loss[1] == 0.0 and not grad[:, 1].any()
        feasible = [batch[0][:, [0, 2]], batch[1][[0, 2]], batch[2][[0, 2]], batch[3][[0, 2]]]
        others, other_grad = ctc(*feasible)
        np.testing.assert_array_equal(loss[[0, 2]], others)
        np.testing.assert_array_equal(grad[:, [0, 2]], other_grad)
        # mean: (l_0 / 2 + 0 / 3 + l_2 / 1) / 3, as PyTorch's zero_infinity mean
        mean, _ = ctc(*batch, params={"zero_infinity": True}, reduction="mean")
        assert mean == pytest.approx((others[0] / 2 + others[1]) / 3, rel=1e-14)

    # PyTorch's conventions, checked against PyTorch where it is installed

    def test_against_torch_on_normalised_and_unnormalised_inputs(self, torch: Any) -> None:
        functional = torch.nn.functional
        inputs = ctc_inputs()(np.random.default_rng(4), (3, 3, 3))
        lengths = [torch.tensor(inputs[k]) for k in ("targets", "input_lengths", "target_lengths")]
        args = [inputs[k] for k in NAMES]

        # log-probabilities: PyTorch's value and its gradient, which is ours (q - gamma) ...
        lp = torch.tensor(inputs["log_probs"], requires_grad=True)
        functional.ctc_loss(lp, *lengths, reduction="sum").backward()
        _, grad = ctc(*args, reduction="sum")
        np.testing.assert_allclose(grad, lp.grad.numpy(), rtol=1e-12, atol=1e-15)
        # ... and not the derivative of PyTorch's own value, -gamma (pytorch/pytorch#52241): they differ by q
        frames = np.arange(inputs["log_probs"].shape[0])[:, None] < inputs["input_lengths"]
        naive = lp.grad.numpy() - np.exp(inputs["log_probs"]) * frames[..., None]
        assert np.abs(naive - grad).max() > 0.1

        # unnormalised scores: ours is ctc_loss(log_softmax(x)) in value and autograd gradient; PyTorch's raw
        # value differs
        x = np.random.default_rng(6).normal(0, 2, inputs["log_probs"].shape) + 1.0
        xt = torch.tensor(x, requires_grad=True)
        expected = functional.ctc_loss(functional.log_softmax(xt, -1), *lengths, reduction="none")
        expected.sum().backward()
        loss, grad = ctc(x, *args[1:])
        np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12, atol=1e-15)
        raw = functional.ctc_loss(torch.tensor(x), *lengths, reduction="none").numpy()
        assert np.abs(raw - loss).min() > 0.1

    # Saturated and degenerate inputs

    def test_saturated_scores_stay_finite(self) -> None:
        # Raw scores of +-1000: the per-frame log_softmax keeps everything finite (PyTorch's raw value would be
        # -1000s and its gradient exp(1000) = inf). The target [1] is near-impossible: l ~ 2000.
        x = np.array([[[1000.0, -1000.0, 0.0]], [[1000.0, -1000.0, 0.0]]])
        loss, grad = ctc(x, [[1]], [2], [1])
        # the best alignment is (blank, 1) or (1, blank): log q(1) = -2000, l = 2000 - log 2
        np.testing.assert_allclose(loss, [2000.0 - math.log(2)], rtol=1e-15)
        # gamma: frame t emits 1 with posterior 1/2 (blank else); q = one-hot of the blank
        np.testing.assert_allclose(grad, [[[0.5, -0.5, 0.0]], [[0.5, -0.5, 0.0]]], atol=1e-15)
        loss32, grad32 = ctc(x, [[1]], [2], [1], dtype="float32")
        assert loss32.dtype == np.float32 and grad32.dtype == np.float32
        np.testing.assert_allclose(loss32, loss, rtol=1e-6)
        # float32 resolves log-values near 2000 to ~1e-4, hence the posteriors' 3e-5 error here (PyTorch's too)
        np.testing.assert_allclose(grad32, grad, atol=1e-4)

    def test_certain_alignment_has_zero_loss(self) -> None:
        # log-probabilities 0 / -1e4: exactly one alignment has probability ~1, l = 0 to rounding, gradient ~0
        lp = np.full((3, 1, 3), -1e4)
        lp[[0, 1, 2], 0, [1, 0, 2]] = 0.0  # (1, blank, 2)
        loss, grad = ctc(lp, [[1, 2]], [3], [2])
        assert loss[0] == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(grad, 0.0, atol=1e-12)

    def test_float32_keeps_its_precision(self) -> None:
        inputs = ctc_inputs()(np.random.default_rng(7), (4, 5, 5))
        args = [inputs[k] for k in NAMES]
        wide, wide_grad = ctc(*args)
        narrow, narrow_grad = ctc(*args, dtype="float32")
        assert narrow.dtype == np.float32 and narrow_grad.dtype == np.float32
        np.testing.assert_allclose(narrow, wide, rtol=1e-5)
        np.testing.assert_allclose(narrow_grad, wide_grad, atol=1e-5)

    def test_padding_is_ignored(self) -> None:
        lp = log_softmax(np.random.default_rng(8).normal(size=(4, 2, 3)))
        clean, _ = ctc(lp, [[1, 2, 0], [2, 0, 0]], [4, 4], [2, 1])
        garbage, _ = ctc(lp, [[1, 2, -5], [2, 0, 99]], [4, 4], [2, 1])  # blank and out-of-range padding
        np.testing.assert_array_equal(clean, garbage)

    # Domains and shapes

    @pytest.mark.parametrize(
        ("change", "location", "words"),
        [
            ({"targets": [[1, 0], [2, 1]]}, ("targets", 0, 1), "other than the blank 0"),
            ({"targets": [[1, 3], [2, 1]]}, ("targets", 0, 1), "[0, 2]"),
            ({"targets": [[1, 2], [-1, 1]]}, ("targets", 1, 0), "[0, 2]"),
            ({"input_lengths": [5, 4]}, ("input_lengths", 0), "in [0, 4]"),
            ({"input_lengths": [4, -1]}, ("input_lengths", 1), "in [0, 4]"),
            ({"target_lengths": [3, 1]}, ("target_lengths", 0), "in [0, 2]"),
            ({"target_lengths": [2, -1]}, ("target_lengths", 1), "in [0, 2]"),
            ({"params": {"blank": 3}}, ("blank",), "[0, 2]"),
        ],
    )
    def test_domain_errors_point_at_the_value(self, change: dict, location: tuple, words: str) -> None:
        base: dict[str, Any] = {
            "log_probs": log_softmax(np.random.default_rng(9).normal(size=(4, 2, 3))),
            "targets": [[1, 2], [2, 1]],
            "input_lengths": [4, 4],
            "target_lengths": [2, 2],
            "params": {},
        }
        base.update(change)
        params = base.pop("params")
        error = refused_ctc(*(base[k] for k in NAMES), params=params)
        assert error.issues[0].location == location
        assert words in error.issues[0].detail

    @pytest.mark.parametrize(
        ("shapes", "name"),
        [
            ({"log_probs": (4, 2)}, "log_probs"),
            ({"log_probs": (4, 2, 3, 1)}, "log_probs"),
            ({"targets": (3, 2)}, "targets"),
            ({"targets": (2,)}, "targets"),
            ({"input_lengths": (3,)}, "input_lengths"),
            ({"target_lengths": (2, 1)}, "target_lengths"),
        ],
    )
    def test_shape_errors(self, shapes: dict, name: str) -> None:
        arrays: dict[str, Any] = {
            "log_probs": np.zeros((4, 2, 3)),
            "targets": np.ones((2, 2), dtype=int),
            "input_lengths": np.full(2, 4),
            "target_lengths": np.full(2, 1),
        }
        for key, shape in shapes.items():
            arrays[key] = np.ones(shape, dtype=arrays[key].dtype)
        with pytest.raises(InvalidInput) as error:
            compute(SPEC, arrays)
        assert error.value.issues[0].location == (name,)

    def test_targets_need_at_least_one_column(self) -> None:
        # every input must be non-empty: a batch of empty targets still sends one padding column
        with pytest.raises(InvalidInput, match="empty"):
            compute(
                SPEC,
                {
                    "log_probs": np.zeros((2, 1, 3)),
                    "targets": np.zeros((1, 0), dtype=int),
                    "input_lengths": [2],
                    "target_lengths": [0],
                },
            )
        loss, _ = ctc(np.log(np.full((2, 1, 3), 1 / 3)), [[0]], [2], [0])
        np.testing.assert_allclose(loss, [2 * math.log(3)], rtol=1e-15)

    def test_lengths_must_be_integers(self) -> None:
        lp = np.log(np.full((2, 1, 3), 1 / 3))
        with pytest.raises(InvalidInput) as error:
            ctc(lp, [[1]], [1.5], [1])
        assert error.value.issues[0].location == ("input_lengths", 0)

    # Speed

    def test_a_typical_batch_is_fast(self) -> None:
        """T = 50, N = 16, C = 20, S = 10 with the gradient: a few ms (Python loops run over T only)."""
        rng = np.random.default_rng(10)
        args = [
            log_softmax(rng.normal(size=(50, 16, 20))),
            rng.integers(1, 20, (16, 10)),
            rng.integers(30, 51, 16),
            rng.integers(0, 11, 16),
        ]
        ctc(*args, reduction="mean")
        start = time.perf_counter()
        ctc(*args, reduction="mean")
        assert time.perf_counter() - start < 0.5  # a generous bound for slow CI machines; ~3 ms here
