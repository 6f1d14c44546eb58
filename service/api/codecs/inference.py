"""The Open Inference Protocol (KServe V2 REST, as Triton serves it): each loss is a model.

Inputs are the loss's named inputs, plus ``sample_weight`` and the array-valued params
(``class_weight``, ``pos_weight``); request ``parameters`` carry ``reduction``, ``return_grad``
and the scalar params, including the number form of a number-or-weights param (``alpha``).
Optional inputs may be left out. Outputs are ``loss`` and, when asked (``return_grad`` or by
naming them), ``grad_<input>``. The computation runs in float32 when every real-valued input is FP32,
else in float64; outputs come back in that precision. Errors are ``{"error": message}``: 400,
or 404 for an unknown model.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from ...engine import CATALOG, DType, InvalidInput, LossSpec, Result
from ...serving import Answer, Body, ComputeRequest, Item, Meta, Refused
from ...transport import DecodeError
from ...transport.kserve import InferRequest, brief, encode_infer_response, parse_infer_request
from ..problems import json_pointer, locate
from ..schemas import request_model_of
from .losses import did_you_mean

#: Request parameters that belong to the protocol (or Triton's client), not to a loss.
PROTOCOL_PARAMETERS = {"sequence_id", "sequence_start", "sequence_end", "priority", "timeout", "headers"}
#: Params that the losses' references treat as tensors travel as inputs in this protocol.
ARRAY_PARAM_KINDS = {"weights", "number_or_weights"}
JSON = "application/json"


class V2Error(Exception):
    """Answered as the protocol says: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def document(self) -> bytes:
        return json.dumps({"error": self.message}, ensure_ascii=False, separators=(",", ":")).encode()


SERVER_NAME = "loss-service"
#: The rank of each input in the models' metadata (the protocol's shape, -1 for each free axis):
#: the usual rank of a loss's input where it is not 2, i.e. (N, C).
TENSOR_RANKS: dict[str, dict[str, int]] = {
    "sparse_categorical_crossentropy": {"y_true": 1},
    "nll": {"y_true": 1},
    "multi_margin": {"y_true": 1},
    "generalized_crossentropy": {"y_true": 1},
    "cosine_embedding": {"y_true": 1},
    "margin_ranking": {"x1": 1, "x2": 1, "y_true": 1},
    "dice": {"y_true": 4, "y_pred": 4},
    "tversky": {"y_true": 4, "y_pred": 4},
    "ctc": {"log_probs": 3, "targets": 2, "input_lengths": 1, "target_lengths": 1},
    "cosine_similarity_mse": {"y_true": 1},
    "contrastive": {"y_true": 1},
    "multiclass_dice": {"y_true": 4, "y_pred": 4},
    "binary_dice": {"y_true": 3, "y_pred": 3},
    "generalized_dice": {"y_true": 4, "y_pred": 4},
    "sparse_categorical_focal": {"y_true": 1},
    "multiclass_hinge": {"y_true": 1},
    "multiclass_perceptron": {"y_true": 1},
    "multiclass_sparsemax": {"y_true": 1},
    "linear_crossentropy": {"linear_bias": 1, "y_true": 1},  # y_true may also be (N, C) probabilities
    "cosent": {"y_true": 1},
    "ntxent": {"y_true": 1},
    "circle": {"y_true": 1},
}


def model_metadata(spec: LossSpec) -> dict[str, Any]:
    ranks = TENSOR_RANKS.get(spec.name, {})
    inputs = [
        {"name": i.name, "datatype": "INT64" if i.integer else "FP64", "shape": [-1] * ranks.get(i.name, 2)}
        for i in spec.inputs
    ]
    outputs = [{"name": "loss", "datatype": "FP64", "shape": [-1]}] + [
        {"name": f"grad_{name}", "datatype": "FP64", "shape": [-1] * ranks.get(name, 2)} for name in spec.differentiable
    ]
    return {"name": spec.name, "versions": ["1"], "platform": SERVER_NAME, "inputs": inputs, "outputs": outputs}


def model_or_404(name: str, version: str | None = None) -> LossSpec:
    if name not in CATALOG:
        raise V2Error(
            404, f"Request for unknown model: '{name}' is not found;{did_you_mean(name)} the models are {list(CATALOG)}"
        )
    if version not in (None, "", "1"):
        raise V2Error(404, f"Request for unknown model: '{name}' version {version} is not found; it has version 1")
    return CATALOG[name]


def as_v2_error(error: Exception) -> V2Error:
    """The protocol's error for ``error``; anything a client cannot cause is re-raised (a bug)."""
    if isinstance(error, V2Error):
        return error
    if isinstance(error, DecodeError):
        return V2Error(400, str(error))
    if isinstance(error, InvalidInput):
        where = "; ".join(f"{json_pointer(locate(i)) or '(request)'}: {i.detail}" for i in error.issues)
        return V2Error(400, error.detail + (f" ({where})" if where else ""))
    if isinstance(error, Refused):
        return V2Error(error.status, error.detail)
    raise error


@dataclass(frozen=True)
class ModelInputs:
    """What one model takes over the protocol."""

    inputs: frozenset[str]
    required: frozenset[str]
    array_params: frozenset[str]
    number_params: frozenset[str]  # the array params that also have a number form
    scalar_params: frozenset[str]
    outputs: tuple[str, ...]

    @property
    def allowed(self) -> frozenset[str]:
        return self.inputs | self.array_params | {"sample_weight"}


@functools.cache
def model_inputs(name: str) -> ModelInputs:
    spec = CATALOG[name]
    array_params = frozenset(p.name for p in spec.params if p.kind in ARRAY_PARAM_KINDS)
    return ModelInputs(
        inputs=frozenset(i.name for i in spec.inputs),
        required=frozenset(spec.required_inputs),
        array_params=array_params,
        number_params=frozenset(p.name for p in spec.params if p.kind == "number_or_weights"),
        scalar_params=frozenset(p.name for p in spec.params) - array_params,
        outputs=("loss", *(f"grad_{name}" for name in spec.differentiable)),
    )


@functools.cache
def params_model(name: str) -> type[BaseModel]:
    model: type[BaseModel] = request_model_of(name).model_fields["params"].annotation  # type: ignore[assignment]
    return model


def compute_request(spec: LossSpec, request: InferRequest) -> ComputeRequest:
    """The computation an inference request asks for; raises ``V2Error`` (400) when it is not a valid one."""
    model = model_inputs(spec.name)
    unknown = sorted(set(request.inputs) - model.allowed)
    if unknown:
        raise V2Error(
            400, f"unexpected inputs {brief(unknown)} for model {spec.name!r}; it takes {sorted(model.allowed)}"
        )
    missing = sorted(model.required - set(request.inputs))
    if missing:
        raise V2Error(400, f"model {spec.name!r} needs the inputs {missing}")

    parameters = {k: v for k, v in request.parameters.items() if k not in PROTOCOL_PARAMETERS}
    reduction = parameters.pop("reduction", spec.default_reduction)
    return_grad = parameters.pop("return_grad", False)
    if reduction not in spec.reductions:
        raise V2Error(400, f"parameter reduction must be one of {list(spec.reductions)}, got {brief(reduction)}")
    if not isinstance(return_grad, bool):
        raise V2Error(400, "parameter return_grad must be a boolean")
    # A number-or-weights param (categorical_focal's alpha, pos_weight) may come as a number among
    # the parameters, its number form; its weights, and a weights param, only as a tensor input.
    not_scalar = sorted(
        name
        for name in set(parameters) & model.array_params
        if name not in model.number_params or isinstance(parameters[name], bool | list | dict | str)
    )
    if not_scalar:
        raise V2Error(
            400, f"parameters {not_scalar} are arrays in this protocol: send each as an input tensor of that name"
        )
    twice = sorted(set(parameters) & set(request.inputs))
    if twice:
        raise V2Error(400, f"{twice} given both as parameters and as input tensors: send each once")
    params = {**parameters}
    for name in model.array_params & set(request.inputs):
        tensor = request.inputs[name].array.astype(np.float64)
        # A shape [] tensor is the number form (pos_weight: one weight for every class).
        params[name] = tensor.item() if tensor.ndim == 0 else tensor.reshape(-1).tolist()
    try:
        validated = params_model(spec.name).model_validate(params).model_dump()
    except ValidationError as error:
        details = "; ".join(f"{brief('.'.join(map(str, e['loc'])))}: {e['msg']}" for e in error.errors()[:5])
        raise V2Error(400, f"invalid parameters for model {spec.name!r}: {details}") from None

    if request.outputs is not None:
        unknown_outputs = sorted({o.name for o in request.outputs} - set(model.outputs))
        if unknown_outputs:
            raise V2Error(
                400, f"unknown outputs {brief(unknown_outputs)}; model {spec.name!r} gives {list(model.outputs)}"
            )
        absent = sorted(
            o.name for o in request.outputs if o.name.removeprefix("grad_") in model.inputs - request.inputs.keys()
        )
        if absent:
            raise V2Error(
                400, f"outputs {brief(absent)} are the gradients of optional inputs this request does not send"
            )
    wants_grad = return_grad or any(o.name != "loss" for o in request.outputs or ())
    real_types = {
        t.datatype
        for name, t in request.inputs.items()
        if name not in model.array_params and t.datatype.startswith("FP")
    }
    dtype: DType = "float32" if real_types == {"FP32"} else "float64"
    weight = request.inputs.get("sample_weight")
    return ComputeRequest(
        spec,
        {name: request.inputs[name].array for name in model.inputs & set(request.inputs)},
        validated,
        None if weight is None else weight.array,
        reduction,
        wants_grad,
        dtype,
    )


def chosen_outputs(request: InferRequest, result: Result) -> list[tuple[str, np.ndarray, bool]]:
    """The outputs ``request`` asks for, in its order, each with whether it is binary (over HTTP).

    No ``outputs`` in the request: ``loss``, and the gradients when ``return_grad`` is set.
    """
    values: dict[str, np.ndarray] = {"loss": np.asarray(result.loss, dtype=result.dtype)}
    for name, grad in (result.grads or {}).items():
        values[f"grad_{name}"] = grad
    if request.outputs is None:
        return_grad = request.parameters.get("return_grad", False)
        return [(name, value, request.binary_output) for name, value in values.items() if name == "loss" or return_grad]
    return [(o.name, values[o.name], request.binary_output if o.binary is None else o.binary) for o in request.outputs]


def encode_outputs(spec: LossSpec, request: InferRequest, item: Item) -> tuple[bytes, int | None]:
    """The response body (and its JSON header's length, when some output is binary) for a computed request."""
    assert item.result is not None
    return encode_infer_response(spec.name, request.id, chosen_outputs(request, item.result))


@dataclass(frozen=True)
class InferCodec:
    """``POST /v2/models/{name}[/versions/1]/infer``: ``meta["header_length"]`` is the
    ``Inference-Header-Content-Length`` of a body with binary tensors."""

    protocol: ClassVar[str] = "v2"

    def parses_json(self, meta: Meta) -> bool:
        return "header_length" not in meta  # binary tensors are read in place; only their header is JSON

    def decode(self, loss: str | None, body: Body, meta: Meta) -> tuple[LossSpec, InferRequest]:
        spec = model_or_404(loss or "")
        return spec, parse_infer_request(body.take(), meta.get("header_length"))

    def validate(self, decoded: tuple[LossSpec, InferRequest]) -> list[Item]:
        spec, request = decoded
        return [Item(spec.name, request=compute_request(spec, request))]

    def encode(self, decoded: tuple[LossSpec, InferRequest], items: list[Item], meta: Meta) -> Answer:
        (item,) = items
        if item.error is not None:
            answer = self.failure(item.error, meta)
            item.status = answer.status
            return answer
        content, header_length = encode_outputs(*decoded, item)
        if header_length is None:
            return Answer(200, content, JSON)
        return Answer(200, content, "application/octet-stream", {"Inference-Header-Content-Length": str(header_length)})

    def failure(self, error: Exception, meta: Meta) -> Answer:
        v2_error = as_v2_error(error)
        return Answer(v2_error.status, v2_error.document(), JSON)
