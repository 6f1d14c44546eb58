"""What the engine knows about a loss: its inputs, parameters, shapes, formula and reference.

A loss is a pure function ``fn(**inputs, **params) -> Unreduced``, declared where its maths
is with its family's ``@family.loss(...)`` decorator, which makes its ``LossSpec``. Its
parameters' defaults live in the function signature (the one source of truth); ``ParamSpec``
adds the type and bounds that front ends validate and publish.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

Array = np.ndarray
Grads = dict[str, Array]
Vjp = Callable[[Array], Grads]

Reduction = Literal["none", "mean", "sum", "batchmean"]
ParamKind = Literal["number", "integer", "boolean", "weights", "number_or_weights"]


@dataclass(frozen=True)
class Unreduced:
    """A loss's unreduced values and how to pull a cotangent back to its inputs.

    ``vjp(cotangent)`` takes an array of ``values``' shape (the derivative of the final
    scalar with respect to each value) and returns the gradient for each differentiable
    input. For the ``mean`` reduction only, ``mean_scale`` multiplies each value (CTC divides
    each sample by its target length) and ``mean_denominator`` replaces the element count
    (PyTorch's weighted mean for class weights and ``ignore_index``).
    """

    values: Array
    vjp: Vjp
    mean_denominator: float | None = None
    mean_scale: Array | None = None


@dataclass(frozen=True)
class InputSpec:
    name: str
    description: str
    differentiable: bool = False
    integer: bool = False  # class indices or lengths: integral values, computed as int64
    #: An optional input may be left out: compute skips it and the loss function gets None for
    #: it (a keyword with default None); requests and the /v2 models do not require it.
    required: bool = True


@dataclass(frozen=True)
class ParamSpec:
    """A hyper-parameter: its kind and bounds. The default comes from the loss function."""

    name: str
    kind: ParamKind
    description: str
    nullable: bool = False
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None


class ShapeRule(Protocol):
    """Checks the inputs' shapes against each other and gives the unreduced loss's shape."""

    @property
    def description(self) -> str:
        """The unreduced loss's shape, in words (the catalog's ``none_shape``)."""
        ...

    def unreduced_shape(self, shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class LossSpec:
    name: str
    family: str
    summary: str
    fn: Callable[..., Unreduced]
    inputs: tuple[InputSpec, ...]
    shape_rule: ShapeRule
    reference: str
    formula: str  # LaTeX, of one unreduced value
    params: tuple[ParamSpec, ...] = ()
    reductions: tuple[Reduction, ...] = ("mean", "sum", "none")
    default_reduction: Reduction = "mean"
    #: A sample's loss depends on the other samples of the request (in-batch negatives, batch
    #: statistics): a request is one batch, never split.
    batch: bool = False
    #: One value for the whole request: ``mean`` is its only reduction (the value itself) and it
    #: takes no ``sample_weight``. Scalar losses are batch losses.
    scalar: bool = False
    defaults: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        if self.scalar and (self.reductions != ("mean",) or not self.batch):
            raise TypeError(f"{self.name}: a scalar loss is a batch loss whose only reduction is mean")
        signature = inspect.signature(self.fn).parameters
        names = [p.name for p in self.params]
        missing = [n for n in names if n not in signature or signature[n].default is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"{self.name}: parameters {missing} need a default in {self.fn.__name__}()")
        object.__setattr__(self, "defaults", {n: signature[n].default for n in names})

    @property
    def differentiable(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs if i.differentiable)


Loss = Callable[..., Unreduced]


@dataclass
class Family:
    """A family of losses and what its members share unless they say otherwise.

    ``@family.loss(summary=..., reference=..., formula=...)`` above a loss function declares it:
    the spec is made there, from the family's defaults and the decorator's arguments, and the
    registry (``service.engine.registry``) lists every family's losses in declaration order.
    """

    name: str
    inputs: tuple[InputSpec, ...] = ()
    shape_rule: ShapeRule | None = None
    specs: list[LossSpec] = field(default_factory=list)

    def loss(
        self,
        *,
        summary: str,
        reference: str,
        formula: str,
        inputs: tuple[InputSpec, ...] | None = None,
        shape_rule: ShapeRule | None = None,
        params: tuple[ParamSpec, ...] = (),
        reductions: tuple[Reduction, ...] | None = None,
        default_reduction: Reduction = "mean",
        batch: bool = False,
        scalar: bool = False,
    ) -> Callable[[Loss], Loss]:
        """Declare the decorated function a loss of this family (``scalar`` implies ``batch``)."""

        def declare(fn: Loss) -> Loss:
            rule = shape_rule or self.shape_rule
            if rule is None:
                raise TypeError(f"{fn.__name__}: family {self.name} has no default shape rule: give one")
            self.specs.append(
                LossSpec(
                    name=fn.__name__,
                    family=self.name,
                    summary=summary,
                    fn=fn,
                    inputs=inputs or self.inputs,
                    shape_rule=rule,
                    reference=reference,
                    formula=formula,
                    params=params,
                    reductions=reductions or (("mean",) if scalar else ("mean", "sum", "none")),
                    default_reduction=default_reduction,
                    batch=batch or scalar,
                    scalar=scalar,
                )
            )
            return fn

        return declare
