"""The catalog as ``GET /losses`` describes it: per loss its maths, inputs, params and a worked example.

Each entry is built once, at start-up, from the engine's spec; the example's answer is computed
then by the same codec and pipeline that answer ``POST /losses/{name}``, so it is the real answer.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from ..engine import CATALOG, LossSpec
from ..engine.spec import InputSpec, ParamSpec
from ..serving import Body, respond
from .codecs import LossesCodec


class InputInfo(BaseModel):
    name: str
    description: str
    differentiable: bool
    dtype: Literal["number", "integer"]
    required: bool = Field(description="false: the input may be left out (or null)")
    shape: list[str] = Field(
        description='the axes by name: N the batch, C the classes, D the features; "..." any number of further axes'
    )
    min_rank: int
    max_rank: int | None = Field(description="null: any rank from min_rank up")


class ParamInfo(BaseModel):
    name: str
    type: str
    default: Any
    nullable: bool
    description: str
    minimum: int | float | None = None
    exclusive_minimum: int | float | None = None
    maximum: int | float | None = None
    exclusive_maximum: int | float | None = None
    choices: list[Any] | None = None


class Example(BaseModel):
    """A request to ``POST /losses/{name}`` and the answer this service gives to it."""

    request: dict[str, Any]
    response: dict[str, Any]


class LossInfo(BaseModel):
    name: str
    family: str
    summary: str
    formula: str = Field(description="LaTeX, of one unreduced value")
    inputs: list[InputInfo]
    params: list[ParamInfo]
    reductions: list[str]
    default_reduction: str
    none_shape: str = Field(description="the shape of the unreduced loss (reduction none)")
    reference: str
    batch: bool = Field(description="a sample's loss depends on the other samples: a request is one batch")
    scalar: bool = Field(description="one value for the whole batch: reduction mean only, no sample_weight")
    example: Example


class Catalog(BaseModel):
    losses: list[LossInfo]


_PARAM_TYPES = {
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "weights": "array of numbers",
    "number_or_weights": "number or array of numbers",
    "string": "string",
}


def _input(item: InputSpec, shape: tuple[str, ...]) -> InputInfo:
    fixed = sum(axis != "..." for axis in shape)
    return InputInfo(
        name=item.name,
        description=item.description,
        differentiable=item.differentiable,
        dtype="integer" if item.integer else "number",
        required=item.required,
        shape=list(shape),
        min_rank=fixed,
        max_rank=None if "..." in shape else fixed,
    )


def _param(param: ParamSpec, default: Any) -> ParamInfo:
    def bound(value: float | None) -> int | float | None:
        return int(value) if value is not None and param.kind == "integer" else value

    return ParamInfo(
        name=param.name,
        type=_PARAM_TYPES[param.kind],
        default=default,
        nullable=param.nullable,
        description=param.description,
        minimum=bound(param.ge),
        exclusive_minimum=bound(param.gt),
        maximum=bound(param.le),
        exclusive_maximum=bound(param.lt),
        choices=list(param.choices) if param.choices is not None else None,
    )


def example(spec: LossSpec) -> Example:
    """The spec's example request, with gradients asked for, and the answer the service gives it."""
    request = {**spec.example, "return_grad": True}
    answer = respond(LossesCodec(), spec.name, Body(orjson.dumps(request)), {}, max_elements=1 << 20)
    if answer.status != 200:  # a mistake in the spec's example: found at start-up, and by the tests
        raise ValueError(f"the example of {spec.name} is answered {answer.status}: {answer.content.decode()}")
    return Example(request=request, response=orjson.loads(answer.content))


def loss_info(spec: LossSpec) -> LossInfo:
    shapes = spec.shape_rule.input_shapes()
    return LossInfo(
        name=spec.name,
        family=spec.family,
        summary=spec.summary,
        formula=spec.formula,
        inputs=[_input(item, shapes[item.name]) for item in spec.inputs],
        params=[_param(p, spec.defaults[p.name]) for p in spec.params],
        reductions=list(spec.reductions),
        default_reduction=spec.default_reduction,
        none_shape=spec.shape_rule.description,
        reference=spec.reference,
        batch=spec.batch,
        scalar=spec.scalar,
        example=example(spec),
    )


@functools.cache
def catalog() -> dict[str, LossInfo]:
    """Every loss's entry, by name, in the catalog's order (made once per process)."""
    return {name: loss_info(spec) for name, spec in CATALOG.items()}
