"""``decode_with_arrays`` (simdjson) against the general path (``decode_json`` then ``to_array``).

The fast path may decline any body (``None``), but whatever it returns must be exactly what
the general path makes of that body: the same fields, the same array dtypes, shapes and
bits. Hypothesis writes JSON documents full of the shapes that could fool a flattening
parser (ragged lists, lists where numbers belong, booleans, nulls, huge integers, -0,
repeated keys), and the examples below pin the cases that matter most.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.transport import ArrayError, MalformedJSON, decode_json, decode_with_arrays, to_array

FIELDS = frozenset({"y_true", "y_pred", "sample_weight"})


def with_arrays(document: Any) -> dict[str, Any] | str:
    """The document as the dispatcher sees it: each array field through ``to_array``, or the error's kind."""
    if not isinstance(document, dict):
        return "not an object"
    try:
        return {k: to_array(v, (k,)) if k in FIELDS else v for k, v in document.items()}
    except ArrayError:
        return "invalid array"


def general(body: bytes) -> dict[str, Any] | str:
    """What the general path makes of ``body``."""
    try:
        return with_arrays(decode_json(body))
    except MalformedJSON:
        return "malformed"


def assert_same(fast: dict[str, Any], slow: dict[str, Any]) -> None:
    assert list(fast) == list(slow)
    for key, expected in slow.items():
        got = fast[key]
        if isinstance(expected, np.ndarray):
            assert isinstance(got, np.ndarray), key
            assert got.dtype == expected.dtype, key
            assert got.shape == expected.shape, key
            assert got.tobytes() == expected.tobytes(), key  # to the bit, -0.0 included
        else:
            assert json.dumps(got) == json.dumps(expected), key
            assert type(got) is type(expected), key


def check(body: bytes) -> dict[str, Any] | None:
    """Run both paths; the fast one must decline or agree. Returns what it gave."""
    fast = decode_with_arrays(body, FIELDS)
    if fast is not None:
        slow, fast_final = general(body), with_arrays(fast)
        assert not isinstance(slow, str) or fast_final == slow, f"the paths differ ({slow}): {body[:200]!r}"
        if isinstance(slow, dict):
            assert isinstance(fast_final, dict)
            assert_same(fast_final, slow)
    return fast


# What it must take, and take exactly.


@pytest.mark.parametrize(
    ("text", "dtype", "shape"),
    [
        ("[1, 2, 3]", np.int64, (3,)),
        ("[[1, 2], [3, 4], [5, 6]]", np.int64, (3, 2)),
        ("[[[0]], [[-7]]]", np.int64, (2, 1, 1)),
        ("[0.5, 1.5]", np.float64, (2,)),
        ("[1, 2.5]", np.float64, (2,)),
        ("[[1, 2], [3.0, 4]]", np.float64, (2, 2)),
        ("[-9223372036854775808, 9223372036854775807]", np.int64, (2,)),
        ("[1, 18446744073709551615]", np.float64, (2,)),  # beyond int64: float64, as to_array does
        ("[9007199254740993, 0.5]", np.float64, (2,)),  # an integer rounded to the nearest double
        ("[-0, -0.0, 0, 1e-400, -1e-400]", np.float64, (5,)),
        ("[1.7976931348623157e308, 5e-324, 2.2250738585072014e-308]", np.float64, (3,)),
        ("[]", np.float64, (0,)),
        ("[[], []]", np.float64, (2, 0)),
        ("[[[1, 2, 3]]]", np.int64, (1, 1, 3)),
    ],
)
def test_arrays_are_exactly_what_the_general_path_makes(text: str, dtype: type, shape: tuple[int, ...]) -> None:
    body = b'{"y_pred": ' + text.encode() + b', "reduction": "sum", "params": {"delta": [1, [2]]}}'
    fast = check(body)
    assert fast is not None, "the fast path should take a rectangular array of numbers"
    assert fast["y_pred"].dtype == dtype
    assert fast["y_pred"].shape == shape
    assert fast["params"] == {"delta": [1, [2]]}


def test_a_large_body_takes_the_fast_path() -> None:
    rng = np.random.default_rng(7)
    values = rng.standard_normal((1000, 10)) * 10.0 ** rng.integers(-300, 300, (1000, 10))
    body = orjson.dumps({"y_true": values.tolist(), "y_pred": values[::-1].tolist(), "return_grad": True})
    fast = check(body)
    assert fast is not None
    np.testing.assert_array_equal(fast["y_true"], values)


# What it must leave to the general path (which owns the error messages).


@pytest.mark.parametrize(
    "text",
    [
        '{"y_pred": [[1, 2], [3, [4]]]}',  # a list where a number belongs: as_buffer alone would flatten it
        '{"y_pred": [1, [2]]}',
        '{"y_pred": [[1, 2], [3], [4, 5, 6]]}',  # ragged with the right total
        '{"y_pred": [[1, 2], 3]}',
        '{"y_pred": [1, true]}',
        '{"y_pred": [1, null]}',
        '{"y_pred": [1, "2"]}',
        '{"y_pred": [1, {"a": 2}]}',
        '{"y_pred": [1, 1e400]}',
        '{"y_pred": [1, 100000000000000000000000]}',
        '{"y_pred": [NaN]}',
        '{"y_pred": [1], "y_pred": [2]}',  # orjson keeps the last; leave that to it
        '\ufeff{"y_pred": [1]}',  # simdjson skips a byte order mark, orjson refuses it
        '[{"y_pred": [1]}]',
        '{"y_pred": [1,]}',
        '{"y_pred": [1], "note": "a [ in a string"}',  # a bracket it cannot account for
    ],
)
def test_declines_what_it_cannot_vouch_for(text: str) -> None:
    assert check(text.encode()) is None


def test_declines_nesting_deeper_than_simdjson_allows() -> None:
    assert check(b'{"y_pred": ' + b"[" * 2000 + b"1" + b"]" * 2000 + b"}") is None


def test_declines_more_than_64_dimensions() -> None:
    assert check(b'{"y_pred": ' + b"[" * 65 + b"1" + b"]" * 65 + b"}") is None


# Differential: random documents, both paths.

numbers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 2**53 + 1, 2**63, -(2**63) - 1, 5e-324]),
)
leaves = st.one_of(numbers, numbers, numbers, st.booleans(), st.none(), st.just("["), st.just([]))


@st.composite
def tensors(draw: st.DrawFn) -> Any:
    """Mostly rectangular nested lists, sometimes with one element swapped for something else."""
    shape = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    total = int(np.prod(shape))
    flat = draw(st.lists(numbers, min_size=total, max_size=total))

    def build(level: int, start: int) -> list[Any]:
        if level == len(shape) - 1:
            return flat[start : start + shape[level]]
        step = int(np.prod(shape[level + 1 :]))
        return [build(level + 1, start + i * step) for i in range(shape[level])]

    tensor: Any = build(0, 0)
    if draw(st.booleans()):  # spoil it somewhere
        node = tensor
        while isinstance(node, list) and node and isinstance(node[0], list) and draw(st.booleans()):
            node = node[draw(st.integers(0, len(node) - 1))]
        if isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(st.one_of(leaves, st.lists(leaves, max_size=2)))
        elif isinstance(node, list):
            node.append(draw(leaves))
    return tensor


documents = st.dictionaries(
    st.sampled_from(["y_true", "y_pred", "sample_weight", "params", "reduction", "extra"]),
    st.one_of(tensors(), leaves, st.dictionaries(st.text(max_size=3), st.one_of(leaves, tensors()), max_size=2)),
    max_size=4,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fast_path_declines_or_agrees_with_the_general_path(document: dict[str, Any]) -> None:
    check(json.dumps(document).encode())  # the standard library writes integers of any size


in_range = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1), st.floats(allow_nan=False, allow_infinity=False)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(in_range, min_size=1, max_size=30), st.sampled_from([" ", "", "\n\t"]), st.booleans())
def test_number_spellings_parse_to_the_same_bits(values: list[Any], space: str, exponent_form: bool) -> None:
    """Every number simdjson can read, written shortest or with 17 digits and an exponent, with any whitespace."""
    texts = [(f"{v:.16E}" if exponent_form else repr(v)) if isinstance(v, float) else str(v) for v in values]
    body = ('{"y_true":' + space + "[" + ("," + space).join(texts) + "]}").encode()
    assert check(body) is not None
