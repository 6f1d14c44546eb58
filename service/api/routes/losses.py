"""``/losses``: the catalog, and ``POST /losses/{name}`` for every loss."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from ...engine import CATALOG
from ...serving import Answer, LossService
from ...settings import Settings
from ..body import require_json
from ..catalog import Catalog, LossInfo, catalog
from ..codecs import LossesCodec
from ..codecs.losses import spec_of, unknown_loss
from ..problems import PROBLEM_JSON
from ..schemas import COMPONENTS, request_model_of, response_model_of
from . import Operation, OperationRoute, Routes, body_reader

_PROBLEMS = {
    400: "the body is not JSON (or uses NaN/Infinity), or a gzip body is corrupt",
    404: "unknown loss",
    408: "the body did not arrive within the server's request timeout",
    413: "the body (or its array elements) is larger than the server's limit",
    415: "the body is not declared as application/json, or its Content-Encoding is not gzip",
    422: "the request is well-formed JSON but not a valid computation; errors[] point at the fields",
    503: "the server is overloaded or draining: retry after Retry-After seconds",
}
#: What every computation can be answered besides its 200.
COMPUTE_PROBLEMS = (400, 408, 413, 415, 422, 503)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    schema = {"schema": {"$ref": COMPONENTS + "Problem"}}
    answers: dict[int | str, dict[str, Any]] = {
        s: {"description": _PROBLEMS[s], "content": {PROBLEM_JSON: schema}} for s in statuses
    }
    if 503 in answers:
        answers[503]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return answers


def routes(service: LossService, settings: Settings) -> Routes:
    codec = LossesCodec()
    infos = catalog()

    async def compute_loss(scope: Scope, receive: Receive) -> Answer:
        name = scope["path_params"]["name"]
        spec_of(name)  # an unknown name is 404 before the body is looked at
        require_json(scope)
        meta = {"request_id": scope["state"]["request_id"]}
        return await service.answer(codec, name, body_reader(scope, receive, settings), meta)

    async def list_losses() -> Catalog:
        return Catalog(losses=list(infos.values()))

    async def describe_loss(name: str) -> LossInfo:
        if name not in infos:
            raise unknown_loss(name)
        return infos[name]

    listing = APIRoute(
        "/losses",
        list_losses,
        methods=["GET"],
        tags=["losses"],
        response_model=Catalog,
        operation_id="list_losses",
        summary="The catalog of losses",
    )
    describing = APIRoute(
        "/losses/{name}",
        describe_loss,
        methods=["GET"],
        tags=["losses"],
        response_model=LossInfo,
        summary="One loss: inputs, params, reductions, reference",
        responses=problem_responses(404),
    )
    return Routes(
        served=[OperationRoute("/losses/{name}", Operation(compute_loss), methods=["POST"]), listing, describing],
        documented=[listing, describing, *_documented_operations(infos)],
    )


def _documented_operations(infos: dict[str, LossInfo]) -> list[APIRoute]:
    """The document's operations per loss (served by the two routes above), and the 404 of any other name."""

    def undocumented() -> None:  # pragma: no cover - these routes are never served
        raise AssertionError("documentation only")

    operations: list[APIRoute] = []
    for name in CATALOG:
        # The concrete path too, so that the document lists every method /losses/<loss> allows.
        operations.append(
            APIRoute(
                f"/losses/{name}",
                undocumented,
                methods=["GET"],
                tags=["losses"],
                response_model=LossInfo,
                operation_id=f"describe_{name}",
                summary=f"Describe {name}: formula, inputs, params, reductions, reference, a worked example",
                responses={200: {"content": {"application/json": {"example": infos[name].model_dump()}}}},
            )
        )
    for name, spec in CATALOG.items():
        request_schema, result_schema = request_model_of(name), response_model_of(name)
        example = infos[name].example
        operations.append(
            APIRoute(
                f"/losses/{name}",
                undocumented,
                methods=["POST"],
                tags=["losses"],
                operation_id=f"compute_{name}",
                summary=f"Compute {name}",
                description=f"{spec.summary}\n\nReference: {spec.reference}.",
                openapi_extra={
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": COMPONENTS + request_schema.__name__},
                                "example": example.request,
                            }
                        },
                    }
                },
                responses={
                    200: {
                        "description": "the loss, and the gradients when asked",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": COMPONENTS + result_schema.__name__},
                                "example": example.response,
                            }
                        },
                    },
                    **problem_responses(*COMPUTE_PROBLEMS),
                },
            )
        )

    async def compute_unknown(request: Request) -> Response:  # pragma: no cover - documentation only
        raise AssertionError("documentation only")

    operations.append(
        APIRoute(
            "/losses/{name}",
            compute_unknown,
            methods=["POST"],
            tags=["losses"],
            operation_id="compute_unknown_loss",
            summary="Any other name: 404, listing the losses",
            description=(
                "Every loss has its own operation above; a name that is not a loss answers 404. (A loss's own "
                "name reaches that loss's operation, with its answers, among them 400, 413, 415 and 422.)"
            ),
            responses=problem_responses(404, *COMPUTE_PROBLEMS),
            status_code=404,
            response_class=Response,
            openapi_extra={  # the names that are losses have operations of their own
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "not": {"enum": list(CATALOG)}},
                    }
                ]
            },
        )
    )
    return operations
