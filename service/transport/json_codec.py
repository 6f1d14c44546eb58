"""JSON bodies to NumPy arrays without Python loops, and results back to JSON with orjson.

The request body is parsed once by orjson; each array field is handed to ``np.asarray``,
which walks the nested lists in C. NumPy's dtype discovery already rejects ragged arrays,
strings, nulls and objects; the one thing it lets through is a boolean among numbers
(``np.asarray([1.0, True])`` is ``[1., 1.]``), so that is checked with a C-level scan of
the element types. Only when something is wrong does a Python walk run, to find the
first offending element and point at it.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
import orjson

from .errors import ArrayError, DecodeError, Location

#: NumPy's own limit; deeper nesting is refused before NumPy or a recursive walk sees it.
MAX_RANK = 64


class MalformedJSON(DecodeError):
    """The body is not JSON (or uses the non-standard NaN/Infinity tokens)."""


_NON_STANDARD_TOKENS = (b"NaN", b"Infinity")


def decode_json(body: bytes | bytearray | memoryview, what: str = "the body") -> Any:
    """The JSON value in ``body``; ``MalformedJSON`` says what is wrong with ``what`` (the body, a header)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        message = str(error)
        if "infinity when parsed as double" in message:
            raise MalformedJSON(f"a number is too large for a double (float64): {message}") from None
        near = bytes(body[max(0, error.pos - 1) : error.pos + len(b"Infinity")])
        if any(token in near for token in _NON_STANDARD_TOKENS):
            raise MalformedJSON(f"NaN and Infinity are not JSON; send finite numbers ({message})") from None
        raise MalformedJSON(f"{what} is not valid JSON: {message}") from None


def to_array(value: Any, location: Location) -> np.ndarray:
    """A rectangular nested list of numbers as an int64 or float64 array.

    The lists are flattened level by level in C (``chain``, ``map(len)``), each level's
    lengths checked against the shape the first elements spell out, the leaves' types
    checked in one pass (``bool`` is not a number, though NumPy would take it for one), and
    the flat list handed to ``np.array``: no Python loop per element, and none of NumPy's
    slower nested-sequence discovery. Anything off sends the value to a walk that finds the
    first offending element and raises ``ArrayError`` located there. Integers beyond the
    int64 range make the array float64 (JSON has one kind of number). An array that
    ``decode_with_arrays`` already made is passed through.
    """
    if isinstance(value, np.ndarray):
        return value
    if not isinstance(value, list):
        raise ArrayError(
            "an array was expected", location, f"expected a (nested) array of numbers, got {_json_type(value)}"
        )
    shape = _leading_shape(value)
    if len(shape) > MAX_RANK:
        raise ArrayError("arrays are nested too deeply", location, f"rank above {MAX_RANK}")
    leaves = _flatten(value, shape)
    kinds = set(map(type, leaves)) if leaves is not None else {list}
    if not kinds <= _NUMBER_TYPES:
        where, reason = _first_problem(value, location, shape) or (location, "expected a rectangular array of numbers")
        raise ArrayError("arrays must be rectangular nested lists of numbers", where, reason)
    if float in kinds or not leaves:  # an empty array is float64, as NumPy makes it
        return np.array(leaves, dtype=np.float64).reshape(shape)
    try:
        return np.array(leaves, dtype=np.int64).reshape(shape)
    except OverflowError:
        return np.array(leaves, dtype=np.float64).reshape(shape)


_NUMBER_TYPES = frozenset({float, int})


def _flatten(value: list[Any], shape: list[int]) -> list[Any] | None:
    """The leaves of a nested list whose every level has the lengths in ``shape``, else None."""
    level: list[Any] = value
    try:
        for length in shape[1:]:
            if any(n != length for n in map(len, level)):
                return None
            level = list(chain.from_iterable(level))
    except TypeError:  # a number (or null) where a list belongs
        return None
    return level


def _leading_shape(value: list[Any]) -> list[int]:
    """The shape the first elements spell out, as NumPy reads it (at most ``MAX_RANK + 1`` deep)."""
    shape: list[int] = []
    node: Any = value
    while isinstance(node, list) and len(shape) <= MAX_RANK:
        shape.append(len(node))
        if not node:
            break
        node = node[0]
    return shape


def _first_problem(value: Any, location: Location, shape: list[int]) -> tuple[Location, str] | None:
    """Walk the nested lists to find the first non-number or ragged list (error path only).

    The walk never goes deeper than ``shape``, so its recursion is bounded by ``MAX_RANK``.
    """

    def walk(node: Any, path: Location, depth: int) -> tuple[Location, str] | None:
        if depth < len(shape):
            if not isinstance(node, list):
                return path, f"ragged array: expected a list of length {shape[depth]}, got {_json_type(node)}"
            if len(node) != shape[depth]:
                return path, f"ragged array: this list has length {len(node)}, its siblings {shape[depth]}"
            for i, child in enumerate(node):
                issue = walk(child, (*path, i), depth + 1)
                if issue is not None:
                    return issue
            return None
        if isinstance(node, list):
            return path, "ragged array: a list where its siblings hold numbers"
        if isinstance(node, bool) or not isinstance(node, (int, float)):
            return path, f"expected a number, got {_json_type(node)}"
        return None

    return walk(value, location, 0)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a number"


def as_output(array: np.ndarray) -> np.ndarray:
    """An array ready for ``encode_json``: C-contiguous float64.

    float32 results are widened: every number is written in the shortest form that reads
    back to the same float64 (the contract), which for a float32 value is its exact
    float64 widening.
    """
    return np.ascontiguousarray(array, dtype=np.float64)


def encode_json(document: Any) -> bytes:
    """orjson, with NumPy arrays (pass them through ``as_output``) written from their buffers."""
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
