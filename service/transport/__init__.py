"""Bytes to NumPy arrays and back: JSON bodies (orjson, and simdjson straight into arrays), the
Open Inference Protocol's tensors (``kserve``); ``errors`` is what they raise."""

from .errors import ArrayError, DecodeError
from .json_codec import MalformedJSON, as_output, decode_json, encode_json, to_array
from .simd_json import decode_with_arrays

__all__ = [
    "ArrayError",
    "DecodeError",
    "MalformedJSON",
    "as_output",
    "decode_json",
    "decode_with_arrays",
    "encode_json",
    "to_array",
]
