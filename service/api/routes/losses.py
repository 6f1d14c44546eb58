"""``/losses``: the catalog, and one ``POST /losses/{name}`` per loss with its own schema."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...engine import InvalidInput, LossSpec, Result, compute
from ...settings import Settings
from ...transport import MalformedJSON, as_output, decode_json, encode_json, to_array
from ..body import read_body, require_json
from ..problems import PROBLEM_JSON, ProblemError, from_invalid_input, from_validation_error
from ..schemas import COMPONENTS, Catalog, LossInfo, loss_info, request_model, response_model


def unknown_loss(name: str, catalog: Mapping[str, LossSpec]) -> ProblemError:
    return ProblemError(404, "unknown-loss", f"no loss named {name!r}; the losses are: {', '.join(catalog)}")


def _problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "the body is not JSON (or uses NaN/Infinity)",
        404: "unknown loss",
        413: "the body is larger than the server's limit",
        415: "the body is not declared as application/json",
        422: "the request is well-formed JSON but not a valid computation; errors[] point at the fields",
    }
    schema = {"schema": {"$ref": COMPONENTS + "Problem"}}
    return {s: {"description": described[s], "content": {PROBLEM_JSON: schema}} for s in statuses}


def loss_endpoint(spec: LossSpec, model: type[BaseModel], settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    """``POST /losses/{name}`` for one loss: body bytes in, result bytes out."""

    def answer(body: bytes) -> bytes:
        try:
            payload = decode_json(body)
        except MalformedJSON as error:
            raise ProblemError(400, "malformed-json", str(error)) from None
        return encode_json(run(spec, model, payload))

    async def endpoint(request: Request) -> Response:
        require_json(request)
        body = await read_body(request, settings.max_body_bytes)
        if len(body) >= settings.offload_bytes:  # keep the event loop free for small requests
            content = await run_in_threadpool(answer, body)
        else:
            content = answer(body)
        return Response(content, media_type="application/json")

    return endpoint


def run(spec: LossSpec, model: type[BaseModel], payload: Any) -> dict[str, Any]:
    """Validate a decoded request for ``spec`` and compute it; the response document."""
    try:
        request = model.model_validate(payload)
    except ValidationError as error:
        raise from_validation_error(error, payload) from None
    try:
        arrays = {item.name: to_array(payload[item.name], (item.name,)) for item in spec.inputs}
        weight = payload.get("sample_weight")
        result = compute(
            spec,
            arrays,
            request.params.model_dump(),  # type: ignore[attr-defined]
            sample_weight=None if weight is None else to_array(weight, ("sample_weight",)),
            reduction=request.reduction,  # type: ignore[attr-defined]
            return_grad=request.return_grad,  # type: ignore[attr-defined]
            dtype=request.dtype,  # type: ignore[attr-defined]
        )
    except InvalidInput as error:
        raise from_invalid_input(error) from None
    document: dict[str, Any] = {
        "name": result.name,
        "reduction": result.reduction,
        "dtype": result.dtype,
        "loss": result.loss if isinstance(result.loss, float) else as_output(result.loss),
    }
    if result.grads is not None:
        document["grad"] = {name: as_output(g) for name, g in result.grads.items()}
    return document


def add_routes(router: APIRouter, catalog: Mapping[str, LossSpec], settings: Settings) -> dict[str, type[BaseModel]]:
    """Add the loss routes; return the request and response models to publish in the OpenAPI document."""
    infos = {name: loss_info(spec) for name, spec in catalog.items()}
    models: dict[str, type[BaseModel]] = {}

    @router.get("/losses", tags=["losses"], response_model=Catalog, summary="The catalog of losses")
    async def list_losses() -> Catalog:
        return Catalog(losses=list(infos.values()))

    @router.get(
        "/losses/{name}",
        tags=["losses"],
        response_model=LossInfo,
        summary="One loss: inputs, params, reductions, reference",
        responses=_problem_responses(404),
    )
    async def describe_loss(name: str) -> LossInfo:
        if name not in infos:
            raise unknown_loss(name, catalog)
        return infos[name]

    for name, spec in catalog.items():
        request_schema, result_schema = request_model(spec), response_model(spec)
        models[request_schema.__name__] = request_schema
        models[result_schema.__name__] = result_schema
        router.add_api_route(
            f"/losses/{name}",
            loss_endpoint(spec, request_schema, settings),
            methods=["POST"],
            tags=["losses"],
            operation_id=f"compute_{name}",
            summary=f"Compute {name}",
            description=f"{spec.summary}\n\nReference: {spec.reference}.",
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": COMPONENTS + request_schema.__name__}}},
                }
            },
            responses={
                200: {
                    "description": "the loss, and the gradients when asked",
                    "content": {"application/json": {"schema": {"$ref": COMPONENTS + result_schema.__name__}}},
                },
                **_problem_responses(400, 413, 415, 422),
            },
        )

    @router.post("/losses/{name}", include_in_schema=False)
    async def compute_unknown(name: str) -> Response:
        raise unknown_loss(name, catalog)

    return models
