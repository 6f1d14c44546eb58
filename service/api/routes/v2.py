"""``/v2``: the Open Inference Protocol (KServe V2 REST, as Triton serves it). Each loss is a model."""

from __future__ import annotations

import functools
from typing import Any

import orjson
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope

from ... import __version__
from ...serving import Answer, Body, LossService, respond
from ...settings import Settings
from ..body import header
from ..codecs import InferCodec, V2Error
from ..codecs.inference import SERVER_NAME, model_metadata, model_or_404
from ..problems import ProblemError
from . import Operation, OperationRoute, Routes, body_reader
from .health import is_ready

# Documentation models (the routes read raw bytes; these describe the JSON for the OpenAPI document).


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for a free axis")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class InferTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str = Field(description="FP64 or FP32 for real values, INT64 or INT32 for indices and lengths")
    parameters: dict[str, Any] | None = Field(None, description="binary_data_size: the tensor follows the JSON")
    data: list[Any] | None = Field(None, description="row-major values, flat or nested")


class RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = Field(None, description="binary_data: return this output as binary")


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = Field(
        None, description="reduction, return_grad, the loss's scalar params, binary_data_output"
    )
    inputs: list[InferTensor]
    outputs: list[RequestedOutput] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[InferTensor]


class ProtocolErrorBody(BaseModel):
    error: str


V2_MODELS: list[type[BaseModel]] = [
    ServerMetadata,
    ModelMetadata,
    InferenceRequest,
    InferenceResponse,
    ProtocolErrorBody,
]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The protocol's error answers, ``{"error": message}``, for ``statuses``."""
    described = {
        400: "a malformed or invalid request (what /losses answers 400 or 422)",
        404: "unknown model or version",
        408: "the body did not arrive within the server's request timeout",
        413: "the body (or its tensors' elements) is larger than the server's limit",
        415: "a Content-Encoding other than gzip",
        503: "the server is overloaded or draining (or, for readiness, not ready): retry after Retry-After seconds",
    }
    answers: dict[int | str, dict[str, Any]] = {
        s: {"model": ProtocolErrorBody, "description": described[s]} for s in statuses
    }
    if 503 in answers:
        answers[503]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return answers


def v2_error_response(request: Request, error: Exception) -> Response:
    assert isinstance(error, V2Error)
    return Response(error.document(), error.status, media_type="application/json")


async def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": ["binary_tensor_data"]}


async def live() -> Response:
    return Response(status_code=200)


async def ready(request: Request) -> Response:
    return Response(status_code=200 if is_ready(request) else 503)


async def metadata(name: str) -> dict[str, Any]:
    return model_metadata(model_or_404(name))


async def version_metadata(name: str, version: str) -> dict[str, Any]:
    return model_metadata(model_or_404(name, version))


async def model_ready(name: str) -> Response:
    model_or_404(name)
    return Response(status_code=200)


async def version_ready(name: str, version: str) -> Response:
    model_or_404(name, version)
    return Response(status_code=200)


def routes(service: LossService, settings: Settings) -> Routes:
    codec = InferCodec()

    async def infer(scope: Scope, receive: Receive) -> Answer:
        name, version = scope["path_params"]["name"], scope["path_params"].get("version")
        model_or_404(name, version)  # before the body is read
        meta = {"request_id": scope["state"]["request_id"]}
        header_length = header(scope, b"inference-header-content-length")
        if header_length is not None:
            meta["header_length"] = header_length
        try:
            return await service.answer(codec, name, body_reader(scope, receive, settings), meta)
        except ProblemError as problem:  # the body could not be read (413, 408)
            raise V2Error(problem.status, problem.detail) from None

    server = [
        APIRoute(
            "/v2",
            server_metadata,
            methods=["GET"],
            tags=["v2"],
            response_model=ServerMetadata,
            operation_id="server_metadata",
            summary="Server metadata",
        ),
        APIRoute(
            "/v2/health/live",
            live,
            methods=["GET"],
            tags=["v2"],
            operation_id="server_live",
            summary="Server liveness",
            response_class=Response,
        ),
        APIRoute(
            "/v2/health/ready",
            ready,
            methods=["GET"],
            tags=["v2"],
            operation_id="server_ready",
            summary="Server readiness (503 while starting or draining)",
            response_class=Response,
            responses={503: {"description": "starting or draining"}},
        ),
    ]
    served: list[BaseRoute] = [
        OperationRoute("/v2/models/{name}/infer", Operation(infer), methods=["POST"]),
        OperationRoute("/v2/models/{name}/versions/{version}/infer", Operation(infer), methods=["POST"]),
    ]
    documented: list[BaseRoute] = list(server)
    for path, prefix, describe, check in (
        ("/v2/models/{name}", "model", metadata, model_ready),
        ("/v2/models/{name}/versions/{version}", "model_version", version_metadata, version_ready),
    ):
        getters = [
            APIRoute(
                path,
                describe,
                methods=["GET"],
                tags=["v2"],
                response_model=ModelMetadata,
                operation_id=f"{prefix}_metadata",
                summary="Model metadata",
                responses=_errors(404),
            ),
            APIRoute(
                f"{path}/ready",
                check,
                methods=["GET"],
                tags=["v2"],
                operation_id=f"{prefix}_ready",
                summary="Model readiness",
                response_class=Response,
                responses=_errors(404),
            ),
        ]
        documented += [*getters, _documented_infer(path, f"{prefix}_infer")]
        served += getters
    return Routes(served=[*served, *server], documented=documented)


def _documented_infer(path: str, operation_id: str) -> APIRoute:
    async def infer(request: Request) -> Response:  # pragma: no cover - documentation only
        raise AssertionError("documentation only")

    request, response = _infer_example()
    parameters = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    if "{version}" in path:
        parameters.append({"name": "version", "in": "path", "required": True, "schema": {"type": "string"}})
    return APIRoute(
        f"{path}/infer",
        infer,
        methods=["POST"],
        tags=["v2"],
        operation_id=operation_id,
        summary="Inference: compute a loss (JSON, or the binary tensor extension)",
        response_class=Response,
        openapi_extra={
            "parameters": parameters,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/InferenceRequest"},
                        "example": request,
                    },
                    "application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"},
                        "description": "the JSON header (its length in Inference-Header-Content-Length), "
                        "then the binary inputs in order",
                    },
                },
            },
        },
        responses={
            200: {
                "description": "the outputs; binary ones follow the JSON header",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/InferenceResponse"},
                        "example": response,
                    }
                },
            },
            **_errors(400, 404, 408, 413, 415, 503),
        },
    )


@functools.cache
def _infer_example() -> tuple[dict[str, Any], dict[str, Any]]:
    """An inference request for mse and the answer this service gives it."""
    request = {
        "id": "1",
        "parameters": {"reduction": "mean", "return_grad": True},
        "inputs": [
            {"name": "y_true", "shape": [2, 2], "datatype": "FP64", "data": [0.0, 1.0, 1.0, 0.0]},
            {"name": "y_pred", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 1.0, 1.0, 2.0]},
        ],
    }
    answer = respond(InferCodec(), "mse", Body(orjson.dumps(request)), {}, max_elements=1 << 20)
    return request, orjson.loads(answer.content)
