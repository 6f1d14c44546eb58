"""The sequence losses' registry entries."""

from __future__ import annotations

from ..losses import sequence
from ..spec import InputSpec, LossSpec, ParamSpec

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="ctc",
        family="sequence",
        summary="Connectionist temporal classification: -log of the total probability of every alignment of the "
        "target to the frames, per sequence.",
        fn=sequence.ctc,
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
        shape_rule=sequence.CtcShapes(),
        params=(
            ParamSpec("blank", "integer", "the class index of the blank label (must be < C)", ge=0),
            ParamSpec(
                "zero_infinity",
                "boolean",
                "count sequences too short for their target (no alignment: infinite loss) as loss 0 with zero "
                "gradient; when false such a request is refused (422)",
            ),
        ),
        reference="torch.nn.functional.ctc_loss (mean: each loss divided by its target length, clamped to >= 1, "
        "then the mean over the batch)",
    ),
)
