"""``/v2``: the Open Inference Protocol (KServe V2 REST, as Triton serves it). Each loss is a model.

Inputs are the loss's named inputs, plus ``sample_weight`` and the array-valued params
(``class_weight``, ``pos_weight``); request ``parameters`` carry ``reduction``, ``return_grad``
and the scalar params. Outputs are ``loss`` and, when asked (``return_grad`` or by naming them),
``grad_<input>``. The computation runs in float32 when every real-valued input is FP32, else
in float64; outputs come back in that precision. Errors are ``{"error": message}``: 400, or 404
for an unknown model.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ... import __version__
from ...engine import DType, InvalidInput, LossSpec
from ...settings import Settings
from ...transport.kserve import ProtocolError, brief, encode_infer_response, parse_infer_request
from ..body import read_body
from ..dispatch import Dispatcher
from ..fast_path import DirectRoute
from ..metrics import count_computation
from ..problems import ProblemError, json_pointer
from .health import is_ready

SERVER_NAME = "loss-service"
#: Request parameters that belong to the protocol (or Triton's client), not to a loss.
PROTOCOL_PARAMETERS = {"sequence_id", "sequence_start", "sequence_end", "priority", "timeout", "headers"}
#: Losses whose reference treats these params as tensors travel as inputs over the protocol.
ARRAY_PARAM_KINDS = {"weights", "number_or_weights"}


class V2Error(Exception):
    """Answered as the protocol says: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message}, status_code=self.status)


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


def _tensor_rank(spec: LossSpec, name: str) -> int:
    item = next(i for i in spec.inputs if i.name == name)
    return item.rank if item.rank is not None else 2


def model_metadata(spec: LossSpec) -> dict[str, Any]:
    inputs = [
        {"name": i.name, "datatype": "INT64" if i.integer else "FP64", "shape": [-1] * _tensor_rank(spec, i.name)}
        for i in spec.inputs
    ]
    outputs = [{"name": "loss", "datatype": "FP64", "shape": [-1]}] + [
        {"name": f"grad_{name}", "datatype": "FP64", "shape": [-1] * _tensor_rank(spec, name)}
        for name in spec.differentiable
    ]
    return {"name": spec.name, "versions": ["1"], "platform": SERVER_NAME, "inputs": inputs, "outputs": outputs}


class InferHandler:
    """Turns a parsed inference request for one loss into engine arguments and back."""

    def __init__(self, spec: LossSpec, params_model: type[BaseModel], dispatcher: Dispatcher) -> None:
        self.spec = spec
        self.dispatcher = dispatcher
        self.params_model = params_model
        self.array_params = {p.name for p in spec.params if p.kind in ARRAY_PARAM_KINDS}
        self.scalar_params = {p.name for p in spec.params} - self.array_params
        self.input_names = {i.name for i in spec.inputs}

    def __call__(self, body: bytes | bytearray, header_length: str | None) -> tuple[bytes, int | None]:
        with count_computation(self.spec.name):
            return self._answer(body, header_length)

    def _answer(self, body: bytes | bytearray, header_length: str | None) -> tuple[bytes, int | None]:
        try:
            request = parse_infer_request(body, header_length)
        except ProtocolError as error:
            raise V2Error(400, str(error)) from None
        spec = self.spec
        allowed = self.input_names | self.array_params | {"sample_weight"}
        unknown = sorted(set(request.inputs) - allowed)
        if unknown:
            raise V2Error(
                400, f"unexpected inputs {brief(unknown)} for model {spec.name!r}; it takes {sorted(allowed)}"
            )
        missing = sorted(self.input_names - set(request.inputs))
        if missing:
            raise V2Error(400, f"model {spec.name!r} needs the inputs {missing}")

        parameters = {k: v for k, v in request.parameters.items() if k not in PROTOCOL_PARAMETERS}
        reduction = parameters.pop("reduction", spec.default_reduction)
        return_grad = parameters.pop("return_grad", False)
        if reduction not in spec.reductions:
            raise V2Error(400, f"parameter reduction must be one of {list(spec.reductions)}, got {brief(reduction)}")
        if not isinstance(return_grad, bool):
            raise V2Error(400, "parameter return_grad must be a boolean")
        not_scalar = sorted(set(parameters) & self.array_params)
        if not_scalar:
            raise V2Error(400, f"{not_scalar} are tensors in this protocol: send them as inputs")
        params = {**parameters}
        for name in self.array_params & set(request.inputs):
            tensor = request.inputs[name].array.astype(np.float64)
            # A shape [] tensor is the number form (pos_weight: one weight for every class).
            params[name] = tensor.item() if tensor.ndim == 0 else tensor.reshape(-1).tolist()
        try:
            validated = self.params_model.model_validate(params).model_dump()
        except ValidationError as error:
            details = "; ".join(f"{brief('.'.join(map(str, e['loc'])))}: {e['msg']}" for e in error.errors()[:5])
            raise V2Error(400, f"invalid parameters for model {spec.name!r}: {details}") from None

        available = ["loss", *(f"grad_{name}" for name in spec.differentiable)]
        requested = request.outputs
        if requested is not None:
            unknown_outputs = sorted({o.name for o in requested} - set(available))
            if unknown_outputs:
                raise V2Error(400, f"unknown outputs {brief(unknown_outputs)}; model {spec.name!r} gives {available}")
        wants_grad = return_grad or any(o.name != "loss" for o in requested or ())

        real_inputs = [t for name, t in request.inputs.items() if name not in self.array_params]
        real_types = {t.datatype for t in real_inputs if t.datatype.startswith("FP")}
        dtype: DType = "float32" if real_types == {"FP32"} else "float64"
        try:
            result = self.dispatcher.run(
                spec,
                {name: request.inputs[name].array for name in self.input_names},
                validated,
                sample_weight=request.inputs["sample_weight"].array if "sample_weight" in request.inputs else None,
                reduction=reduction,
                return_grad=wants_grad,
                dtype=dtype,
            )
        except InvalidInput as error:
            where = "; ".join(f"{json_pointer(i.location) or '(request)'}: {i.detail}" for i in error.issues)
            raise V2Error(400, f"{error.detail}" + (f" ({where})" if where else "")) from None
        except ProblemError as problem:
            raise V2Error(problem.status, problem.detail) from None

        values: dict[str, Any] = {"loss": np.asarray(result.loss, dtype=dtype)}
        for name, grad in (result.grads or {}).items():
            values[f"grad_{name}"] = grad
        if requested is None:
            chosen = [(name, request.binary_output) for name in values if name == "loss" or return_grad]
        else:
            chosen = [(o.name, request.binary_output if o.binary is None else o.binary) for o in requested]
        return encode_infer_response(spec.name, request.id, [(name, values[name], binary) for name, binary in chosen])


def add_routes(router: APIRouter, dispatcher: Dispatcher, settings: Settings) -> dict[tuple[str, str], DirectRoute]:
    """The /v2 routes; returns each model's infer operation by concrete path, for the fast path."""
    catalog = dispatcher.catalog
    direct: dict[tuple[str, str], DirectRoute] = {}
    handlers = {
        name: InferHandler(spec, dispatcher.requests[name].model_fields["params"].annotation, dispatcher)  # type: ignore[arg-type]
        for name, spec in catalog.items()
    }

    def spec_or_404(name: str, version: str | None = None) -> LossSpec:
        if name not in catalog:
            raise V2Error(404, f"Request for unknown model: '{name}' is not found; the models are {list(catalog)}")
        if version not in (None, "", "1"):
            raise V2Error(404, f"Request for unknown model: '{name}' version {version} is not found; it has version 1")
        return catalog[name]

    @router.get("/v2", tags=["v2"], response_model=ServerMetadata, summary="Server metadata")
    async def server_metadata() -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": ["binary_tensor_data"]}

    @router.get("/v2/health/live", tags=["v2"], summary="Server liveness", response_class=Response)
    async def live() -> Response:
        return Response(status_code=200)

    @router.get("/v2/health/ready", tags=["v2"], summary="Server readiness", response_class=Response)
    async def ready(request: Request) -> Response:
        return Response(status_code=200 if is_ready(request) else 503)

    error_responses: dict[int | str, dict[str, Any]] = {
        400: {"model": ProtocolErrorBody, "description": "a malformed or invalid request"},
        404: {"model": ProtocolErrorBody, "description": "unknown model"},
    }

    for path in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):

        @router.get(
            path, tags=["v2"], response_model=ModelMetadata, summary="Model metadata", responses=error_responses
        )
        async def metadata(name: str, version: str | None = None) -> dict[str, Any]:
            return model_metadata(spec_or_404(name, version))

        @router.get(
            f"{path}/ready", tags=["v2"], summary="Model readiness", response_class=Response, responses=error_responses
        )
        async def model_ready(name: str, version: str | None = None) -> Response:
            spec_or_404(name, version)
            return Response(status_code=200)

        @router.post(
            f"{path}/infer",
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
                **error_responses,
            },
        )
        async def infer(name: str, request: Request, version: str | None = None) -> Response:
            spec_or_404(name, version)
            try:
                body = await read_body(request, settings.max_body_bytes, settings.request_timeout_seconds)
            except ProblemError as problem:
                raise V2Error(problem.status, problem.detail) from None
            header_length = request.headers.get("inference-header-content-length")
            handler = handlers[name]
            if len(body) >= settings.offload_bytes:
                content, json_length = await run_in_threadpool(handler, body, header_length)
            else:
                content, json_length = handler(body, header_length)
            if json_length is None:
                return Response(content, media_type="application/json")
            return Response(
                content,
                media_type="application/octet-stream",
                headers={"Inference-Header-Content-Length": str(json_length)},
            )

        version = "" if path.endswith("{name}") else "/versions/1"
        for name in catalog:
            endpoint = partial(infer, name, version=version.removeprefix("/versions/") or None)
            direct["POST", f"/v2/models/{name}{version}/infer"] = DirectRoute(router.routes[-1], endpoint)

    return direct
