"""The fast path for request bodies: named array fields parsed straight into NumPy, no Python float per element.

``orjson.loads`` makes a Python ``float`` (24 bytes, plus 8 for the list slot) of every
number, and ``np.array`` then walks them again: for a 1e6-element array that is most of a
request's time and memory. simdjson parses the body into its own tape in C, and
``Array.as_buffer`` copies a nested array's numbers from the tape into one flat buffer
that NumPy wraps without a copy. Measured on a 39 MB body holding two (1e5, 10) arrays:
~75 ms against ~215 ms for ``orjson.loads`` and ``np.array`` (benchmarks/RESULTS.md).

This path is only ever an optimisation of the general one (``decode_json`` then
``to_array``): for any body it either gives exactly what that path gives (the same
values to the bit, the same dtype, the same other fields) or declines with ``None``, and
the caller takes the general path, which owns every error message. It declines on
anything it does not vouch for: invalid JSON, a byte order mark, numbers outside float64 or uint64, a top
level that is not an object, a repeated key, a key holding a NUL character, a field that is
not a rectangular array of numbers, or a ``[`` anywhere it cannot account for.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from itertools import chain
from math import prod
from typing import Any

import numpy as np
import simdjson

from .json_codec import MAX_RANK

_OPEN_BRACKET = ord("[")
_BYTE_ORDER_MARK = b"\xef\xbb\xbf"


def decode_with_arrays(body: bytes | bytearray | memoryview, array_fields: frozenset[str]) -> dict[str, Any] | None:
    """The JSON object in ``body`` with its ``array_fields`` as int64/float64 arrays, or ``None``.

    An array of integers (each within int64) becomes int64, any other array of numbers
    float64, each number correctly rounded: what ``to_array`` makes of ``orjson.loads``.
    Other fields are plain Python values, as ``orjson.loads`` gives them.
    """
    if body[:3] == _BYTE_ORDER_MARK:  # simdjson skips it; orjson (the general path) refuses it
        return None
    try:
        # A fresh parser per body: its tape is freed with it, and no proxy can pin a shared one.
        parser = simdjson.Parser()
        document = parser.parse(body)
    except (ValueError, RuntimeError):  # simdjson's errors: not JSON, a number out of range, too deep
        return None
    if not isinstance(document, simdjson.Object):
        return None
    try:
        keys = list(document.keys())
    except UnicodeError:  # a key simdjson takes but Python cannot hold (a lone surrogate escape)
        return None
    if len(set(keys)) != len(keys):  # orjson keeps the last of repeated keys; let it decide
        return None
    if any("\x00" in key for key in keys):
        # simdjson looks a key up as a C string: "a\u0000b" would find the value of "a".
        return None
    decoded: dict[str, Any] = {}
    value: Any = None
    lists = 0  # every list the decoded document holds, to account for every '[' in the body
    for key in keys:
        value = document[key]
        if key in array_fields and isinstance(value, simdjson.Array):
            found = _rectangular(value)
            if found is None:
                return None
            decoded[key], lists_in_field = found
            lists += lists_in_field
        else:
            if isinstance(value, (simdjson.Object, simdjson.Array)):
                value = value.as_dict() if isinstance(value, simdjson.Object) else value.as_list()
            decoded[key] = value
            lists += _count_lists(value)
    del value, document
    # as_buffer flattens whatever it meets, so a list where a number belongs ([3, [4]] for 3)
    # would pass every length check above; it cannot hide from a count of the brackets.
    if _count_open_brackets(body) != lists:
        return None
    return decoded


def _count_open_brackets(body: bytes | bytearray | memoryview) -> int:
    """``body.count(b"[")``, at NumPy speed for a large body: a megabyte at a time (a whole-body mask would cost a
    byte per byte); a body under a megabyte is counted by ``count`` itself, which is faster there."""
    chunk = 1 << 20
    if len(body) < chunk and not isinstance(body, memoryview):
        return body.count(b"[")
    octets = np.frombuffer(body, dtype=np.uint8)
    return sum(int(np.count_nonzero(octets[i : i + chunk] == _OPEN_BRACKET)) for i in range(0, octets.size, chunk))


def _rectangular(array: Any) -> tuple[np.ndarray, int] | None:
    """The array's numbers in its shape, and how many lists it is made of; ``None`` unless rectangular."""
    shape: list[int] = []
    node = array
    while isinstance(node, simdjson.Array) and len(shape) <= MAX_RANK:
        shape.append(len(node))
        if not shape[-1]:
            break
        node = node[0]
    if len(shape) > MAX_RANK:
        return None
    flat = None
    if isinstance(node, int):  # the first number is an integer: perhaps they all are (a failed try costs µs)
        # Failing means a float, an integer beyond int64, or not a number at all.
        with suppress(TypeError, ValueError):
            flat = np.frombuffer(array.as_buffer(of_type="i"), dtype=np.int64)
    if flat is None:
        try:
            flat = np.frombuffer(array.as_buffer(of_type="d"), dtype=np.float64)
        except (TypeError, ValueError):  # a boolean, null, string or object
            return None
    if flat.size != prod(shape):
        return None
    if not flat.size:
        flat = flat.astype(np.float64)  # an empty array is float64, as to_array makes it
    lists, level = 1, [array]
    try:
        for length in shape[1:]:
            level = list(chain.from_iterable(level))
            if not all(map(length.__eq__, map(len, level))):
                return None
            lists += len(level)
    except TypeError:  # a number where a list belongs
        return None
    return flat.reshape(shape), lists


def _count_lists(value: Any) -> int:
    """Lists in a decoded JSON value (simdjson nests at most 1024 deep, so a stack of that size at most)."""
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            count += 1
            stack.extend(node)
        elif isinstance(node, Mapping):
            stack.extend(node.values())
    return count
