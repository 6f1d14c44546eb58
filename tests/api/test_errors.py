"""Every error row of API.md section 3, for ``POST /losses/{name}`` and the GET endpoints.

Each error is an RFC 9457 ``application/problem+json`` document whose ``errors[].pointer``
are RFC 6901 JSON Pointers into the request. The clients come from ``conftest.py`` and
``tests.support.http`` and fail the test on any 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.engine import CATALOG
from service.settings import Settings
from tests.support.http import JSON, PROBLEM_JSON, make_checked_client, post_loss

TYPE_PREFIX = "urn:loss-service:problem:"
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "errors"}
VALID_MSE = {"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 0.0]]}


def assert_problem(
    response: httpx.Response,
    status: int,
    kind: str | None,
    *,
    detail: tuple[str, ...] = (),
    pointers: list[str] | None = None,
    error_detail: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Check a problem response; ``kind`` is the ``urn:loss-service:problem:<kind>`` (None: about:blank).

    ``detail``: substrings of the problem's detail; ``pointers``: the exact ``errors[].pointer``
    list (``[]``: no ``errors`` member); ``error_detail``: substrings of the first error's detail.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert set(problem) <= PROBLEM_KEYS, problem
    assert problem["type"] == (TYPE_PREFIX + kind if kind else "about:blank")
    assert problem["status"] == status
    assert problem["title"] == HTTPStatus(status).phrase
    assert isinstance(problem["detail"], str) and len(problem["detail"]) > 10
    for words in detail:
        assert words in problem["detail"], problem["detail"]
    if pointers is not None:
        if pointers:
            assert [e["pointer"] for e in problem["errors"]] == pointers, problem
        else:
            assert "errors" not in problem, problem
    for item in problem.get("errors", []):
        assert set(item) == {"pointer", "detail"}
        assert item["pointer"] == "" or item["pointer"].startswith("/")
        assert isinstance(item["detail"], str) and item["detail"]
    for words in error_detail:
        assert words in problem["errors"][0]["detail"], problem["errors"]
    return problem


def assert_mse_example(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"name": "mse", "reduction": "mean", "dtype": "float64", "loss": 0.0625}


# 400: the body is not JSON.


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"y_true": [1,', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"y_true=1&y_pred=2", "not valid JSON"),
        (b'{"y_true": [1], "y_pred": [1],}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_400_body_not_json(api_client: TestClient, body: bytes, words: str) -> None:
    assert_problem(post_loss(api_client, "mse", body), 400, "malformed-json", detail=(words,), pointers=[])


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_400_non_standard_tokens(api_client: TestClient, token: str) -> None:
    body = f'{{"y_true": [0.0, 1.0], "y_pred": [0.5, {token}]}}'.encode()
    assert_problem(post_loss(api_client, "mse", body), 400, "malformed-json", pointers=[])


@pytest.mark.parametrize(
    "token",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "-NaN",
    ],
)
def test_400_non_standard_tokens_are_named_in_the_detail(api_client: TestClient, token: str) -> None:
    body = f'{{"y_true": [0.0, 1.0], "y_pred": [0.5, {token}]}}'.encode()
    assert_problem(post_loss(api_client, "mse", body), 400, "malformed-json", detail=("NaN and Infinity are not JSON",))


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.8e308"])
def test_400_number_too_large_for_float64(api_client: TestClient, number: str) -> None:
    body = f'{{"y_true": [0.0, 1.0], "y_pred": [0.5, {number}]}}'.encode()
    assert_problem(
        post_loss(api_client, "mse", body), 400, "malformed-json", detail=("too large", "float64"), pointers=[]
    )


# 404: unknown loss, unknown path.


def _assert_lists_the_losses(problem: dict[str, Any], name: str) -> None:
    assert repr(name) in problem["detail"]
    for known in ("mse", "binary_crossentropy", "categorical_crossentropy", "kl_divergence", "hinge", *CATALOG):
        assert known in problem["detail"]


def test_404_post_unknown_loss(api_client: TestClient) -> None:
    problem = assert_problem(post_loss(api_client, "mean_squared_error", VALID_MSE), 404, "unknown-loss", pointers=[])
    _assert_lists_the_losses(problem, "mean_squared_error")


def test_404_post_unknown_loss_before_looking_at_the_body(api_client: TestClient) -> None:
    response = post_loss(api_client, "nope", b"not json", headers={"content-type": "text/plain"})
    _assert_lists_the_losses(assert_problem(response, 404, "unknown-loss"), "nope")


def test_404_get_unknown_loss(api_client: TestClient) -> None:
    problem = assert_problem(api_client.get("/losses/nope"), 404, "unknown-loss", pointers=[])
    _assert_lists_the_losses(problem, "nope")


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nowhere"), ("POST", "/v1/losses/mse"), ("GET", "/losses/mse/extra")]
)
def test_404_unknown_path(api_client: TestClient, method: str, path: str) -> None:
    response = api_client.request(method, path, content=b"{}", headers=JSON)
    assert_problem(response, 404, None, detail=(path, "GET /losses"), pointers=[])


# 405: wrong method, with an Allow header.


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/losses/mse", "GET, POST"),
        ("DELETE", "/losses/mse", "GET, POST"),
        ("PATCH", "/losses/kl_divergence", "GET, POST"),
        ("POST", "/livez", "GET"),
        ("POST", "/readyz", "GET"),
        ("DELETE", "/losses", "GET"),
    ],
)
def test_405_wrong_method(api_client: TestClient, method: str, path: str, allow: str) -> None:
    response = api_client.request(method, path, content=json.dumps(VALID_MSE), headers=JSON)
    assert_problem(response, 405, None, detail=(method, path), pointers=[])
    assert response.headers["allow"] == allow


# 413: the body is larger than the limit (2048 bytes here).


def _padded(size: int) -> bytes:
    """A valid mse body of exactly ``size`` bytes (padded with JSON whitespace)."""
    body = json.dumps(VALID_MSE).encode()
    return body + b" " * (size - len(body))


def test_413_body_over_the_limit(small_body_client: TestClient) -> None:
    response = post_loss(small_body_client, "mse", _padded(3000))
    assert_problem(response, 413, "body-too-large", detail=("2048 bytes",), pointers=[])


def test_413_body_one_byte_over_the_limit(small_body_client: TestClient) -> None:
    # TestClient sets Content-Length: 2049, so read_body answers from the header alone.
    response = post_loss(small_body_client, "mse", _padded(2049))
    assert response.request.headers["content-length"] == "2049"
    assert_problem(response, 413, "body-too-large", detail=("2048 bytes",))


def test_body_at_the_limit_is_accepted(small_body_client: TestClient) -> None:
    assert_mse_example(post_loss(small_body_client, "mse", _padded(2048)))


def test_413_when_only_content_length_says_so(small_body_client: TestClient) -> None:
    # A small body that declares itself huge: refused on the declaration, before it is read.
    body = json.dumps(VALID_MSE).encode()
    response = post_loss(small_body_client, "mse", body, headers={**JSON, "content-length": "1000000000"})
    assert response.request.headers["content-length"] == "1000000000"
    assert_problem(response, 413, "body-too-large", detail=("2048 bytes",), pointers=[])


def test_413_streamed_body_over_the_limit(small_body_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"y_true": ['
        for _ in range(600):  # about 3000 bytes in all
            yield b"0.0, "
        yield b'0.0], "y_pred": [0.0]}'

    response = small_body_client.post("/losses/mse", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers  # chunked: only counting can tell
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "body-too-large", detail=("2048 bytes",), pointers=[])


def test_streamed_body_under_the_limit_is_accepted(small_body_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        body = json.dumps(VALID_MSE).encode()
        yield from (body[i : i + 7] for i in range(0, len(body), 7))

    assert_mse_example(small_body_client.post("/losses/mse", content=chunks(), headers=JSON))


# 415: a content type the endpoint does not take.


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"content-type": "text/plain"}, "'text/plain'"),
        ({}, "no Content-Type"),
        ({"content-type": "application/x-www-form-urlencoded"}, "'application/x-www-form-urlencoded'"),
        ({"content-type": "multipart/form-data; boundary=x"}, "'multipart/form-data'"),
        ({"content-type": "text/json"}, "'text/json'"),
    ],
)
def test_415_unsupported_media_type(api_client: TestClient, headers: dict[str, str], words: str) -> None:
    response = post_loss(api_client, "mse", VALID_MSE, headers=headers)
    assert_problem(response, 415, "unsupported-media-type", detail=("application/json", words), pointers=[])


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
        "application/vnd.api+json; charset=utf-8",
    ],
)
def test_json_media_types_are_accepted(api_client: TestClient, content_type: str) -> None:
    assert_mse_example(post_loss(api_client, "mse", VALID_MSE, headers={"content-type": content_type}))


# 422: well-formed JSON that is not a valid computation.


@dataclass(frozen=True)
class Bad:
    """One 422 case: the request, the problem type, the pointers, and words its details must hold."""

    id: str
    loss: str
    body: Any
    pointers: list[str]
    kind: str = "invalid-input"
    detail: tuple[str, ...] = ()
    error_detail: tuple[str, ...] = field(default=())


P2 = [[0.5, 0.5], [0.5, 0.5]]  # two rows of valid probabilities

UNPROCESSABLE = [
    # booleans are not numbers
    Bad(
        "bool-in-y_pred", "mse", {"y_true": [1.0, 2.0], "y_pred": [1.0, True]}, ["/y_pred/1"], error_detail=("boolean",)
    ),
    Bad(
        "bool-in-2d-y_true",
        "mse",
        {"y_true": [[1, 2], [False, 4]], "y_pred": [[1, 2], [3, 4]]},
        ["/y_true/1/0"],
        error_detail=("boolean",),
    ),
    Bad(
        "bool-in-sample_weight",
        "mse",
        {**VALID_MSE, "sample_weight": [1.0, True]},
        ["/sample_weight/1"],
        error_detail=("boolean",),
    ),
    Bad(
        "bool-param-gamma",
        "binary_focal",
        {"y_true": [1.0, 0.0], "y_pred": [0.3, -0.2], "params": {"gamma": True}},
        ["/params/gamma"],
        kind="invalid-request",
        error_detail=("number",),
    ),
    Bad(
        "bool-in-class_weight",
        "sparse_categorical_crossentropy",
        {"y_true": [0, 1], "y_pred": P2, "params": {"class_weight": [1.0, True]}},
        ["/params/class_weight/1"],
        kind="invalid-request",
        error_detail=("number",),
    ),
    Bad(
        "bool-return_grad-int",
        "mse",
        {**VALID_MSE, "return_grad": 1},
        ["/return_grad"],
        kind="invalid-request",
        error_detail=("boolean",),
    ),
    # strings, nulls and objects where numbers go
    Bad(
        "string-in-y_pred", "mse", {"y_true": [1.0, 2.0], "y_pred": [1.0, "2"]}, ["/y_pred/1"], error_detail=("string",)
    ),
    Bad(
        "string-param",
        "binary_crossentropy",
        {"y_true": [1.0], "y_pred": [0.5], "params": {"label_smoothing": "0.1"}},
        ["/params/label_smoothing"],
        kind="invalid-request",
        error_detail=("number",),
    ),
    Bad(
        "null-in-y_pred",
        "mse",
        {"y_true": [[1.0, 2.0]], "y_pred": [[1.0, None]]},
        ["/y_pred/0/1"],
        error_detail=("null",),
    ),
    Bad(
        "null-in-sample_weight",
        "mse",
        {**VALID_MSE, "sample_weight": [None, 1.0]},
        ["/sample_weight/0"],
        error_detail=("null",),
    ),
    Bad(
        "object-in-y_true", "mse", {"y_true": [{}, 1.0], "y_pred": [1.0, 1.0]}, ["/y_true/0"], error_detail=("object",)
    ),
    Bad("object-for-y_pred", "mse", {"y_true": [1.0], "y_pred": {"a": 1}}, ["/y_pred"], error_detail=("object",)),
    # ragged arrays: the pointer names the ragged row
    Bad(
        "ragged-row",
        "mse",
        {"y_true": [[1, 2], [3, 4]], "y_pred": [[1, 2], [3]]},
        ["/y_pred/1"],
        detail=("rectangular",),
        error_detail=("ragged", "length 1"),
    ),
    Bad(
        "ragged-deep",
        "categorical_crossentropy",
        {"y_true": [[[1, 0]], [[0, 1]]], "y_pred": [[[0.5, 0.5]], [[0.5, [0.5]]]]},
        ["/y_pred/1/0/1"],
        error_detail=("ragged",),
    ),
    Bad(
        "ragged-list-for-number",
        "mse",
        {"y_true": [[1], [[2]]], "y_pred": [[1], [2]]},
        ["/y_true/1/0"],
        error_detail=("ragged",),
    ),
    # wrong rank
    Bad(
        "scalar-y_pred",
        "mse",
        {"y_true": [1.0], "y_pred": 1.0},
        ["/y_pred"],
        detail=("array",),
        error_detail=("array",),
    ),
    Bad(
        "rank1-categorical",
        "categorical_crossentropy",
        {"y_true": [0.0, 1.0], "y_pred": [0.5, 0.5]},
        ["/y_pred"],
        detail=("rank",),
        error_detail=("rank at least 2", "rank 1"),
    ),
    Bad(
        "rank1-sparse",
        "sparse_categorical_crossentropy",
        {"y_true": [0], "y_pred": [0.5]},
        ["/y_pred"],
        detail=("rank",),
        error_detail=("rank at least 2",),
    ),
    # shapes that do not match
    Bad(
        "mse-shapes",
        "mse",
        {"y_true": [1.0, 2.0], "y_pred": [1.0, 2.0, 3.0]},
        ["/y_true"],
        detail=("shapes",),
        error_detail=("[2]", "[3]"),
    ),
    Bad(
        "categorical-shapes",
        "categorical_crossentropy",
        {"y_true": [[1, 0, 0], [0, 1, 0]], "y_pred": P2},
        ["/y_true"],
        detail=("shapes",),
        error_detail=("[2, 3]", "[2, 2]"),
    ),
    Bad(
        "sparse-shapes",
        "sparse_categorical_crossentropy",
        {"y_true": [[0], [1]], "y_pred": P2},
        ["/y_true"],
        detail=("shapes",),
        error_detail=("without the class axis", "[2]"),
    ),
    # probabilities outside [0, 1] when from_logits is false
    Bad(
        "bce-probability",
        "binary_crossentropy",
        {"y_true": [[1.0], [0.0]], "y_pred": [[0.5], [1.5]]},
        ["/y_pred/1/0"],
        detail=("probability in [0, 1]",),
        error_detail=("1.5",),
    ),
    Bad(
        "bce-target",
        "binary_crossentropy",
        {"y_true": [[1.0], [-0.25]], "y_pred": [[0.5], [0.5]]},
        ["/y_true/1/0"],
        detail=("probability",),
        error_detail=("-0.25",),
    ),
    Bad(
        "cce-probability",
        "categorical_crossentropy",
        {"y_true": [[1, 0], [0, 1]], "y_pred": [[0.5, 0.5], [-0.1, 1.1]]},
        ["/y_pred/1/0", "/y_pred/1/1"],
        detail=("2 value(s)", "probability in [0, 1]"),
        error_detail=("-0.1",),
    ),
    Bad(
        "kl-probability",
        "kl_divergence",
        {"y_true": [[1, 0], [0, 1]], "y_pred": [[0.5, 0.5], [1.2, 0.1]]},
        ["/y_pred/1/0"],
        detail=("probability in [0, 1]",),
        error_detail=("1.2",),
    ),
    # labels that are not ±1 or 0/1
    Bad(
        "hinge-half",
        "hinge",
        {"y_true": [1.0, 0.5], "y_pred": [1.0, 2.0]},
        ["/y_true/1"],
        detail=("label",),
        error_detail=("0.5",),
    ),
    Bad(
        "hinge-mix",
        "hinge",
        {"y_true": [1.0, 0.0, -1.0], "y_pred": [1.0, 2.0, 3.0]},
        ["/y_true/1"],
        detail=("-1 or 1 (labels are -1 and 1, or 0 and 1, throughout; these include -1)",),
        error_detail=("0.0",),
    ),
    Bad(
        "perceptron-mix",
        "perceptron",
        {"y_true": [0.0, -1.0], "y_pred": [1.0, 2.0]},
        ["/y_true/0"],
        detail=("-1 or 1 (labels are -1 and 1, or 0 and 1, throughout; these include -1)",),
    ),
    Bad(
        "perceptron-two",
        "perceptron",
        {"y_true": [[1.0, 2.0]], "y_pred": [[1.0, 2.0]]},
        ["/y_true/0/1"],
        detail=("label",),
        error_detail=("2.0",),
    ),
    # class indices out of range or not integers (C = 2)
    Bad(
        "sparse-fraction",
        "sparse_categorical_crossentropy",
        {"y_true": [0, 2.5], "y_pred": P2},
        ["/y_true/1"],
        detail=("integer",),
        error_detail=("2.5",),
    ),
    Bad(
        "sparse-negative",
        "sparse_categorical_crossentropy",
        {"y_true": [0, -1], "y_pred": P2},
        ["/y_true/1"],
        detail=("class index in [0, 1]",),
        error_detail=("-1",),
    ),
    Bad(
        "sparse-C",
        "sparse_categorical_crossentropy",
        {"y_true": [2, 0], "y_pred": P2},
        ["/y_true/0"],
        detail=("class index in [0, 1]",),
        error_detail=("2",),
    ),
    # empty batch
    Bad("empty", "mse", {"y_true": [], "y_pred": []}, ["/y_true"], detail=("empty",), error_detail=("[0]",)),
    Bad(
        "empty-rows", "mse", {"y_true": [[]], "y_pred": [[]]}, ["/y_true"], detail=("empty",), error_detail=("[1, 0]",)
    ),
    # params: unknown, out of range, wrong type
    Bad(
        "unknown-param",
        "mse",
        {**VALID_MSE, "params": {"delta": 1.0}},
        ["/params/delta"],
        kind="invalid-request",
        detail=("/params/delta",),
        error_detail=("unknown field",),
    ),
    Bad(
        "unknown-param-escaped",
        "binary_crossentropy",
        {"y_true": [1.0], "y_pred": [0.5], "params": {"a/b~c": 1}},
        ["/params/a~1b~0c"],
        kind="invalid-request",
        error_detail=("unknown field",),
    ),
    Bad(
        "label_smoothing-1.5",
        "binary_crossentropy",
        {"y_true": [1.0], "y_pred": [0.5], "params": {"label_smoothing": 1.5}},
        ["/params/label_smoothing"],
        kind="invalid-request",
        error_detail=("less than or equal to 1",),
    ),
    Bad(
        "gamma-negative",
        "binary_focal",
        {"y_true": [1.0], "y_pred": [0.5], "params": {"gamma": -1}},
        ["/params/gamma"],
        kind="invalid-request",
        error_detail=("greater than or equal to 0",),
    ),
    Bad(
        "eps-zero",
        "categorical_crossentropy",
        {"y_true": [[1.0, 0.0]], "y_pred": [[0.5, 0.5]], "params": {"eps": 0}},
        ["/params/eps"],
        kind="invalid-request",
        error_detail=("greater than 0",),
    ),
    Bad(
        "from_logits-string",
        "binary_crossentropy",
        {"y_true": [1.0], "y_pred": [0.5], "params": {"from_logits": "yes"}},
        ["/params/from_logits"],
        kind="invalid-request",
        error_detail=("boolean",),
    ),
    Bad(
        "ignore_index-float",
        "sparse_categorical_crossentropy",
        {"y_true": [0, 1], "y_pred": P2, "params": {"ignore_index": 1.0}},
        ["/params/ignore_index"],
        kind="invalid-request",
        error_detail=("integer",),
    ),
    Bad("params-not-object", "mse", {**VALID_MSE, "params": [1]}, ["/params"], kind="invalid-request"),
    Bad(
        "pos_weight-length",
        "binary_crossentropy",
        {"y_true": [[1.0, 0.0]], "y_pred": [[0.5, 0.5]], "params": {"pos_weight": [1.0, 2.0, 3.0]}},
        ["/params/pos_weight"],
        error_detail=("expected 2 numbers",),
    ),
    # the envelope
    Bad(
        "unknown-field",
        "mse",
        {**VALID_MSE, "weights": [1.0, 1.0]},
        ["/weights"],
        kind="invalid-request",
        error_detail=("unknown field",),
    ),
    Bad("missing-input", "mse", {"y_pred": [1.0]}, ["/y_true"], kind="invalid-request", error_detail=("required",)),
    Bad(
        "reduction-batchmean-mse",
        "mse",
        {**VALID_MSE, "reduction": "batchmean"},
        ["/reduction"],
        kind="invalid-request",
        error_detail=("'mean'", "'sum'", "'none'"),
    ),
    Bad(
        "reduction-unknown",
        "kl_divergence",
        {"y_true": [[0.5, 0.5]], "y_pred": [[0.5, 0.5]], "reduction": "avg"},
        ["/reduction"],
        kind="invalid-request",
        error_detail=("'batchmean'",),
    ),
    Bad(
        "dtype-float16",
        "mse",
        {**VALID_MSE, "dtype": "float16"},
        ["/dtype"],
        kind="invalid-request",
        error_detail=("'float64'", "'float32'"),
    ),
    Bad(
        "body-array",
        "mse",
        [[0.0, 1.0], [0.5, 1.0]],
        [""],
        kind="invalid-request",
        error_detail=("expected a JSON object",),
    ),
    Bad("body-string", "mse", "y_true", [""], kind="invalid-request"),
    # sample_weight whose shape is not a prefix of the unreduced loss's (2, 2)
    Bad(
        "sample_weight-length",
        "mse",
        {**VALID_MSE, "sample_weight": [1.0, 2.0, 3.0]},
        ["/sample_weight"],
        detail=("sample_weight",),
        error_detail=("[3]", "[2] or [2, 2]"),
    ),
    Bad(
        "sample_weight-column",
        "mse",
        {**VALID_MSE, "sample_weight": [[1.0], [2.0]]},
        ["/sample_weight"],
        error_detail=("[2, 1]",),
    ),
    Bad(
        "sample_weight-scalar", "mse", {**VALID_MSE, "sample_weight": 2.0}, ["/sample_weight"], error_detail=("array",)
    ),
    # results that are not finite, and float32 overflow
    Bad(
        "mse-overflow",
        "mse",
        {"y_true": [0.0, 1e300], "y_pred": [0.0, -1e300]},
        ["/y_pred/1"],
        kind="non-finite-result",
        detail=("not finite",),
        error_detail=("not finite",),
    ),
    Bad(
        "mse-float32-result-overflow",
        "mse",
        {"y_true": [[1e20]], "y_pred": [[-1e20]], "dtype": "float32"},
        ["/y_pred/0/0"],
        kind="non-finite-result",
        detail=("not finite",),
    ),
    Bad(
        "float32-input-overflow",
        "mse",
        {"y_true": [1.0, 1e300], "y_pred": [1.0, 1.0], "dtype": "float32"},
        ["/y_true/1"],
        detail=("overflow float32",),
        error_detail=("1e+300",),
    ),
    Bad(
        "float32-weight-overflow",
        "mse",
        {**VALID_MSE, "sample_weight": [1.0, -1e39], "dtype": "float32"},
        ["/sample_weight/1"],
        detail=("overflow float32",),
    ),
    Bad(
        "sparse-all-ignored",
        "sparse_categorical_crossentropy",
        {"y_true": [1, 1], "y_pred": P2, "params": {"ignore_index": 1}},
        [""],
        kind="non-finite-result",
        detail=("not finite",),
    ),
]


@pytest.mark.parametrize("case", UNPROCESSABLE, ids=[c.id for c in UNPROCESSABLE])
def test_422(api_client: TestClient, case: Bad) -> None:
    response = post_loss(api_client, case.loss, case.body)
    assert_problem(response, 422, case.kind, detail=case.detail, pointers=case.pointers, error_detail=case.error_detail)


def test_422_schema_summary_names_the_pointer(api_client: TestClient) -> None:
    response = post_loss(api_client, "binary_focal", {"y_true": [1.0], "y_pred": [0.5], "params": {"gamma": -1}})
    problem = assert_problem(response, 422, "invalid-request", pointers=["/params/gamma"])
    assert problem["detail"].startswith("the request does not match the schema: /params/gamma: ")


def test_422_lists_at_most_ten_offending_elements(api_client: TestClient) -> None:
    body = {"y_true": [[1.0, 0.0]] * 12, "y_pred": [[1.5, -0.5]] * 12}
    problem = assert_problem(post_loss(api_client, "binary_crossentropy", body), 422, "invalid-input")
    assert "24 value(s)" in problem["detail"]
    assert [e["pointer"] for e in problem["errors"]] == [f"/y_pred/{i // 2}/{i % 2}" for i in range(10)]


# Class indices in [2**63, 2**64): orjson reads them as Python ints, NumPy would make them uint64 and
# astype(int64) would wrap them to negative indices (once reported as "-9223372036854775808 is not a
# class index", and silently ignored when ignore_index was -2**63). They must be refused as sent.


@pytest.mark.parametrize(
    "extra",
    [{}, {"params": {"ignore_index": -(2**63)}, "reduction": "sum"}, {"params": {"ignore_index": -1}}],
    ids=["plain", "ignore_index=-2**63", "ignore_index=-1"],
)
@pytest.mark.parametrize("index", [2**63, 2**64 - 1, 2**64, 2**70])
def test_422_huge_class_index(api_client: TestClient, index: int, extra: dict[str, Any]) -> None:
    body = {"y_true": [index, 0], "y_pred": [[0.5, 0.5], [0.5, 0.5]], **extra}
    problem = assert_problem(
        post_loss(api_client, "sparse_categorical_crossentropy", body), 422, "invalid-input", pointers=["/y_true/0"]
    )
    assert "-922337203685477" not in problem["detail"] + problem["errors"][0]["detail"]
    only = {"y_true": [index], "y_pred": [[0.5, 0.5]], **extra}
    assert_problem(
        post_loss(api_client, "sparse_categorical_crossentropy", only), 422, "invalid-input", pointers=["/y_true/0"]
    )


# Arrays nested deeper than NumPy's 64 dimensions (but within orjson's depth limit of 1024).


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"1.0" + b"]" * depth


@pytest.mark.parametrize(("field", "depth"), [("y_true", 65), ("y_true", 300), ("y_true", 1000), ("sample_weight", 70)])
def test_422_array_deeper_than_64_dimensions(field: str, depth: int) -> None:
    arrays = {"y_true": b"[1.0]", "y_pred": b"[1.0]", field: _nested(depth)}
    body = b"{" + b", ".join(b'"%s": %s' % (k.encode(), v) for k, v in arrays.items()) + b"}"
    with make_checked_client() as client:
        problem = assert_problem(post_loss(client, "mse", body), 422, "invalid-input")
        assert all(e["pointer"].startswith(f"/{field}") for e in problem["errors"]), problem


def test_400_array_deeper_than_the_json_depth_limit(api_client: TestClient) -> None:
    body = b'{"y_true": ' + _nested(1024) + b', "y_pred": [1.0]}'
    assert_problem(post_loss(api_client, "mse", body), 400, "malformed-json", detail=("depth",), pointers=[])


def test_array_of_rank_64_is_computed(api_client: TestClient) -> None:
    body = b'{"y_true": ' + _nested(64) + b', "y_pred": ' + _nested(64).replace(b"1.0", b"1.5") + b"}"
    response = post_loss(api_client, "mse", body)
    assert response.status_code == 200, response.text
    assert response.json()["loss"] == 0.25


# The same requests, minus the fault, succeed: the 422s above are about the fault alone.


@pytest.mark.parametrize(
    ("loss", "body"),
    [
        ("binary_crossentropy", {"y_true": [[1.0], [0.0]], "y_pred": [[0.5], [1.5]], "params": {"from_logits": True}}),
        ("kl_divergence", {"y_true": [[0.5, 0.5]], "y_pred": [[0.25, 0.75]], "reduction": "batchmean"}),
        ("kl_divergence", {"y_true": [[0.5, 0.5]], "y_pred": [[-0.5, -1.5]], "params": {"log_input": True}}),
        ("hinge", {"y_true": [1.0, 0.0], "y_pred": [1.0, 2.0]}),
        ("perceptron", {"y_true": [1, -1], "y_pred": [1.0, 2.0]}),
        ("sparse_categorical_crossentropy", {"y_true": [0, 1.0], "y_pred": P2}),
        ("sparse_categorical_crossentropy", {"y_true": [0, 1], "y_pred": P2, "params": {"ignore_index": -1}}),
        ("binary_focal", {"y_true": [1.0], "y_pred": [0.5], "params": {"gamma": 0, "alpha": None}}),
        ("mse", {**VALID_MSE, "params": {}, "sample_weight": None}),
        ("mse", {"y_true": [1.0, 1e300], "y_pred": [1.0, 1e300], "dtype": "float64"}),
    ],
)
def test_valid_neighbours_of_the_422s(api_client: TestClient, loss: str, body: dict[str, Any]) -> None:
    response = post_loss(api_client, loss, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["name"] == loss
    assert isinstance(document["loss"], float)


# The server keeps serving after every error above (API.md section 3: an error changes no state).


def _every_bad_request() -> Iterator[tuple[str, str, dict[str, str], bytes | Iterator[bytes], int]]:
    big = _padded(3000)
    yield "POST", "/losses/mse", JSON, b'{"y_true": [1,', 400
    yield "POST", "/losses/mse", JSON, b'{"y_true": [1, NaN], "y_pred": [1, 2]}', 400
    yield "POST", "/losses/mse", JSON, b'{"y_true": [1, -Infinity], "y_pred": [1, 2]}', 400
    yield "POST", "/losses/mse", JSON, b'{"y_true": [1, 1e400], "y_pred": [1, 2]}', 400
    yield "POST", "/losses/nope", JSON, b"{}", 404
    yield "GET", "/losses/nope", {}, b"", 404
    yield "GET", "/nowhere", {}, b"", 404
    yield "PUT", "/losses/mse", JSON, b"{}", 405
    yield "POST", "/livez", JSON, b"{}", 405
    yield "POST", "/losses/mse", JSON, big, 413
    yield "POST", "/losses/mse", JSON, iter([big[:1000], big[1000:]]), 413
    yield "POST", "/losses/mse", {"content-type": "text/plain"}, json.dumps(VALID_MSE).encode(), 415
    for case in UNPROCESSABLE:
        yield "POST", f"/losses/{case.loss}", JSON, json.dumps(case.body).encode(), 422


def test_keeps_serving_after_every_error() -> None:
    with make_checked_client(Settings(max_body_bytes=2048)) as client:
        assert_mse_example(post_loss(client, "mse", VALID_MSE))
        for method, path, headers, content, status in _every_bad_request():
            response = client.request(method, path, content=content, headers=headers)
            assert response.status_code == status, (method, path, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON
        assert_mse_example(post_loss(client, "mse", VALID_MSE))
        assert client.get("/readyz").status_code == 200
        assert client.get("/livez").json() == {"status": "ok"}


@pytest.mark.parametrize("case", UNPROCESSABLE[:8] + UNPROCESSABLE[-6:], ids=lambda c: c.id)
def test_errors_are_the_same_when_computed_off_the_event_loop(case: Bad) -> None:
    # offload_bytes=0: every body is parsed and computed in a worker thread.
    with make_checked_client(Settings(offload_bytes=0)) as client:
        assert_problem(post_loss(client, case.loss, case.body), 422, case.kind, pointers=case.pointers)
        assert_problem(post_loss(client, "mse", b'{"y_true": [1,'), 400, "malformed-json")
        assert_mse_example(post_loss(client, "mse", VALID_MSE))
