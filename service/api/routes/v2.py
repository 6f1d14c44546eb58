"""``/v2``: the Open Inference Protocol (KServe V2 REST, as Triton serves it). Each loss is a model."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ... import __version__
from ...serving import LossService
from ...settings import Settings
from ..codecs import InferCodec, V2Error
from ..codecs.inference import SERVER_NAME, model_metadata, model_or_404
from ..problems import ProblemError
from . import OperationRoute, Routes, body_reader, response
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

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProtocolErrorBody, "description": "a malformed or invalid request"},
    404: {"model": ProtocolErrorBody, "description": "unknown model"},
}


def v2_error_response(request: Request, error: Exception) -> Response:
    assert isinstance(error, V2Error)
    return Response(error.document(), error.status, media_type="application/json")


async def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": ["binary_tensor_data"]}


async def live() -> Response:
    return Response(status_code=200)


async def ready(request: Request) -> Response:
    return Response(status_code=200 if is_ready(request) else 503)


async def metadata(name: str, version: str | None = None) -> dict[str, Any]:
    return model_metadata(model_or_404(name, version))


async def model_ready(name: str, version: str | None = None) -> Response:
    model_or_404(name, version)
    return Response(status_code=200)


def routes(service: LossService, settings: Settings) -> Routes:
    codec = InferCodec()

    async def infer(request: Request) -> Response:
        name = request.path_params["name"]
        model_or_404(name, request.path_params.get("version"))  # before the body is read
        meta = {"request_id": request.state.request_id}
        header_length = request.headers.get("inference-header-content-length")
        if header_length is not None:
            meta["header_length"] = header_length
        try:
            answer = await service.answer(codec, name, body_reader(request, settings), meta)
        except ProblemError as problem:  # the body could not be read (413, 408)
            raise V2Error(problem.status, problem.detail) from None
        return response(answer)

    server = [
        APIRoute(
            "/v2",
            server_metadata,
            methods=["GET"],
            tags=["v2"],
            response_model=ServerMetadata,
            summary="Server metadata",
        ),
        APIRoute(
            "/v2/health/live", live, methods=["GET"], tags=["v2"], summary="Server liveness", response_class=Response
        ),
        APIRoute(
            "/v2/health/ready", ready, methods=["GET"], tags=["v2"], summary="Server readiness", response_class=Response
        ),
    ]
    served: list[BaseRoute] = [
        OperationRoute("/v2/models/{name}/infer", infer, methods=["POST"]),
        OperationRoute("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
    ]
    documented: list[BaseRoute] = list(server)
    for path in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        getters = [
            APIRoute(
                path,
                metadata,
                methods=["GET"],
                tags=["v2"],
                response_model=ModelMetadata,
                summary="Model metadata",
                responses=_ERRORS,
            ),
            APIRoute(
                f"{path}/ready",
                model_ready,
                methods=["GET"],
                tags=["v2"],
                summary="Model readiness",
                response_class=Response,
                responses=_ERRORS,
            ),
        ]
        documented += [*getters, _documented_infer(path)]
        served += getters
    return Routes(served=[*served, *server], documented=documented)


def _documented_infer(path: str) -> APIRoute:
    async def infer(name: str, request: Request, version: str | None = None) -> Response:  # pragma: no cover
        raise AssertionError("documentation only")

    return APIRoute(
        f"{path}/infer",
        infer,
        methods=["POST"],
        tags=["v2"],
        summary="Inference: compute a loss (JSON, or the binary tensor extension)",
        response_class=Response,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}},
                    "application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"},
                        "description": "the JSON header (its length in Inference-Header-Content-Length), "
                        "then the binary inputs in order",
                    },
                },
            }
        },
        responses={
            200: {
                "description": "the outputs; binary ones follow the JSON header",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceResponse"}}},
            },
            **_ERRORS,
        },
    )
