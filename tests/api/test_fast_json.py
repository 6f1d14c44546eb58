"""The JSON fast path (simdjson straight into arrays) answers every body exactly as the general path (orjson).

Bodies are written as JSON text, so that keys can be anything JSON allows: escapes that spell a
field name (``"y_\\u0074rue"``), NUL and other control characters, lone and paired surrogate
escapes, repeated keys, look-alikes of the field names (Cyrillic, full-width), and values of
every kind. Each body goes through the service's pipeline twice, with ``LossesCodec(fast_json=True)``
and ``fast_json=False``: the answers (status, headers, bytes) must be equal.
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api.codecs import LossesCodec
from service.serving import Body, respond
from tests.support.http import make_checked_client

FAST, GENERAL = LossesCodec(fast_json=True), LossesCodec(fast_json=False)
META = {"request_id": "differential"}
FIELDS = ["y_true", "y_pred", "sample_weight", "params", "reduction", "return_grad", "dtype"]


def escaped(text: str) -> str:
    """``text`` as a JSON string with every character written as a \\u escape."""
    return '"' + "".join(f"\\u{ord(c):04x}" for c in text) + '"'


keys = st.one_of(
    st.sampled_from(FIELDS).map(json.dumps),
    st.sampled_from(FIELDS).map(escaped),  # "y_true" spelt with escapes is "y_true"
    st.sampled_from(FIELDS).map(lambda f: json.dumps(f[:1] + "\u0000" + f[1:])),  # a NUL inside
    st.sampled_from(FIELDS).map(lambda f: json.dumps(f + "\u0000")),  # a NUL after: a C string reads "y_true"
    st.sampled_from(["\u0443_true", "y\uff3fpred", "\u0443_pred", "y_tru\u0435"]).map(json.dumps),  # look-alikes
    st.sampled_from(['"\\ud800"', '"\\udfff"', '"y_\\ud83d\\ude00"', '"\\ud83d"', '"a\\u0000b"']),  # surrogates
    st.text(max_size=6).map(lambda t: json.dumps(t, ensure_ascii=False)),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 1e308, 5e-324, 2**63, -(2**63) - 1]),
)
scalars = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=4))
rows = st.integers(1, 3).flatmap(lambda n: st.lists(st.lists(numbers, min_size=n, max_size=n), min_size=1, max_size=3))
ragged = st.lists(st.lists(numbers, max_size=3), min_size=1, max_size=3)
values = st.recursive(
    st.one_of(scalars, rows, ragged),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=12,
).map(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode() if _writable(v) else "null")


def _writable(value: object) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


# A well-formed start keeps most bodies valid enough to reach the arrays.
bases = st.sampled_from(
    [
        [],
        [('"y_true"', "[[0.5, 1.0]]"), ('"y_pred"', "[[0.25, 2.0]]")],
        [('"y_true"', "[1, 2]"), ('"y_pred"', "[3, 4]"), ('"return_grad"', "true")],
    ]
)
members = st.lists(st.tuples(keys, values), max_size=5)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    pairs = draw(bases) + draw(members)
    order = draw(st.permutations(pairs))
    return ("{" + ", ".join(f"{key}: {value}" for key, value in order) + "}").encode("utf-8", "surrogatepass")


def answers_agree(body: bytes, loss: str = "mse") -> None:
    fast = respond(FAST, loss, Body(body), META, 10_000)
    general = respond(GENERAL, loss, Body(body), META, 10_000)
    assert (fast.status, fast.headers, fast.media_type) == (general.status, general.headers, general.media_type), body
    assert fast.content == general.content, body


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), st.sampled_from(["mse", "binary_crossentropy", "sparse_categorical_crossentropy"]))
def test_the_fast_path_answers_what_the_general_path_answers(body: bytes, loss: str) -> None:
    answers_agree(body, loss)


HOSTILE_KEYS = [
    ('{"x\\u0000": 1, "y_true": [1], "y_pred": [1]}', 422),  # found by Schemathesis: was a 500
    ('{"y_true\\u0000": [5], "y_true": [1], "y_pred": [1]}', 422),
    ('{"y_true": [1], "y_pred\\u0000": [9], "y_pred": [1]}', 422),
    ('{"y_\\u0074rue": [1], "y_pred": [2]}', 200),
    ('{"y_true": [1], "y_true": [3], "y_pred": [2]}', 200),  # repeated: the last wins, as orjson reads it
    ('{"\\ud800": 1, "y_true": [1], "y_pred": [1]}', 400),  # a lone surrogate is not valid JSON text for orjson
    ('{"\\u0443_true": [1], "y_pred": [1]}', 422),  # a Cyrillic look-alike is another key
    ('{"y_true": [1], "y_pred": [1], "\\ud83d\\ude00": 0}', 422),
]


@pytest.mark.parametrize(("body", "status"), HOSTILE_KEYS)
def test_hostile_keys_get_what_the_general_path_gives(body: str, status: int) -> None:
    answers_agree(body.encode())
    with make_checked_client() as client:
        response = client.post("/losses/dice", content=body.encode(), headers={"content-type": "application/json"})
        assert response.status_code == (422 if status == 200 else status)  # dice needs rank 2: 422 where mse is 200
        response = client.post("/losses/mse", content=body.encode(), headers={"content-type": "application/json"})
        assert response.status_code == status, response.text
