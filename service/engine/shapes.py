"""Shape rules: how a loss's inputs must relate, and the shape of its unreduced values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidInput, Issue

Shape = tuple[int, ...]


def _require_rank(name: str, shape: Shape, min_rank: int, max_rank: int | None = None) -> None:
    if len(shape) < min_rank or (max_rank is not None and len(shape) > max_rank):
        wanted = f"{min_rank}" if max_rank == min_rank else f"at least {min_rank}"
        if max_rank is not None and max_rank != min_rank:
            wanted = f"{min_rank} to {max_rank}"
        raise InvalidInput(
            f"{name} has the wrong rank",
            [Issue((name,), f"expected an array of rank {wanted}, got rank {len(shape)} (shape {list(shape)})")],
        )


def _require_equal(name: str, shape: Shape, other: str, expected: Shape, what: str = "shape") -> None:
    if shape != expected:
        raise InvalidInput(
            "input shapes do not match",
            [Issue((name,), f"{name} has shape {list(shape)} but must have {what} {list(expected)}")],
        )


def _one_shape(names: tuple[str, ...], shapes: Mapping[str, Shape], min_rank: int) -> Shape:
    """The shape all ``names`` share (the last one's, of rank >= ``min_rank``), or ``InvalidInput``."""
    reference = names[-1]
    _require_rank(reference, shapes[reference], min_rank)
    for name in names[:-1]:
        _require_equal(name, shapes[name], reference, shapes[reference], f"{reference}'s shape")
    return shapes[reference]


@dataclass(frozen=True)
class Elementwise:
    """All named inputs share one shape ``(N, ...)``; the loss has that shape too."""

    names: tuple[str, ...] = ("y_true", "y_pred")
    description: str = "elementwise: the inputs' shape (N, ...)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return dict.fromkeys(self.names, ("N", "..."))

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        return _one_shape(self.names, shapes, min_rank=1)


@dataclass(frozen=True)
class PerSample:
    """Inputs share one shape ``(N, ..., C)``; the loss reduces the last axis: ``(N, ...)``."""

    names: tuple[str, ...] = ("y_true", "y_pred")
    description: str = "per-sample: the inputs' shape without the last axis, (N, ...)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return dict.fromkeys(self.names, ("N", "...", "C"))

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        return _one_shape(self.names, shapes, min_rank=2)[:-1]


@dataclass(frozen=True)
class ClassIndexed:
    """Scores ``(N, ..., C)`` and class indices ``(N, ...)``; the loss has the indices' shape."""

    indices: str = "y_true"
    scores: str = "y_pred"
    description: str = "per-sample: y_pred's shape without the class axis, (N, ...)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return {self.indices: ("N", "..."), self.scores: ("N", "...", "C")}

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        _require_rank(self.scores, shapes[self.scores], 2)
        expected = shapes[self.scores][:-1]
        _require_equal(
            self.indices, shapes[self.indices], self.scores, expected, f"{self.scores}'s shape without the class axis"
        )
        return expected


@dataclass(frozen=True)
class PerExample:
    """Inputs share one shape ``(N, ...)`` of rank >= 2; the loss reduces every axis but the first: ``(N,)``."""

    names: tuple[str, ...] = ("y_true", "y_pred")
    description: str = "per-example: (N,), every non-batch axis reduced"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return dict.fromkeys(self.names, ("N", "D", "..."))

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        return _one_shape(self.names, shapes, min_rank=2)[:1]


@dataclass(frozen=True)
class PairsWithLabels:
    """Two batches of vectors ``(N, D)`` of one shape and a label per pair ``(N,)``; the loss is ``(N,)``."""

    first: str = "x1"
    second: str = "x2"
    labels: str = "y_true"
    description: str = "per-pair: (N,)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return {self.first: ("N", "D"), self.second: ("N", "D"), self.labels: ("N",)}

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        _require_rank(self.first, shapes[self.first], 2, 2)
        _require_equal(self.second, shapes[self.second], self.first, shapes[self.first], f"{self.first}'s shape")
        expected = shapes[self.first][:1]
        _require_equal(self.labels, shapes[self.labels], self.first, expected, "shape (N,) =")
        return expected


@dataclass(frozen=True)
class WithVariance:
    """``y_true`` and ``y_pred`` of one shape ``(N, ...)``, and ``var`` of that shape, or with
    its last axis 1 or dropped (one variance shared across the last axis), as PyTorch's
    ``gaussian_nll_loss`` accepts. The loss has ``y_pred``'s shape."""

    variance: str = "var"
    description: str = "elementwise: the inputs' shape (N, ...)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        # var may also drop the last axis or have it 1: its description says so
        return {"y_true": ("N", "..."), "y_pred": ("N", "..."), self.variance: ("N", "...")}

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        shape = Elementwise().unreduced_shape(shapes)
        var = shapes[self.variance]
        allowed = [shape, (*shape[:-1], 1), shape[:-1]] if len(shape) > 1 else [shape, (1,)]
        if var not in allowed:
            raise InvalidInput(
                "var does not fit y_pred",
                [Issue((self.variance,), f"var has shape {list(var)}; expected one of {[list(s) for s in allowed]}")],
            )
        return shape


@dataclass(frozen=True)
class Triplets:
    """Three batches of vectors of one shape ``(N, D)`` (rank exactly 2); the loss is ``(N,)``."""

    names: tuple[str, ...] = ("anchor", "positive", "negative")
    description: str = "per-triplet: (N,)"

    def input_shapes(self) -> dict[str, tuple[str, ...]]:
        return dict.fromkeys(self.names, ("N", "D"))

    def unreduced_shape(self, shapes: Mapping[str, Shape]) -> Shape:
        first = self.names[0]
        for name in self.names:
            if len(shapes[name]) != 2:
                raise InvalidInput(
                    f"{name} has the wrong rank",
                    [Issue((name,), f"expected an array of rank 2 (N, D), got shape {list(shapes[name])}")],
                )
            if shapes[name] != shapes[first]:
                raise InvalidInput(
                    "input shapes do not match",
                    [Issue((name,), f"{name} has shape {list(shapes[name])} but must have {first}'s shape")],
                )
        return shapes[first][:1]
