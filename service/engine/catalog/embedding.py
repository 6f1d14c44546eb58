"""The embedding losses' registry entries."""

from __future__ import annotations

from ..losses import embedding
from ..shapes import Elementwise, PairsWithLabels
from ..spec import InputSpec, LossSpec, ParamSpec

PAIR_LABELS = InputSpec("y_true", "one label per pair: 1 (similar) or -1 (dissimilar), shape (N,)")
RANKING_LABELS = InputSpec("y_true", "1 where x1 should rank higher, -1 where x2 should, of x1's shape")
HINGE_LABELS = InputSpec("y_true", "labels 1 or -1, of y_pred's shape")
VECTORS = "a batch of vectors (N, D)"


def _margin(description: str, gt: float | None = None) -> ParamSpec:
    return ParamSpec("margin", "number", description, gt=gt)


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="cosine_embedding",
        family="embedding",
        summary="Cosine embedding loss: 1 - cos for similar pairs, max(0, cos - margin) for dissimilar ones.",
        fn=embedding.cosine_embedding,
        inputs=(
            InputSpec("x1", f"the first vectors of the pairs: {VECTORS}", differentiable=True),
            InputSpec("x2", f"the second vectors of the pairs: {VECTORS}, x1's shape", differentiable=True),
            PAIR_LABELS,
        ),
        shape_rule=PairsWithLabels(),
        params=(_margin("dissimilar pairs are penalised when their cosine exceeds it (meaningful in [-1, 1])"),),
        reference="torch.nn.functional.cosine_embedding_loss",
    ),
    LossSpec(
        name="margin_ranking",
        family="embedding",
        summary="Margin ranking loss max(0, -y (x1 - x2) + margin) for pairs of scores and labels -1/1.",
        fn=embedding.margin_ranking,
        inputs=(
            InputSpec("x1", "the first scores of the pairs", differentiable=True),
            InputSpec("x2", "the second scores of the pairs, of x1's shape", differentiable=True),
            RANKING_LABELS,
        ),
        shape_rule=Elementwise(names=("y_true", "x2", "x1")),
        params=(_margin("the score difference the better-ranked item must reach"),),
        reference="torch.nn.functional.margin_ranking_loss",
    ),
    LossSpec(
        name="hinge_embedding",
        family="embedding",
        summary="Hinge embedding loss: x for similar pairs (y = 1), max(0, margin - x) for dissimilar ones (y = -1).",
        fn=embedding.hinge_embedding,
        inputs=(HINGE_LABELS, InputSpec("y_pred", "scores, typically distances", differentiable=True)),
        shape_rule=Elementwise(),
        params=(_margin("dissimilar pairs are penalised when their score is below it"),),
        reference="torch.nn.functional.hinge_embedding_loss",
    ),
    LossSpec(
        name="triplet_margin",
        family="embedding",
        summary="Triplet margin loss max(0, margin + d(a, p) - d(a, n)) with the p-norm distance.",
        fn=embedding.triplet_margin,
        inputs=(
            InputSpec("anchor", f"the anchors: {VECTORS}", differentiable=True),
            InputSpec("positive", f"the positives: {VECTORS}, anchor's shape", differentiable=True),
            InputSpec("negative", f"the negatives: {VECTORS}, anchor's shape", differentiable=True),
        ),
        shape_rule=embedding.Triplets(),
        params=(
            _margin("the distance by which the negative must be farther than the positive", gt=0),
            ParamSpec("p", "number", "the norm degree of the distance ||x - y + eps||_p (below 1: a quasi-norm)", gt=0),
            ParamSpec("eps", "number", "added to every component of the difference before the norm", ge=0),
            ParamSpec("swap", "boolean", "use min(d(a, n), d(p, n)) as the negative distance (distance swap)"),
        ),
        reference="torch.nn.functional.triplet_margin_loss",
    ),
)
