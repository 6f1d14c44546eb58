"""Cases for the sequence losses added by the catalog issue: ``ctc``.

The property and gradient suites hand a maker a shape of rank 2 or 3 with sides in [1, 5]; for
CTC it means ``N = shape[0]`` sequences, ``S = shape[1]`` target slots, ``C = shape[-1] + 2``
classes (blank included: at least two labels, so repeats and non-repeats both occur) unless the
case fixes ``C``, and ``T = 2 S + 1`` frames, enough for any target of length ``S`` even with every
neighbour repeated (``S + (S - 1)`` frames). ``log_probs`` are ``log_softmax`` outputs (the loss's
domain: PyTorch's gradient is the derivative only through a ``log_softmax``, see
``service.engine.losses.sequence.ctc``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .casekit import Case, Inputs, Maker


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


CASES: list[Case] = [
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
    Case("ctc", ctc_inputs(infeasible=True, empty_targets=True), {"zero_infinity": True}, torch_reference=torch_ctc),
]
