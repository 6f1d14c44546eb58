"""Bytes to NumPy arrays and back: the request body's JSON, the response's JSON."""

from .json_codec import MalformedJSON, as_output, decode_json, encode_json, to_array
from .simd_json import decode_with_arrays

__all__ = ["MalformedJSON", "as_output", "decode_json", "decode_with_arrays", "encode_json", "to_array"]
