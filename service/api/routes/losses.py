"""``/losses``: the catalog, and one ``POST /losses/{name}`` per loss with its own schema."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...settings import Settings
from ..body import read_body, require_json
from ..dispatch import Dispatcher, respond
from ..fast_path import DirectRoute
from ..metrics import count_computation
from ..offload import ProcessOffload
from ..problems import PROBLEM_JSON
from ..schemas import COMPONENTS, Catalog, LossInfo, loss_info

_PROBLEMS = {
    400: "the body is not JSON (or uses NaN/Infinity)",
    404: "unknown loss",
    413: "the body is larger than the server's limit",
    415: "the body is not declared as application/json",
    422: "the request is well-formed JSON but not a valid computation; errors[] point at the fields",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    schema = {"schema": {"$ref": COMPONENTS + "Problem"}}
    return {s: {"description": _PROBLEMS[s], "content": {PROBLEM_JSON: schema}} for s in statuses}


def _compute_endpoint(
    name: str, dispatcher: Dispatcher, settings: Settings, offload: ProcessOffload
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        require_json(request)
        admitted = offload.admission.admitted
        box = [await read_body(request, settings.max_body_bytes, settings.request_timeout_seconds)]
        if offload.wanted(len(box[0]), admitted):
            with count_computation(name):
                content = await offload.compute(name, box)  # box: the body's only reference
        else:
            # No local name for the body: respond() holds the only reference and drops it once parsed.
            content = await respond(
                box.pop(),
                settings.offload_bytes,
                lambda payload: dispatcher.compute(name, payload),
                lambda body: dispatcher.decode(name, body),
            )
        return Response(content, media_type="application/json")

    return endpoint


def _describe_endpoint(info: LossInfo) -> Callable[[], Awaitable[LossInfo]]:
    async def describe() -> LossInfo:
        return info

    return describe


def add_routes(
    router: APIRouter, dispatcher: Dispatcher, settings: Settings, offload: ProcessOffload
) -> dict[tuple[str, str], DirectRoute]:
    """The /losses routes; returns the compute operations, for the fast path (``fast_path.py``)."""
    direct: dict[tuple[str, str], DirectRoute] = {}
    infos = {name: loss_info(spec) for name, spec in dispatcher.catalog.items()}

    @router.get("/losses", tags=["losses"], response_model=Catalog, summary="The catalog of losses")
    async def list_losses() -> Catalog:
        return Catalog(losses=list(infos.values()))

    @router.get(
        "/losses/{name}",
        tags=["losses"],
        response_model=LossInfo,
        summary="One loss: inputs, params, reductions, reference",
        responses=problem_responses(404),
    )
    async def describe_loss(name: str) -> LossInfo:
        if name not in infos:
            raise dispatcher.unknown_loss(name)
        return infos[name]

    for name in dispatcher.catalog:
        # The concrete path too, so that the document lists every method /losses/<loss> allows.
        router.add_api_route(
            f"/losses/{name}",
            _describe_endpoint(infos[name]),
            methods=["GET"],
            tags=["losses"],
            response_model=LossInfo,
            operation_id=f"describe_{name}",
            summary=f"Describe {name}: inputs, params, reductions, reference",
        )

    for name, spec in dispatcher.catalog.items():
        request_schema, result_schema = dispatcher.requests[name], dispatcher.results[name]
        endpoint = _compute_endpoint(name, dispatcher, settings, offload)
        router.add_api_route(
            f"/losses/{name}",
            endpoint,
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
                **problem_responses(400, 413, 415, 422),
            },
        )
        direct["POST", f"/losses/{name}"] = DirectRoute(router.routes[-1], endpoint)

    @router.post(
        "/losses/{name}",
        tags=["losses"],
        summary="Any other name: 404, listing the losses",
        description=(
            "Every loss has its own operation above; a name that is not a loss answers 404. (A loss's own "
            "name reaches that loss's operation, with its answers, among them 400, 413, 415 and 422.)"
        ),
        responses=problem_responses(400, 404, 413, 415, 422),
        status_code=404,
        response_class=Response,
        openapi_extra={  # the names that are losses have operations of their own
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "not": {"enum": list(dispatcher.catalog)}},
                }
            ]
        },
    )
    async def compute_unknown(request: Request) -> Response:  # the path parameter is declared just above
        raise dispatcher.unknown_loss(request.path_params["name"])

    return direct
