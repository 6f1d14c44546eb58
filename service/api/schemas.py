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

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, WithJsonSchema, create_model

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


def _number_or_list(value: Any) -> str:
    return "list" if isinstance(value, list) else "float"


def _param_field(param: ParamSpec, default: Any) -> tuple[Any, Any]:
    bounds = {k: getattr(param, k) for k in ("ge", "gt", "le", "lt") if getattr(param, k) is not None}
    if param.kind == "integer":  # published as integers (minimum 0, not 0.0)
        bounds = {k: int(v) for k, v in bounds.items()}
    weights = Annotated[list[float], Field(min_length=1)]
    annotation: Any = {
        "number": Annotated[float, Field(allow_inf_nan=False, **bounds)],
        "integer": Annotated[int, Field(**bounds)],
        "boolean": bool,
        "weights": weights,
        # Tagged by the value's JSON type, so that a bad number is told only what a number must be
        # (a plain union would also say "should be a valid list"); the tags are union tags to
        # problems.py, so the pointer stays /params/<name>.
        "number_or_weights": Annotated[
            Annotated[float, Field(allow_inf_nan=False, **bounds), Tag("float")] | Annotated[weights, Tag("list")],
            Discriminator(_number_or_list),
        ],
        "string": str,
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
    if not item.required:  # may be omitted or null; the OpenAPI document lists it as not required
        schema = {"anyOf": [schema, {"type": "null"}], "description": f"optional: {schema['description']}"}
        return Annotated[Any, WithJsonSchema(schema)], Field(None)
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
