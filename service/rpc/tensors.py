"""``ModelInferRequest`` bytes to the protocol's ``InferRequest``, and outputs to ``ModelInferResponse`` bytes.

The same ``InferRequest`` as the HTTP protocol's (``service.transport.kserve``), so that
everything after it (the checks of the model's inputs and parameters, the computation, the choice
of outputs) is the one the HTTP ``/v2`` codec runs. Inputs come as little-endian bytes in
``raw_input_contents`` (what ``tritonclient.grpc`` sends), read with ``np.frombuffer``, or in the
typed ``contents`` field of their datatype. Every size is checked against shape x datatype before
an array is made; messages reuse the HTTP protocol's wording wherever the two protocols agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError as ProtobufDecodeError

from ..transport.kserve import (
    DATATYPE_OF,
    DATATYPES,
    InferRequest,
    ProtocolError,
    RequestedOutput,
    Tensor,
    brief,
    check_shape,
)
from .protocol import ModelInferRequest, ModelInferResponse

#: The typed field of ``InferTensorContents`` that holds each datatype's values.
CONTENTS_FIELD = {"FP64": "fp64_contents", "FP32": "fp32_contents", "INT64": "int64_contents", "INT32": "int_contents"}
#: Tensor parameters of Triton's shared-memory extension, which this server does not offer.
SHARED_MEMORY = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")
#: The key of ``raw_output_contents`` (field 6, length-delimited) in a serialized ``ModelInferResponse``.
_RAW_OUTPUT_KEY = bytes([6 << 3 | 2])


def parse_message(data: bytes) -> Any:
    """The ``ModelInferRequest`` in ``data``; ``ProtocolError`` when it is not one."""
    try:
        return ModelInferRequest.FromString(data)
    except ProtobufDecodeError as error:
        raise ProtocolError(f"the message is not a ModelInferRequest: {error}") from None


def infer_request(message: Any) -> InferRequest:
    """The inference request ``message`` (a parsed ``ModelInferRequest``) makes; ``ProtocolError`` if malformed."""
    parameters = {key: _parameter(value, f"parameter {brief(key)}") for key, value in message.parameters.items()}
    binary_output = parameters.pop("binary_data_output", False)  # HTTP's; over gRPC every output is raw
    if not isinstance(binary_output, bool):
        raise ProtocolError("parameters.binary_data_output must be a boolean")
    if not message.inputs:
        raise ProtocolError("inputs must be a non-empty array of tensors")
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise ProtocolError(
            f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs: "
            "give one per input, in the order of inputs"
        )
    inputs: dict[str, Tensor] = {}
    for position, tensor in enumerate(message.inputs):
        converted = _input(tensor, position, raw[position] if raw else None)
        if converted.name in inputs:
            raise ProtocolError(f"input {brief(converted.name)} appears twice")
        inputs[converted.name] = converted
    outputs = [_requested_output(output) for output in message.outputs] or None
    return InferRequest(message.id or None, parameters, inputs, outputs, binary_output)


def _parameter(value: Any, what: str) -> bool | int | float | str:
    kind = value.WhichOneof("parameter_choice")
    if kind is None:
        raise ProtocolError(f"{what} has no value")
    result: bool | int | float | str = getattr(value, kind)
    return result


def _input(tensor: Any, position: int, raw: bytes | None) -> Tensor:
    name, datatype = tensor.name, tensor.datatype
    where = f"input {brief(name)}"
    if datatype not in DATATYPES:
        raise ProtocolError(f"{where}: datatype {brief(datatype)} is not supported; use one of {sorted(DATATYPES)}")
    shape = list(tensor.shape)
    if any(n < 0 for n in shape):
        raise ProtocolError(f"{where}: shape must be an array of non-negative integers")
    dtype = DATATYPES[datatype]
    check_shape(shape, dtype, where)
    count = math.prod(shape)
    shared = [key for key in SHARED_MEMORY if key in tensor.parameters]
    if shared:
        raise ProtocolError(
            f"{where}: shared memory ({shared[0]}) is not supported; send the values in raw_input_contents or contents"
        )
    if raw is not None:
        if tensor.HasField("contents"):
            raise ProtocolError(f"{where}: give either contents or raw_input_contents, not both")
        if len(raw) != count * dtype.itemsize:
            raise ProtocolError(
                f"{where}: raw_input_contents[{position}] has {len(raw)} bytes but shape {shape} of {datatype} "
                f"needs {count * dtype.itemsize}"
            )
        array = np.frombuffer(raw, dtype=dtype, count=count)
    elif tensor.HasField("contents"):
        array = _typed(tensor.contents, datatype, shape, count, where)
    elif count == 0:
        array = np.zeros(0, dtype=dtype)
    else:
        raise ProtocolError(f"{where}: contents is missing (or raw_input_contents for raw data)")
    if not array.flags.aligned:
        array = array.copy()  # NumPy's loops on misaligned data are scalar: one copy pays (as over HTTP)
    return Tensor(name, datatype, tuple(shape), array.reshape(shape))


def _typed(contents: Any, datatype: str, shape: list[int], count: int, where: str) -> np.ndarray:
    """The values of the contents field of ``datatype``, which must be the only one given."""
    field = CONTENTS_FIELD[datatype]
    others = sorted(descriptor.name for descriptor, _ in contents.ListFields() if descriptor.name != field)
    if others:
        raise ProtocolError(f"{where}: {datatype} values go in contents.{field}, not in contents.{others[0]}")
    values = getattr(contents, field)
    if len(values) != count:
        raise ProtocolError(f"{where}: contents.{field} has {len(values)} elements but shape {shape} needs {count}")
    dtype = DATATYPES[datatype]
    if dtype.kind == "f" and count:
        # A packed float field is its key, its length and then the little-endian values themselves:
        # read them from the serialized field, not one Python float at a time (70 ms per 1e6).
        wire = contents.SerializeToString()
        payload = count * dtype.itemsize
        if len(wire) > payload and wire[0] == (contents.DESCRIPTOR.fields_by_name[field].number << 3 | 2):
            return np.frombuffer(wire, dtype=dtype, count=count, offset=len(wire) - payload)
    return np.fromiter(values, dtype=dtype, count=count)


def _requested_output(output: Any) -> RequestedOutput:
    shared = [key for key in SHARED_MEMORY if key in output.parameters]
    if shared:
        raise ProtocolError(f"output {brief(output.name)}: shared memory ({shared[0]}) is not supported")
    return RequestedOutput(output.name, None)


def encode_response(model_name: str, request_id: str | None, outputs: Iterable[tuple[str, np.ndarray]]) -> bytes:
    """A serialized ``ModelInferResponse`` with each output's values in ``raw_output_contents``.

    The tensors' descriptions go through protobuf; their bytes are appended after it as
    ``raw_output_contents`` fields straight from the arrays' buffers. A serialized message is the
    concatenation of its fields and a repeated field's entries keep their order, so this is the
    message protobuf would write, with one copy of each array instead of three.
    """
    response = ModelInferResponse(model_name=model_name, model_version="1", id=request_id or "")
    blobs: list[memoryview] = []
    for name, value in outputs:
        array = np.asarray(value)
        response.outputs.add(name=name, datatype=DATATYPE_OF[array.dtype], shape=array.shape)
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        blobs.append(little.reshape(-1).view(np.uint8).data)
    parts: list[bytes | memoryview] = [response.SerializeToString()]
    for blob in blobs:
        parts += [_RAW_OUTPUT_KEY, _varint(len(blob)), blob]
    return b"".join(parts)


def _varint(value: int) -> bytes:
    """``value`` (non-negative) as a protobuf base-128 varint."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)
