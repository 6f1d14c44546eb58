"""``service/transport/json_codec.py``: request bytes to arrays, results back to bytes."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from service.api.codecs.inference import as_v2_error
from service.api.problems import as_problem
from service.transport import ArrayError, MalformedJSON, as_output, decode_json, encode_json, to_array

LOC = ("y_pred",)


def invalid(value: Any) -> ArrayError:
    """The ``ArrayError`` that ``to_array`` raises for ``value`` (located under ``y_pred``)."""
    with pytest.raises(ArrayError) as caught:
        to_array(value, LOC)
    assert caught.value.detail
    assert caught.value.reason
    return caught.value


# to_array: the arrays it accepts.


@pytest.mark.parametrize(
    ("value", "dtype", "shape"),
    [
        ([1, 2, 3], np.int64, (3,)),
        ([[1, 2], [3, 4], [5, 6]], np.int64, (3, 2)),
        ([[[0]], [[-7]]], np.int64, (2, 1, 1)),
        ([0.5, 1.5], np.float64, (2,)),
        ([[0.5], [1e-300]], np.float64, (2, 1)),
        ([1, 2.5], np.float64, (2,)),  # mixed ints and floats: float64
        ([[1, 2], [3.0, 4]], np.float64, (2, 2)),
        ([-(2**63), 2**63 - 1], np.int64, (2,)),  # the int64 range, both ends
        ([1.5, 2**53 + 1], np.float64, (2,)),  # an int64 among floats becomes a float like the others
        ([], np.float64, (0,)),  # empty: the engine rejects it with its shape, not the codec
        ([[], []], np.float64, (2, 0)),
    ],
)
def test_to_array_dtype_and_shape(value: list[Any], dtype: type, shape: tuple[int, ...]) -> None:
    array = to_array(value, LOC)
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.dtype(dtype)
    assert array.shape == shape
    assert np.array_equal(array, np.asarray(value, dtype=dtype))


def test_to_array_keeps_values_exactly() -> None:
    array = to_array([[0.1, 2**53], [-0.0, 1e308]], LOC)
    assert array.tolist() == [[0.1, 2.0**53], [-0.0, 1e308]]
    assert np.signbit(array[1, 0])


# to_array: booleans among numbers (NumPy reads True as 1; the codec must not).


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ([True], (0,)),
        ([False, 1.0], (0,)),
        ([1.0, True], (1,)),
        ([1, 2, 3, False], (3,)),
        ([[1, 2], [3, True]], (1, 1)),
        ([[1.5], [False]], (1, 0)),
        ([[[1, 2]], [[3, False]]], (1, 0, 1)),
        ([[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [True, 0.0]]], (1, 1, 0)),
        ([[True, 2], [3, [4]]], (0, 0)),  # the first offence in document order
    ],
)
def test_to_array_rejects_a_boolean_among_numbers(value: list[Any], where: tuple[int, ...]) -> None:
    error = invalid(value)
    issue = error
    assert issue.location == (*LOC, *where)
    assert "boolean" in issue.reason
    assert "number" in issue.reason


# to_array: ragged arrays, located at the list (or element) that breaks the shape.


@pytest.mark.parametrize(
    ("value", "where", "words"),
    [
        ([[1, 2], [3]], (1,), "length 1, its siblings 2"),
        ([[1], []], (1,), "length 0, its siblings 1"),
        ([[], [1]], (1,), "length 1, its siblings 0"),
        ([[1], [[2]]], (1, 0), "a list where its siblings hold numbers"),
        ([[[1]], [2]], (1, 0), "expected a list of length 1, got a number"),
        ([[1, 2], [3, [4]]], (1, 1), "a list where its siblings hold numbers"),
        ([[[1, 2], [3, 4]], [[5, 6], [7]]], (1, 1), "length 1, its siblings 2"),
        ([[[1, 2], [3, 4]], [[5, 6]]], (1,), "length 1, its siblings 2"),
        ([1, [2]], (1,), "a list where its siblings hold numbers"),
    ],
)
def test_to_array_locates_ragged_arrays(value: list[Any], where: tuple[int, ...], words: str) -> None:
    error = invalid(value)
    issue = error
    assert issue.location == (*LOC, *where)
    assert "ragged" in issue.reason
    assert words in issue.reason
    assert "rectangular" in error.detail


# to_array: things that are not numbers at all.


@pytest.mark.parametrize(
    ("value", "where", "kind"),
    [
        (["1"], (0,), "a string"),
        ([1.0, "2"], (1,), "a string"),
        ([[1, 2], [3, "4"]], (1, 1), "a string"),
        ([None], (0,), "null"),
        ([[1, None]], (0, 1), "null"),
        ([1, {}], (1,), "an object"),
        ([[{"a": 1}], [2]], (0, 0), "an object"),
    ],
)
def test_to_array_locates_non_numbers(value: list[Any], where: tuple[int, ...], kind: str) -> None:
    issue = invalid(value)
    assert issue.location == (*LOC, *where)
    assert issue.reason == f"expected a number, got {kind}"


@pytest.mark.parametrize(
    ("value", "kind"),
    [(5, "a number"), (0.5, "a number"), ("x", "a string"), (None, "null"), ({}, "an object"), (True, "a boolean")],
)
def test_to_array_wants_a_list(value: Any, kind: str) -> None:
    error = invalid(value)
    assert error.detail == "an array was expected"
    issue = error
    assert issue.location == LOC
    assert issue.reason == f"expected a (nested) array of numbers, got {kind}"


@pytest.mark.parametrize(
    "value",
    [
        [2**63],
        [2**64 - 1],
        [[2**63], [2**63 + 5]],
        [2**64],
        [1, 2**70],
        [1.5, 2**70],
        [[0], [-(2**63) - 1]],
        [[1, 2], [3, -(2**100)]],
    ],
)
def test_to_array_integers_beyond_int64_are_read_as_floats(value: list[Any]) -> None:
    # JSON has one kind of number: past int64 (and never as uint64) an integer is the double it rounds to.
    array = to_array(value, LOC)
    assert array.dtype == np.float64
    assert array.tolist() == np.asarray(value, dtype=np.float64).tolist()


@pytest.mark.parametrize(
    ("value", "where", "kind"),
    [([2**70, True], (1,), "a boolean"), ([[2**64], ["1"]], (1, 0), "a string"), ([2**63, None], (1,), "null")],
)
def test_to_array_big_integers_do_not_hide_other_problems(value: list[Any], where: tuple[int, ...], kind: str) -> None:
    issue = invalid(value)
    assert issue.location == (*LOC, *where)
    assert issue.reason == f"expected a number, got {kind}"


def _nested(depth: int, leaf: Any = 1.0) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@pytest.mark.parametrize(("depth", "leaf"), [(64, 1.0), (64, 2**70), (33, 1)])
def test_to_array_up_to_64_dimensions(depth: int, leaf: Any) -> None:
    array = to_array(_nested(depth, leaf), LOC)
    assert array.shape == (1,) * depth
    assert array.item() == leaf


@pytest.mark.parametrize(("depth", "leaf"), [(65, 1.0), (65, 2**70), (200, 1), (995, 1.0)])
def test_to_array_deeper_than_64_dimensions_is_invalid_input(depth: int, leaf: Any) -> None:
    with pytest.raises(ArrayError) as caught:
        to_array(_nested(depth, leaf), LOC)
    assert caught.value.location[:1] == LOC


def test_to_array_too_deep_is_refused_before_looking_at_the_leaves() -> None:
    issue = invalid(_nested(65, True))
    assert issue.location == LOC
    assert issue.reason == "rank above 64"


def test_to_array_location_prefix_is_kept() -> None:
    with pytest.raises(ArrayError) as caught:
        to_array([[1, 2], [3, None]], ("params", "class_weight"))
    assert caught.value.location == ("params", "class_weight", 1, 1)


# decode_json


def test_decode_json_parses_json() -> None:
    assert decode_json(b'{"y_true": [1, 2.5], "x": null, "b": true}') == {"y_true": [1, 2.5], "x": None, "b": True}
    assert decode_json(b"[1e-400]") == [0.0]  # underflow to 0 is still a finite double


@pytest.mark.parametrize(
    "body",
    [b'{"y_true": [1,', b"", b"{", b"[1, 2,]", b"{'a': 1}", b"\xff\xfe", b"[1, nan]", b"[" * 2000 + b"]" * 2000],
)
def test_decode_json_rejects_what_is_not_json(body: bytes) -> None:
    with pytest.raises(MalformedJSON) as caught:
        decode_json(body)
    message = str(caught.value)
    assert message.startswith("the body is not valid JSON: ")
    assert len(message) > len("the body is not valid JSON: ")


@pytest.mark.parametrize(
    "body",
    [
        b"[1, NaN]",
        b'{"y_pred": [0.5, Infinity]}',
        b"NaN",
        b"[1, -Infinity]",  # orjson says 'no digit after sign' here, not 'unexpected character'
        b'{"a": [[-NaN]]}',
        b'{"y_true": [1, 2], "y_pred": [0.5,Infinity]}',
    ],
)
def test_decode_json_names_the_non_standard_tokens(body: bytes) -> None:
    with pytest.raises(MalformedJSON) as caught:
        decode_json(body)
    message = str(caught.value)
    assert "NaN" in message
    assert "Infinity" in message
    assert "not JSON" in message


@pytest.mark.parametrize("body", [b'{"note": "NaN", "x": [1,]}', b'{"Infinity": 1,}', b'["Infinity" 1]'])
def test_decode_json_names_the_tokens_only_where_they_are_the_fault(body: bytes) -> None:
    with pytest.raises(MalformedJSON) as caught:
        decode_json(body)
    assert str(caught.value).startswith("the body is not valid JSON: ")


@pytest.mark.parametrize("body", [b"[1e400]", b'{"y_true": [[1, -1e400]]}', b"1.7976931348623159e308"])
def test_decode_json_rejects_numbers_beyond_float64(body: bytes) -> None:
    with pytest.raises(MalformedJSON) as caught:
        decode_json(body)
    assert "too large for a double (float64)" in str(caught.value)


def test_decode_json_largest_double_is_fine() -> None:
    assert decode_json(b"[1.7976931348623157e308]") == [1.7976931348623157e308]


def test_malformed_json_is_answered_as_the_clients_fault_on_both_front_ends() -> None:
    """What ``decode_json`` raises is a 400 to the caller (``/losses``: a malformed-json problem with its
    message; ``/v2``: ``{"error": message}``), never re-raised as a bug (a 500)."""
    with pytest.raises(MalformedJSON) as caught:
        decode_json(b'{"y_true": [1,')
    problem = as_problem(caught.value)
    assert (problem.status, problem.kind, problem.detail) == (400, "malformed-json", str(caught.value))
    assert problem.errors == ()
    v2 = as_v2_error(caught.value)
    assert (v2.status, v2.message) == (400, str(caught.value))


# as_output and encode_json


def test_as_output_widens_float32_to_c_contiguous_float64() -> None:
    source = np.asfortranarray(np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32))
    out = as_output(source)
    assert out.dtype == np.float64
    assert out.flags["C_CONTIGUOUS"]
    assert out.tolist() == [[float(np.float32(v)) for v in row] for row in [[0.1, 0.2], [0.3, 0.4]]]


def test_encode_json_writes_float32_as_its_float64_widening() -> None:
    document = {
        "loss": as_output(np.array([0.1], dtype=np.float32)),
        "grad": as_output(np.float32(0.1) * np.ones((1, 2), np.float32)),
    }
    raw = encode_json(document)
    assert raw == b'{"loss":[0.10000000149011612],"grad":[[0.10000000149011612,0.10000000149011612]]}'
    assert orjson.loads(raw)["loss"][0] == float(np.float32(0.1))


def test_encode_json_writes_shortest_round_trip_float64() -> None:
    values = [0.1, 1 / 3, 1e-300, 2.0**-1074, 1.7976931348623157e308, -0.0, 0.0625, 1e22]
    raw = encode_json({"a": as_output(np.array(values)), "b": 0.1})
    assert raw.startswith(b'{"a":[0.1,0.3333333333333333,1e-300,')
    assert raw.endswith(b',"b":0.1}')
    assert orjson.loads(raw)["a"] == values  # reads back to the same doubles
    for token, value in zip(raw[raw.index(b"[") + 1 : raw.index(b"]")].split(b","), values, strict=True):
        assert float(token) == value
        # no more digits than Python's repr, the shortest form that round-trips
        assert len(token.replace(b"e+", b"e")) <= len(repr(value).replace("e+", "e")), token


def test_encode_json_plain_documents() -> None:
    assert (
        encode_json({"name": "mse", "loss": 0.0625, "n": 3, "x": None})
        == b'{"name":"mse","loss":0.0625,"n":3,"x":null}'
    )
