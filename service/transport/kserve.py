"""The Open Inference Protocol (KServe V2, as Triton serves it over HTTP): bytes to tensors and back.

A request is a JSON header, optionally followed by the raw bytes of the inputs that carry
``parameters.binary_data_size`` (the binary tensor extension); ``Inference-Header-Content-Length``
then gives the header's length. Binary inputs become NumPy arrays with ``np.frombuffer`` on the
body itself: no copy, no Python object per element. Every size is checked against the shape and
datatype before a byte is read, so a lying header is a ``ProtocolError``, never a read past the body.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from .errors import ArrayError, DecodeError
from .json_codec import MalformedJSON, as_output, decode_json, to_array

#: Wire datatypes this service takes and gives, as little-endian NumPy dtypes.
DATATYPES: Mapping[str, np.dtype] = {
    "FP64": np.dtype("<f8"),
    "FP32": np.dtype("<f4"),
    "INT64": np.dtype("<i8"),
    "INT32": np.dtype("<i4"),
}
DATATYPE_OF: Mapping[np.dtype, str] = {np.dtype(np.float64): "FP64", np.dtype(np.float32): "FP32"}
#: Most axes a tensor may have: NumPy 1.x's limit (2.x allows 64), far above any loss's rank.
MAX_RANK = 32


_BYTE_COUNT = re.compile(r"[0-9]{1,18}")  # str.isdigit() would also take "²", which int() refuses


class ProtocolError(DecodeError):
    """A request the protocol answers with 400 ``{"error": message}``."""


def brief(value: Any, limit: int = 60) -> str:
    """A client's value quoted in an error: as JSON, cut to ``limit`` characters (never a Python repr)."""
    text = orjson.dumps(value, default=lambda v: type(v).__name__).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None  # None: not said, so the request's binary_data_output decides


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    parameters: dict[str, Any]
    inputs: dict[str, Tensor]
    outputs: list[RequestedOutput] | None  # None: every output the request implies
    binary_output: bool = False  # parameters.binary_data_output


def parse_infer_request(body: bytes | bytearray, header_length: str | None) -> InferRequest:
    """Split and decode an inference request; raise ``ProtocolError`` for anything malformed."""
    header, binary_start = _split(body, header_length)
    try:
        document = decode_json(header, "the body" if header_length is None else "the inference request header")
    except MalformedJSON as error:
        raise ProtocolError(str(error)) from None
    if not isinstance(document, dict):
        raise ProtocolError("the inference request must be a JSON object")
    # model_name / model_version may repeat the URL's (Triton's own examples send them).
    unknown = sorted(set(document) - {"id", "parameters", "inputs", "outputs", "model_name", "model_version"})
    if unknown:
        raise ProtocolError(f"unknown fields in the inference request: {unknown}")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("id must be a string")
    parameters = _object(document.get("parameters", {}), "parameters")
    binary_output = parameters.pop("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise ProtocolError("parameters.binary_data_output must be a boolean")

    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("inputs must be a non-empty array of tensors")
    inputs: dict[str, Tensor] = {}
    offset = binary_start
    for position, raw in enumerate(raw_inputs):
        tensor, offset = _input(raw, position, body, offset)
        if tensor.name in inputs:
            raise ProtocolError(f"input {brief(tensor.name)} appears twice")
        inputs[tensor.name] = tensor
    if offset != len(body):
        raise ProtocolError(
            f"the body has {len(body) - offset} bytes after the last binary input: "
            "binary_data_size and Inference-Header-Content-Length do not add up to the body"
        )
    outputs = None
    if "outputs" in document:
        outputs = [_requested_output(raw, i) for i, raw in enumerate(_list(document["outputs"], "outputs"))]
    return InferRequest(request_id, parameters, inputs, outputs, binary_output)


def _split(body: bytes | bytearray, header_length: str | None) -> tuple[bytes | bytearray, int]:
    if header_length is None:
        return body, len(body)
    if not _BYTE_COUNT.fullmatch(header_length.strip()):
        raise ProtocolError(f"Inference-Header-Content-Length must be a byte count, got {brief(header_length)}")
    length = int(header_length)
    if not 0 < length <= len(body):
        raise ProtocolError(f"Inference-Header-Content-Length is {length} but the body has {len(body)} bytes")
    return body[:length], length


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be a JSON object")
    return dict(value)


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProtocolError(f"{what} must be an array")
    return value


def _input(raw: Any, position: int, body: bytes | bytearray, offset: int) -> tuple[Tensor, int]:
    where = f"inputs[{position}]"
    raw = _object(raw, where)
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str):
        raise ProtocolError(f"{where}.name must be a string")
    where = f"input {brief(name)}"
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise ProtocolError(f"{where}: datatype {brief(datatype)} is not supported; use one of {sorted(DATATYPES)}")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError(f"{where}: shape must be an array of non-negative integers")
    dtype = DATATYPES[datatype]
    check_shape(shape, dtype, where)
    count = math.prod(shape)
    parameters = _object(raw.get("parameters", {}), f"{where}.parameters")
    size = parameters.get("binary_data_size")
    if size is not None:
        if "data" in raw:
            raise ProtocolError(f"{where}: give either data or binary_data_size, not both")
        if type(size) is not int or size < 0:
            raise ProtocolError(f"{where}: binary_data_size must be a non-negative integer")
        if size != count * dtype.itemsize:
            raise ProtocolError(
                f"{where}: binary_data_size is {size} bytes but shape {shape} of {datatype} needs "
                f"{count * dtype.itemsize}"
            )
        if offset + size > len(body):
            raise ProtocolError(
                f"{where}: binary_data_size {size} runs past the end of the body ({len(body) - offset} bytes left)"
            )
        array = np.frombuffer(body, dtype=dtype, count=count, offset=offset).reshape(shape)
        if not array.flags.aligned:
            # After a JSON header of any length the tensor rarely starts on its itemsize; NumPy's
            # loops on misaligned data are scalar (measured 1.5x slower a pass), so one copy pays.
            array = array.copy()
        return Tensor(name, datatype, tuple(shape), array), offset + size
    if "data" not in raw:
        raise ProtocolError(f"{where}: data is missing (or binary_data_size for binary data)")
    return Tensor(name, datatype, tuple(shape), _json_data(raw["data"], where, datatype, shape)), offset


def check_shape(shape: list[int], dtype: np.dtype, where: str) -> None:
    """A shape of non-negative axes that NumPy can hold, else ``ProtocolError``.

    NumPy refuses (``ValueError``, which was a 500) more than its number of axes, and an array
    whose non-zero axes multiply past its address space even when another axis is 0. A larger
    shape without a 0 is refused by the element or byte count that follows; a zero-size one
    passes those, so it is checked here, before any ``reshape``.
    """
    if len(shape) > MAX_RANK:
        raise ProtocolError(f"{where}: shape has {len(shape)} axes; at most {MAX_RANK} are supported")
    if 0 in shape and math.prod(n for n in shape if n) * dtype.itemsize > np.iinfo(np.intp).max:
        raise ProtocolError(f"{where}: shape {shape} is too large for any array")


def _json_data(data: Any, where: str, datatype: str, shape: list[int]) -> np.ndarray:
    """Tensor data given as JSON: a flat or nested array in row-major order."""
    if not isinstance(data, list):
        data = [data]
    try:
        array = to_array(data, ("data",)) if data else np.zeros(0)
    except ArrayError as error:
        raise ProtocolError(f"{where}: {error.reason} at data{list(error.location[1:])}") from None
    if array.size != math.prod(shape):
        raise ProtocolError(f"{where}: data has {array.size} elements but shape {shape} needs {math.prod(shape)}")
    dtype = DATATYPES[datatype]
    if dtype.kind == "i":
        limits = np.iinfo(dtype)
        if array.dtype.kind == "f" and not np.all(array == np.round(array)):
            raise ProtocolError(f"{where}: {datatype} data must be integers")
        # Compared as floats: -2**63 <= x < 2**63 (int64's max is not a float64).
        if array.size and not (float(limits.min) <= array.min() and array.max() < -float(limits.min)):
            raise ProtocolError(f"{where}: data outside the {datatype} range")
    with np.errstate(over="ignore"):  # FP32 overflow becomes inf, refused later as not finite in float32
        return array.reshape(shape).astype(dtype, copy=False)


def _requested_output(raw: Any, position: int) -> RequestedOutput:
    raw = _object(raw, f"outputs[{position}]")
    name = raw.get("name")
    if not isinstance(name, str):
        raise ProtocolError(f"outputs[{position}].name must be a string")
    binary = _object(raw.get("parameters", {}), f"output {brief(name)} parameters").get("binary_data")
    if binary is not None and not isinstance(binary, bool):
        raise ProtocolError(f"output {brief(name)}: parameters.binary_data must be a boolean")
    return RequestedOutput(name, binary)


def encode_infer_response(
    model_name: str,
    request_id: str | None,
    outputs: Iterable[tuple[str, np.ndarray | float, bool]],
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length.

    ``outputs`` are ``(name, value, binary)``; a scalar loss has shape ``[]``. Binary outputs
    are written straight from their buffers after the header.
    """
    described: list[dict[str, Any]] = []
    blobs: list[memoryview] = []
    for name, value, binary in outputs:
        array = np.asarray(value)
        tensor: dict[str, Any] = {"name": name, "datatype": DATATYPE_OF[array.dtype], "shape": list(array.shape)}
        if binary:
            # A view of the array's own buffer: the join below is the one copy.
            blob = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).reshape(-1).view(np.uint8).data
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = as_output(array.reshape(-1))
        described.append(tensor)
    document: dict[str, Any] = {"model_name": model_name, "model_version": "1", "outputs": described}
    if request_id is not None:
        document["id"] = request_id
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)
