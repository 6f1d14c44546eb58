"""Pydantic models generated from the engine's catalog: one request schema per loss.

The models validate the envelope and the params. Array fields are typed ``Any`` for
validation (Pydantic never walks a million-element list; ``service.transport`` turns them
into NumPy arrays) and carry a JSON Schema for the OpenAPI document, so that a client
generator still gets a typed method per loss.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from ..engine import CATALOG
from ..engine.spec import InputSpec, LossSpec, ParamSpec
from .problems import Problem

COMPONENTS = "#/components/schemas/"
NUMBER_TENSOR = "NumberTensor"
INTEGER_TENSOR = "IntegerTensor"

#: Recursive schemas for nested arrays; referenced by every input field.
TENSOR_SCHEMAS: dict[str, dict[str, Any]] = {
    NUMBER_TENSOR: {
        "description": "A number, or a rectangular nested array of numbers.",
        "anyOf": [{"type": "number"}, {"type": "array", "items": {"$ref": COMPONENTS + NUMBER_TENSOR}}],
    },
    INTEGER_TENSOR: {
        "description": "An integer, or a rectangular nested array of integers.",
        "anyOf": [{"type": "integer"}, {"type": "array", "items": {"$ref": COMPONENTS + INTEGER_TENSOR}}],
    },
}


def array_schema(description: str, integer: bool = False) -> dict[str, Any]:
    tensor = INTEGER_TENSOR if integer else NUMBER_TENSOR
    return {"type": "array", "minItems": 1, "items": {"$ref": COMPONENTS + tensor}, "description": description}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


_STRICT = ConfigDict(strict=True, extra="forbid")


def _param_field(param: ParamSpec, default: Any) -> tuple[Any, Any]:
    bounds = {k: getattr(param, k) for k in ("ge", "gt", "le", "lt") if getattr(param, k) is not None}
    weights = Annotated[list[float], Field(min_length=1)]
    annotation: Any = {
        "number": Annotated[float, Field(allow_inf_nan=False, **bounds)],
        "integer": Annotated[int, Field(**bounds)],
        "boolean": bool,
        "weights": weights,
        "number_or_weights": Annotated[float, Field(allow_inf_nan=False, **bounds)] | weights,
    }[param.kind]
    if param.choices is not None:
        annotation = Literal[param.choices]  # type: ignore[valid-type]
    if param.nullable:
        annotation = annotation | None
    return annotation, Field(default, description=param.description)


def params_model(spec: LossSpec) -> type[BaseModel]:
    fields = {p.name: _param_field(p, spec.defaults[p.name]) for p in spec.params}
    return create_model(f"{_camel(spec.name)}Params", __config__=_STRICT, **fields)  # type: ignore[call-overload]


def _input_field(item: InputSpec) -> tuple[Any, Any]:
    star = " (differentiable)" if item.differentiable else ""
    schema = array_schema(item.description + star, item.integer)
    if not item.required:  # optional: absent (or null) leaves it out of the computation
        return Annotated[Any, WithJsonSchema({"anyOf": [schema, {"type": "null"}]})], Field(None)
    return Annotated[Any, WithJsonSchema(schema)], Field(...)


def request_model(spec: LossSpec) -> type[BaseModel]:
    """The body of ``POST /losses/{spec.name}``."""
    params = params_model(spec)
    reduction_type = Literal[spec.reductions]  # type: ignore[valid-type,name-defined]
    weight_schema = array_schema(
        "a weight per unreduced loss value; its shape is a prefix of the unreduced loss's shape"
    )
    fields: dict[str, Any] = {item.name: _input_field(item) for item in spec.inputs}
    weight: Any = Annotated[Any, WithJsonSchema({"anyOf": [weight_schema, {"type": "null"}]})]
    reduction: Any = reduction_type
    if spec.scalar:  # one value for the whole batch: the 422 says why sum, none and weights are refused
        weight, reduction = _scalar_refusals(spec)
    fields.update(
        sample_weight=(weight, Field(None)),
        params=(params, Field(default_factory=params, description="the loss's hyper-parameters")),
        reduction=(reduction, Field(spec.default_reduction, description="how the values are reduced")),
        return_grad=(bool, Field(False, description="also return the gradient of each differentiable input")),
        dtype=(Literal["float64", "float32"], Field("float64", description="precision of the computation")),
    )
    return create_model(  # type: ignore[call-overload]
        f"{_camel(spec.name)}Request", __config__=_STRICT, __doc__=f"Compute {spec.name}: {spec.summary}", **fields
    )


def _scalar_refusals(spec: LossSpec) -> tuple[Any, Any]:
    """``sample_weight`` and ``reduction`` of a scalar loss, whose errors say why only null and mean are valid."""
    why = f"{spec.name} is one value for the whole batch"

    def no_weight(value: Any) -> Any:
        if value is not None:
            raise ValueError(f"{why}: it takes no sample_weight")
        return value

    def only_mean(value: str) -> str:
        if value != "mean":
            raise ValueError(f"{why}: its only reduction is mean")
        return value

    weight = Annotated[Any, AfterValidator(no_weight), WithJsonSchema({"type": "null", "description": why})]
    reduction = Annotated[str, AfterValidator(only_mean), WithJsonSchema({"type": "string", "enum": ["mean"]})]
    return weight, reduction


def response_model(spec: LossSpec) -> type[BaseModel]:
    """The 200 body of ``POST /losses/{spec.name}``: the loss and, when asked, each gradient."""
    # allOf: a bare $ref here would make Pydantic look the name up among its own models.
    tensor = Annotated[Any, WithJsonSchema({"allOf": [{"$ref": COMPONENTS + NUMBER_TENSOR}]})]
    grads = create_model(  # type: ignore[call-overload]
        f"{_camel(spec.name)}Grad",
        **{
            item.name: (
                tensor,
                Field(... if item.required else None, description=f"d loss / d {item.name}, of {item.name}'s shape"),
            )
            for item in spec.inputs
            if item.differentiable
        },
    )
    loss_schema = {
        "anyOf": [{"type": "number"}, {"$ref": COMPONENTS + NUMBER_TENSOR}],
        "description": "a number, or the unreduced values for reduction none",
    }
    return create_model(  # type: ignore[call-overload]
        f"{_camel(spec.name)}Result",
        name=(Literal[spec.name], ...),  # type: ignore[valid-type,arg-type]
        reduction=(str, ...),
        dtype=(str, ...),
        loss=(Annotated[Any, WithJsonSchema(loss_schema)], ...),
        grad=(grads | None, Field(None, description="present when return_grad is true")),
    )


@functools.cache
def request_model_of(name: str) -> type[BaseModel]:
    """The catalog loss ``name``'s request model, made once per process (a helper process makes its own)."""
    return request_model(CATALOG[name])


@functools.cache
def response_model_of(name: str) -> type[BaseModel]:
    return response_model(CATALOG[name])


# The catalog, as GET /losses describes it.


class InputInfo(BaseModel):
    name: str
    description: str
    differentiable: bool
    dtype: Literal["number", "integer"]


class ParamInfo(BaseModel):
    name: str
    type: str
    default: Any
    nullable: bool
    description: str
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: float | None = None
    choices: list[Any] | None = None


class LossInfo(BaseModel):
    name: str
    family: str
    summary: str
    inputs: list[InputInfo]
    params: list[ParamInfo]
    reductions: list[str]
    default_reduction: str
    none_shape: str = Field(description="the shape of the unreduced loss (reduction none)")
    reference: str
    batch: bool = Field(description="a sample's loss depends on the other samples: a request is one batch")
    scalar: bool = Field(description="one value for the whole batch: reduction mean only, no sample_weight")


class Catalog(BaseModel):
    losses: list[LossInfo]


_PARAM_TYPES = {
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "weights": "array of numbers",
    "number_or_weights": "number or array of numbers",
}


def loss_info(spec: LossSpec) -> LossInfo:
    return LossInfo(
        name=spec.name,
        family=spec.family,
        summary=spec.summary,
        inputs=[
            InputInfo(
                name=i.name,
                description=i.description,
                differentiable=i.differentiable,
                dtype="integer" if i.integer else "number",
            )
            for i in spec.inputs
        ],
        params=[
            ParamInfo(
                name=p.name,
                type=_PARAM_TYPES[p.kind],
                default=spec.defaults[p.name],
                nullable=p.nullable,
                description=p.description,
                minimum=p.ge,
                exclusive_minimum=p.gt,
                maximum=p.le,
                exclusive_maximum=p.lt,
                choices=list(p.choices) if p.choices is not None else None,
            )
            for p in spec.params
        ],
        reductions=list(spec.reductions),
        default_reduction=spec.default_reduction,
        none_shape=spec.shape_rule.description,
        reference=spec.reference,
        batch=spec.batch,
        scalar=spec.scalar,
    )


# POST /batch.


def batch_models(requests: Mapping[str, type[BaseModel]]) -> tuple[type[BaseModel], type[BaseModel]]:
    """``BatchRequest`` (items discriminated by ``loss``) and ``BatchResponse``, for the OpenAPI document.

    The route itself validates each item with its loss's request model, so that one bad
    item fails alone; these models only describe the shapes.
    """
    items = tuple(
        create_model(  # type: ignore[call-overload]
            f"{_camel(name)}BatchItem",
            __base__=model,
            loss=(Literal[name], Field(..., description="the loss to compute")),  # type: ignore[valid-type,arg-type]
        )
        for name, model in requests.items()
    )
    item_type = Annotated[Union[items], Field(discriminator="loss")]  # type: ignore[valid-type]  # noqa: UP007
    request = create_model(
        "BatchRequest",
        __config__=_STRICT,
        __doc__="Several computations: each item is a loss's request body plus its name.",
        items=(list[item_type], Field(..., min_length=1)),  # type: ignore[valid-type]
    )
    return request, BatchResponse


class BatchResult(BaseModel):
    """One item's outcome: the status and body ``POST /losses/{name}`` would have answered."""

    status: int
    result: dict[str, Any] | None = Field(None, description="the loss's result, when status is 200")
    problem: Problem | None = Field(None, description="the problem, when status is 4xx")


class BatchResponse(BaseModel):
    results: list[BatchResult]
