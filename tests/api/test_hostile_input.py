"""Hostile input: every request gets the status worked out for it, a clean 4xx (408 for a slow client,
a closed connection for one that has gone) or 200, never a 500 or a crash.

"Clean" means: the status the contract names, the error document of the route (a problem for
``/losses`` and ``/batch``, ``{"error"}`` for ``/v2``), and nothing of the server's insides in the
body — no traceback, no source path, no Python repr. Most inputs go through the app in-process;
the slow, truncated and mis-framed ones need a real server and raw sockets. Every wait is
bounded by a socket timeout or a deadline.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import re
import select
import socket
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engine import CATALOG, ParamSpec
from service.settings import Settings
from tests.support.engine import every_case
from tests.support.http import JSON, PROBLEM_JSON, ROOT, ServerProcess, asgi_request, read_response

TYPE_PREFIX = "urn:loss-service:problem:"
MSE = {"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 0.0]]}
#: What must never reach a client: tracebacks, source locations, Python object reprs.
LEAKS = re.compile(
    r"Traceback|File \"|" + re.escape(str(ROOT)) + r"|/work/|site-packages|\.py\b|<class '|<built-in"
    r"| object at 0x|np\.float\d*\(|array\(|dtype\('|\b(?:True|False|None)\b"
)


def assert_clean(status: int, content_type: str, body: bytes, expected: int | set[int], route: str = "/losses") -> Any:
    """The status expected, the route's error format, and no leak; returns the decoded document."""
    text = body.decode("utf-8", errors="replace")
    allowed = {expected} if isinstance(expected, int) else expected
    assert status < 500 or status in allowed, f"{status}: {text[:500]}"  # a 503 only where one is expected
    assert status in allowed, f"{status}: {text[:500]}"
    leak = LEAKS.search(text)
    assert leak is None, f"the body leaks {leak.group()!r}: {text[:500]}"
    if status < 400:
        return json.loads(body)
    if route == "/v2":
        assert content_type.startswith("application/json"), content_type
        document = json.loads(body)
        assert set(document) == {"error"} and isinstance(document["error"], str), document
        return document
    assert content_type == PROBLEM_JSON, content_type
    document = json.loads(body)
    assert document["status"] == status
    assert document["type"].startswith(TYPE_PREFIX) or document["type"] == "about:blank"
    return document


def check(response: Any, expected: int | set[int], route: str = "/losses") -> Any:
    return assert_clean(
        response.status_code, response.headers.get("content-type", ""), response.content, expected, route
    )


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # Not the checked client: a 500 must reach the assertions here, which say what was sent.
    with TestClient(create_app(), raise_server_exceptions=False) as plain:
        yield plain


def post_text(client: TestClient, path: str, text: str | bytes) -> Any:
    return client.post(path, content=text if isinstance(text, bytes) else text.encode(), headers=JSON)


# --- JSON nested thousands deep -----------------------------------------------------------------

DEPTHS = [65, 1000, 2000, 100_000]  # orjson refuses documents deeper than 1024 levels
ARRAY_FIELDS = {"y_true", "y_pred", "sample_weight"}


def deep_list(depth: int) -> str:
    return "[" * depth + "0.5" + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize(
    "field", ["y_true", "y_pred", "sample_weight", "params", "reduction", "return_grad", "dtype", "(body)"]
)
def test_deeply_nested_arrays_in_every_field(client: TestClient, field: str, depth: int) -> None:
    if field == "(body)":
        text = deep_list(depth)
    else:
        fields = {"y_true": "[0.5]", "y_pred": "[0.5]", field: deep_list(depth)}
        text = "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"
    response = post_text(client, "/losses/mse", text)
    if depth > 1024:
        problem = check(response, 400)
        assert problem["type"] == TYPE_PREFIX + "malformed-json"
    else:
        problem = check(response, 422)
        kind = "invalid-input" if field in ARRAY_FIELDS else "invalid-request"
        assert problem["type"] == TYPE_PREFIX + kind
        if field in ARRAY_FIELDS:
            assert problem["errors"][0]["pointer"] == f"/{field}"


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize(
    ("route", "template", "nest", "shallow"),
    [
        ("/losses/mse", '{"y_true":[0.5],"y_pred":[0.5],"params":%s}', deep_object, 422),
        ("/losses/mse", '{"y_true":[0.5],"y_pred":[0.5],"extra":%s}', deep_object, 422),
        ("/batch", '{"items":%s}', deep_list, 200),  # one item, itself an array: that item's 422
        ("/batch", '{"items":[{"loss":"mse","y_true":%s,"y_pred":[0.5]}]}', deep_list, 200),
        ("/batch", '{"items":[{"loss":"mse","y_true":[1],"y_pred":[1],"params":%s}]}', deep_object, 200),
        (
            "/v2/models/mse/infer",
            '{"inputs":[{"name":"y_true","shape":[1],"datatype":"FP64","data":%s}]}',
            deep_list,
            400,
        ),
        ("/v2/models/mse/infer", '{"parameters":%s,"inputs":[]}', deep_object, 400),
        (
            "/v2/models/mse/infer",
            '{"inputs":[{"name":"y_true","shape":%s,"datatype":"FP64","data":[1]}]}',
            deep_list,
            400,
        ),
        ("/v2/models/mse/infer", '{"id":%s,"inputs":[]}', deep_list, 400),
        ("/v2/models/mse/infer", "%s", deep_list, 400),
    ],
    ids=[
        "params",
        "unknown-field",
        "batch-items",
        "batch-item-array",
        "batch-item-params",
        "v2-data",
        "v2-parameters",
        "v2-shape",
        "v2-id",
        "v2-body",
    ],
)
def test_deeply_nested_json_on_every_route(
    client: TestClient, route: str, template: str, nest: Any, shallow: int, depth: int
) -> None:
    response = post_text(client, route, template % nest(depth))
    kind = "/v2" if route.startswith("/v2") else "/losses"
    document = check(response, 400 if depth > 1024 else shallow, kind)
    if route == "/batch" and response.status_code == 200:
        assert [item["status"] for item in document["results"]] == [422]


# --- numbers: 1e400, 1e-400, 2**70 --------------------------------------------------------------


@pytest.mark.parametrize("token", ["1e400", "-1e400", "1e999999999999", "1" * 400, "-" + "9" * 5000])
@pytest.mark.parametrize("field", ["y_true", "y_pred", "sample_weight"])
def test_numbers_beyond_float64_are_malformed_json(client: TestClient, token: str, field: str) -> None:
    fields = {"y_true": "[0.5, 1.0]", "y_pred": "[0.5, 1.0]", "sample_weight": "[1.0, 1.0]", field: f"[0.5, {token}]"}
    response = post_text(client, "/losses/mse", "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}")
    problem = check(response, 400)
    assert problem["type"] == TYPE_PREFIX + "malformed-json"
    assert "too large for a double" in problem["detail"]


def test_overflowing_numbers_elsewhere(client: TestClient) -> None:
    gamma = post_text(client, "/losses/binary_focal", '{"y_true":[1],"y_pred":[0.5],"params":{"gamma":1e400}}')
    assert "too large for a double" in check(gamma, 400)["detail"]
    v2 = '{"inputs":[{"name":"y_true","shape":[1],"datatype":"FP64","data":[-1e400]}]}'
    assert "too large for a double" in check(post_text(client, "/v2/models/mse/infer", v2), 400, "/v2")["error"]
    shape = '{"inputs":[{"name":"y_true","shape":[1e400],"datatype":"FP64","data":[1]}]}'
    check(post_text(client, "/v2/models/mse/infer", shape), 400, "/v2")


def test_numbers_below_the_smallest_subnormal_read_as_zero(client: TestClient) -> None:
    """The service's decision: 1e-400 is the float64 it parses to, 0.0; subnormals are kept as they are."""

    def grad(token: str) -> float:
        text = '{"y_true":[TOKEN],"y_pred":[0.0],"reduction":"sum","return_grad":true}'.replace("TOKEN", token)
        document = check(post_text(client, "/losses/mse", text), 200)
        assert document["loss"] == 0.0  # the square underflows either way
        return float(document["grad"]["y_pred"][0])  # 2 (y_pred - y_true)

    assert grad("1e-400") == 0.0
    assert grad("-1e-400") == 0.0
    assert grad("1e-999999999999") == 0.0
    assert grad("5e-324") == -1e-323  # the smallest subnormal survives the round trip
    weighted = '{"y_true":[0.0],"y_pred":[1.0],"sample_weight":[1e-400],"reduction":"sum"}'
    assert check(post_text(client, "/losses/mse", weighted), 200)["loss"] == 0.0
    v2 = (
        '{"parameters":{"reduction":"sum"},"inputs":[{"name":"y_true","shape":[1],"datatype":"FP64","data":[1e-400]},'
        '{"name":"y_pred","shape":[1],"datatype":"FP64","data":[1.0]}]}'
    )
    assert check(post_text(client, "/v2/models/mse/infer", v2), 200, "/v2")["outputs"][0]["data"] == [1.0]


def test_huge_integers(client: TestClient) -> None:
    """Integers past int64 are read as the floats they are (README); where an integer is required they are refused."""
    big = 2**70

    def mse(document: dict[str, Any]) -> Any:
        return client.post("/losses/mse", content=json.dumps(document), headers=JSON)  # 2**70 written exactly

    assert check(mse({"y_true": [big], "y_pred": [0], "reduction": "sum"}), 200)["loss"] == 2.0**140
    assert check(mse({"y_true": [-big, 1], "y_pred": [0, 1], "reduction": "sum"}), 200)["loss"] == 2.0**140
    weighted = mse({"y_true": [1], "y_pred": [0], "sample_weight": [big], "reduction": "sum"})
    assert check(weighted, 200)["loss"] == float(big)
    index = client.post("/losses/sparse_categorical_crossentropy", json={"y_true": [big], "y_pred": [[0.1, 0.9]]})
    assert check(index, 422)["type"] == TYPE_PREFIX + "invalid-input"

    def infer(datatype: str, shape: list[int]) -> Any:
        document = {
            "inputs": [
                {"name": "y_true", "shape": shape, "datatype": datatype, "data": [big]},
                {"name": "y_pred", "shape": [1], "datatype": "FP64", "data": [0]},
            ]
        }
        return client.post("/v2/models/mse/infer", content=json.dumps(document), headers=JSON)

    assert check(infer("FP64", [1]), 200, "/v2")["outputs"][0]["data"] == [2.0**140]
    assert "INT64 range" in check(infer("INT64", [1]), 400, "/v2")["error"]
    check(infer("FP64", [big]), 400, "/v2")


def _first_cases() -> dict[str, Any]:
    """Each loss's first case that gives every input, optional ones included (``negative``, ``mask``,
    ``linear_bias``), so that each input has its extreme numbers sent; else its first case."""
    listed: dict[str, list[Any]] = {}
    for case in every_case():
        listed.setdefault(case.loss, []).append(case)

    def gives_every_input(case: Any) -> bool:
        return set(case.inputs(0)) == {i.name for i in CATALOG[case.loss].inputs}

    return {loss: next((c for c in cases if gives_every_input(c)), cases[0]) for loss, cases in listed.items()}


#: The seed of a loss's documents where seed 0 draws a degenerate one: cosent's seed 0 gives four equal
#: target scores, no pair of pairs, and the loss is 0 whatever the params and inputs; seed 4 gives four
#: distinct scores (six pairs) and a loss of 30.2.
SEEDS = {"cosent": 4}


BIG, NBIG, MAX, NMAX, TINY, BELOW = 2**70, -(2**70), 1e308, -1e308, 5e-324, -(2**63) - 1
EXTREME_NUMBERS = [BIG, NBIG, 2**63, BELOW, MAX, NMAX, TINY, 0, -1]
EXTREME_PARAM_VALUES: dict[str, list[Any]] = {
    "number": EXTREME_NUMBERS,
    "integer": [BIG, NBIG, 2**63, BELOW, 2**63 - 1],
    "boolean": [BIG, MAX],
    "weights": [[BIG] * 8, [MAX] * 8, [NMAX] * 8, [TINY] * 8],
    "number_or_weights": [*EXTREME_NUMBERS, [MAX] * 8],
    # a named choice (``distance``): numbers, and strings and values that are none of the names
    "string": [*EXTREME_NUMBERS, "", "x" * 10_000, "euclidean\u0000", "Euclidean", True, None, [1.0]],
}
EXTREME_INPUT_VALUES = (BIG, NBIG, MAX, NMAX, TINY, BELOW)

# The status of each document, worked out.
#
# A param: 422 where what the catalog declares for it refuses the value (``declared_refuses``: its kind,
# choices and bounds), or where the loss refuses a value the declaration lets through (REFUSED_PARAMS);
# 200 otherwise.


def declared_refuses(param: ParamSpec, value: Any) -> bool:
    """Whether ``value`` breaks ``param``'s declared kind, choices or bounds. JSON integers in [-2**63, 2**64)
    are read as integers, others as the floats they are (README); eight weights are more than the last axis
    of any first case here has classes."""
    if value is None:
        return not param.nullable
    if isinstance(value, list):
        return True
    read = value if not isinstance(value, int) or -(2**63) <= value < 2**64 else float(value)
    if param.kind in ("boolean", "weights"):
        return True
    if param.kind == "integer" and not isinstance(read, int):
        return True
    if param.choices is not None and read not in param.choices:
        return True
    return (
        (param.ge is not None and not read >= param.ge)
        or (param.gt is not None and not read > param.gt)
        or (param.le is not None and not read <= param.le)
        or (param.lt is not None and not read < param.lt)
    )


#: Values the declaration lets through and the loss refuses: a result past float64's range (PyTorch's
#: is infinite too), or a value outside what the inputs allow.
REFUSED_PARAMS: dict[tuple[str, str, Any], str] = {
    ("binary_crossentropy", "pos_weight", MAX): "pos_weight y softplus(-x) passes 1.8e308",
    ("binary_crossentropy", "pos_weight", NMAX): "pos_weight y softplus(-x) passes -1.8e308",
    ("ctc", "blank", 2**63): "not a class index: C = 4",
    ("ctc", "blank", 2**63 - 1): "not a class index: C = 4",
    ("hinge_embedding", "margin", MAX): "the values are near 1e308 and their sum overflows",
    ("margin_ranking", "margin", MAX): "the values are near 1e308 and their sum overflows",
    ("multi_margin", "margin", MAX): "a sample's sum over its classes of values near 1e308 overflows",
    ("poly1_crossentropy", "epsilon", MAX): "the values are near 1e308 and their sum overflows",
    ("poly1_crossentropy", "epsilon", NMAX): "the values are near -1e308 and their sum overflows",
    ("triplet_margin", "margin", MAX): "the values are near 1e308 and their sum overflows",
    ("triplet_margin", "p", TINY): "the norm's exponent 1 / p is infinite",
    ("triplet_margin", "eps", MAX): "|a - p + eps|^p overflows",
    ("triplet_margin_with_distance", "margin", MAX): "the values are near 1e308 and their sum overflows",
    ("contrastive", "margin", MAX): "(margin - d)^2 / 2 overflows for the pair labelled 0",
    ("sparse_categorical_focal", "alpha", MAX): "alpha times values that sum to 7.2 overflows",
    ("multiple_negatives_ranking", "scale", MAX): "the values are 1e308 times cosine gaps: 3e307 to 1.6e308, summed",
    ("ntxent", "temperature", TINY): "the loss is 0.2 / temperature (positives below a negative): 4e322",
    ("circle", "gamma", MAX): "the values are gamma times the weighted distances: 1.9e308 for the first",
}

# An input, its first element or every element replaced by one of EXTREME_INPUT_VALUES: 422 for the
# values in EXTREME_INPUTS[loss][input] (one set for both, or (first element, every element)), 200
# for the others. The sets follow from the input's domain, and from float64's range:
NONE: frozenset[Any] = frozenset()
LABELS = frozenset(EXTREME_INPUT_VALUES)  # labels in {-1, 1} or {0, 1}, class indices, lengths: none is one
UNIT = LABELS - {TINY}  # probabilities, soft targets, masks in [0, 1]: only 5e-324 is
NEGATIVE = frozenset({NBIG, NMAX, BELOW})  # a count or a variance >= 0
HUGE = frozenset({MAX, NMAX})  # every value near ±1e308: their sum overflows (PyTorch's too)
Refusals = frozenset[Any] | tuple[frozenset[Any], frozenset[Any]]
EXTREME_INPUTS: dict[str, dict[str, Refusals]] = {
    "mse": {"y_true": HUGE, "y_pred": HUGE},  # one (1e308 - t)^2 overflows
    "mae": {"y_true": (NONE, HUGE), "y_pred": (NONE, HUGE)},
    "huber": {"y_true": (NONE, HUGE), "y_pred": (NONE, HUGE)},
    "smooth_l1": {"y_true": (NONE, HUGE), "y_pred": (NONE, HUGE)},
    "log_cosh": {"y_true": (NONE, HUGE), "y_pred": (NONE, HUGE)},
    # t = 2**70 or 1e308 next to p ~ 0.1: (log(1 + p) - log(1 + t))^2 ~ 2250 or ~5e5, finite
    "msle": {"y_true": NONE, "y_pred": NONE},
    "mape": {"y_true": NONE, "y_pred": HUGE},  # 100 |1e308 - t| / |t| overflows for |t| < 100
    # counts >= 0, and t x overflows for t = 1e308 (x = 2.46); exp(x) overflows for x = 2**70 or 1e308,
    # and -t x for x = -1e308
    "poisson_nll": {"y_true": NEGATIVE | {MAX}, "y_pred": frozenset({BIG, MAX, NMAX})},
    "gaussian_nll": {"y_true": HUGE, "y_pred": HUGE, "var": NEGATIVE},  # one d^2 / var overflows
    "quantile": {"y_true": (NONE, HUGE), "y_pred": (NONE, HUGE)},
    "l2": {"y_true": HUGE, "y_pred": HUGE},  # 0.5 (1e308 - t)^2 overflows, as mse's
    # |d| - 1 for a huge residual (by hypot, no square): one is finite, every one near 1e308 sums past the range
    "charbonnier": {"y_true": (NONE, HUGE), "y_pred": (NONE, HUGE)},
    # bounded or logarithmic, with no square that overflows: at most 2 log|d| ~ 1418, 2, 1
    "cauchy": {"y_true": NONE, "y_pred": NONE},
    "geman_mcclure": {"y_true": NONE, "y_pred": NONE},
    "welsch": {"y_true": NONE, "y_pred": NONE},
    "binary_crossentropy": {"y_true": UNIT, "y_pred": (NONE, HUGE)},
    "binary_focal": {"y_true": UNIT, "y_pred": (NONE, HUGE)},
    "hinge": {"y_true": LABELS, "y_pred": (NONE, HUGE)},
    "perceptron": {"y_true": LABELS, "y_pred": (NONE, HUGE)},
    # the first label is -1: (1 + 1e308)^2 overflows, while -1e308 is past the margin (0)
    "squared_hinge": {"y_true": LABELS, "y_pred": (frozenset({MAX}), HUGE)},
    "soft_margin": {"y_true": LABELS, "y_pred": (NONE, HUGE)},
    "multilabel_soft_margin": {"y_true": LABELS, "y_pred": (NONE, HUGE)},
    "multilabel_margin": {"y_true": LABELS, "y_pred": NONE},  # equal scores: every margin is 1
    # sparse_plus(z) is z = |x| for the label that x opposes: one is finite, every x = +-1e308 gives ~1e308 on
    # both labels' elements (the first case has several of each) and their sum overflows
    "binary_sparsemax": {"y_true": LABELS, "y_pred": (NONE, HUGE)},
    "categorical_crossentropy": {"y_true": UNIT, "y_pred": NONE},  # equal logits: log C
    "sparse_categorical_crossentropy": {"y_true": LABELS, "y_pred": NONE},
    "categorical_focal": {"y_true": UNIT, "y_pred": UNIT},
    "nll": {"y_true": LABELS, "y_pred": (NONE, HUGE)},
    # -1e308 everywhere: neg = max((1 - y) f) = 0 (the target's own term) and pos = -1e308
    "categorical_hinge": {"y_true": UNIT, "y_pred": (NONE, frozenset({NMAX}))},
    "multi_margin": {"y_true": LABELS, "y_pred": NONE},
    "poly1_crossentropy": {"y_true": UNIT, "y_pred": NONE},
    "generalized_crossentropy": {"y_true": LABELS, "y_pred": UNIT},
    # logits: ce = logsumexp - x_t from the max-shifted logits: one 1e308 costs its own sample ~1e308, equal
    # logits log C
    "sparse_categorical_focal": {"y_true": LABELS, "y_pred": NONE},
    # max(s + 1 - onehot) - s_t and max(s) - s_t: one value near 1e308 per sample at most; equal scores 0
    "multiclass_hinge": {"y_true": LABELS, "y_pred": NONE},
    "multiclass_perceptron": {"y_true": LABELS, "y_pred": NONE},
    # the projection of the scores' differences: one huge score is the whole support (l its gap, finite); equal
    # scores give p = [1/2, 1/2], l = 1/4 (optax overflows there: -0.5 and NaN)
    "multiclass_sparsemax": {"y_true": LABELS, "y_pred": NONE},
    # x W^T + b: one entry of x or W at +-1e308 puts ~1e308 in one sample's or one class's logits, finite; every
    # one makes them +-1e308 times W's row sums (-2.02, 0.91, 0.46) or x's (0.21, 2.61, -2.59, -2.50), past the
    # range. b_0 = 1e308: the three samples of other classes lose ~1e308 each, summed past the range; -1e308:
    # only sample 0 (class 0) does. Every b equal: a common shift (the logits round to it), log 3 each.
    "linear_crossentropy": {
        "x": (NONE, HUGE),
        "linear_weight": (NONE, HUGE),
        "linear_bias": (frozenset({MAX}), NONE),
        "y_true": LABELS,
    },
    "kl_divergence": {"y_true": UNIT, "y_pred": UNIT},
    # masses >= 0, and t (log t - lq) overflows for t = 1e308 (log t = 709); exp(lq) for lq = 2**70 or 1e308;
    # -t lq for lq = -1e308 where t > 1.8: not the first element's t = 0.05, but the largest one, 2.94
    "generalized_kl_divergence": {"y_true": NEGATIVE | {MAX}, "y_pred": (frozenset({BIG, MAX}), HUGE | {BIG})},
    "cosine_similarity": {"y_true": NONE, "y_pred": NONE},  # normalised
    "cosine_distance": {"y_true": NONE, "y_pred": NONE},  # normalised (by the row's largest entry: no overflow)
    "cosine_embedding": {"x1": NONE, "x2": NONE, "y_true": LABELS},
    "margin_ranking": {"x1": (NONE, HUGE), "x2": (NONE, HUGE), "y_true": LABELS},
    "hinge_embedding": {"y_true": LABELS, "y_pred": (NONE, HUGE)},
    # negatives near 1e308 everywhere: past the margin, 0
    "triplet_margin": {"anchor": (NONE, HUGE), "positive": (NONE, HUGE), "negative": NONE},
    "cosine_similarity_mse": {"x1": NONE, "x2": NONE, "y_true": HUGE},  # normalised; (cos - 1e308)^2 overflows
    # Euclidean norms scaled by the row's largest entry: sqrt(3) 1e308 is finite. Every positive near 1e308: each
    # d(a, p) is, their sum overflows; a huge anchor is as far from both; huge negatives are past the margin.
    "triplet_margin_with_distance": {"anchor": NONE, "positive": (NONE, HUGE), "negative": NONE},
    "contrastive": {"x1": NONE, "x2": NONE, "y_true": LABELS},  # the cosine distance is in [0, 2]; labels 0/1
    "dice": {"y_true": UNIT, "y_pred": UNIT},
    "tversky": {"y_true": UNIT, "y_pred": UNIT},
    # from logits (softmax or sigmoid, saturating to exact 0/1): every class ratio is in [0, 1], denominators >= 1
    "multiclass_dice": {"y_true": UNIT, "y_pred": NONE},
    "binary_dice": {"y_true": UNIT, "y_pred": NONE},
    "generalized_dice": {"y_true": UNIT, "y_pred": NONE},
    "ctc": {"log_probs": NONE, "targets": LABELS, "input_lengths": LABELS, "target_lengths": LABELS},
    # cosines of normalised rows: |l| <= 2 scale + log(2N)
    "multiple_negatives_ranking": {"anchor": NONE, "positive": NONE, "negative": NONE},
    "cosent": {"x1": NONE, "x2": NONE, "y_true": NONE},  # cosines; only the targets' order counts
    "ntxent": {"y_pred": NONE, "y_true": LABELS},  # group ids: integers (exact up to 2**53), none of these
    # embeddings as given: one entry +-1e308 puts that row's distances near 1e308 and gamma (d^2 - m^2) overflows;
    # every entry equal: every dot product is +inf, 1 - e.e clamps to 0, the loss is finite (as is the true one)
    "circle": {"y_true": LABELS, "y_pred": (HUGE, NONE)},
    # grades >= 0: 1e308 on the first list's only valid item weighs -log softmax = 0; on every item, the grades
    # times the lists' -log softmax sum past the range. Max-shifted softmax: any scores. The mask is 0 or 1.
    "ranking_softmax": {"y_true": (NEGATIVE, NEGATIVE | {MAX}), "y_pred": NONE, "mask": LABELS},
}

# A sample weight of 1e308 per sample, reduction "sum": sum(w l) = 1e308 sum(l) overflows, but for the losses
# whose first case's values sum to less than 1.797 in magnitude (BOUNDED_SUMS, the new ones with their sums).
# 2**70 per sample with the gradient: 200 for every loss but the scalar ones (below).
BOUNDED_SUMS = frozenset(
    {
        "categorical_focal",
        "dice",
        "kl_divergence",
        "multi_margin",
        "multilabel_margin",
        "triplet_margin",
        "tversky",
        "multiclass_dice",  # 1.04
        "binary_dice",  # 1.35
        "contrastive",  # 1.05
    }
)


# Every document is sent twice: as it is, and with return_grad. The gradient of a finite loss is finite too,
# but where it is not representable, listed here by loss and document:
REFUSED_GRADIENTS: dict[tuple[str, str], str] = {
    # l depends on p / sum(p) only: its gradient is the one at p = 1 (0.0065 at most) over 5e-324: 1.3e321
    ("categorical_focal", "every y_pred = 5e-324"): "dl/dp ~ 1 / |p| is past float64's range",
    # 1 - cos depends on y_pred's direction only: the gradient at ones (0.055 at most) over 5e-324: 1.1e322
    ("cosine_distance", "every y_pred = 5e-324"): "dl/dp ~ 1 / |p| is past float64's range",
    # the sum (1.23) is below 1.797, but the largest gradient entry is 3.27: 3.27e308
    ("kl_divergence", "sample_weight 1e308, sum"): "1e308 times a gradient entry of 3.27 overflows",
}


def _input_refusals(loss: str, name: str, every: bool) -> frozenset[Any]:
    refusals = EXTREME_INPUTS[loss][name]
    return refusals[every] if isinstance(refusals, tuple) else refusals


def test_every_loss_has_its_extreme_numbers_worked_out() -> None:
    assert set(EXTREME_INPUTS) == set(CATALOG)
    for loss, inputs in EXTREME_INPUTS.items():
        assert set(inputs) == {i.name for i in CATALOG[loss].inputs}, loss
    assert {loss for loss, _, _ in REFUSED_PARAMS} <= set(CATALOG)
    assert {loss for loss, _ in REFUSED_GRADIENTS} <= set(CATALOG)


@pytest.mark.parametrize("loss", sorted(CATALOG))
def test_extreme_numbers_in_every_param_and_input_of_every_loss(client: TestClient, loss: str) -> None:
    """Past-int64 integers, float64's extremes and subnormals, in each param and input: each document gets
    the status worked out above, a clean 200 or 422, without and with the gradient."""
    case = _first_cases()[loss]
    spec = CATALOG[loss]
    arrays = {name: value.tolist() for name, value in case.inputs(SEEDS.get(loss, 0)).items()}
    base = {**arrays, "params": dict(case.params)}
    check(client.post(f"/losses/{loss}", json=base), 200)
    documents: list[tuple[str, dict[str, Any], int]] = []
    for param in spec.params:
        for value in EXTREME_PARAM_VALUES.get(param.kind, EXTREME_NUMBERS):
            refused = declared_refuses(param, value) or (loss, param.name, value) in REFUSED_PARAMS
            document = {**base, "params": {**base["params"], param.name: value}}
            documents.append((f"params.{param.name} = {value!r:.30}", document, 422 if refused else 200))
    for name, array in arrays.items():
        for value in EXTREME_INPUT_VALUES:
            one = np.asarray(array, dtype=object)
            one.flat[0] = value
            status = 422 if value in _input_refusals(loss, name, every=False) else 200
            documents.append((f"{name}[0] = {value!r}", {**base, name: one.tolist()}, status))
            status = 422 if value in _input_refusals(loss, name, every=True) else 200
            every = np.full(one.shape, value, dtype=object).tolist()
            documents.append((f"every {name} = {value!r}", {**base, name: every}, status))
    shape = spec.shape_rule.unreduced_shape({k: np.shape(v) for k, v in arrays.items()})
    n = shape[0] if shape else len(next(iter(arrays.values())))
    summed = {**base, "sample_weight": [MAX] * n, "reduction": "sum"}
    # A scalar loss is one value for the batch: no sample_weight and no sum, which the request schema refuses
    # (422) whatever the numbers; a client may send them, so the documents are sent all the same.
    weighted = 422 if spec.scalar else 200
    documents.append(("sample_weight 1e308, sum", summed, 200 if loss in BOUNDED_SUMS and not spec.scalar else 422))
    documents.append(
        ("sample_weight 2**70, gradient", {**base, "sample_weight": [BIG] * n, "return_grad": True}, weighted)
    )
    with_gradient = [
        (
            f"{what}, with the gradient",
            {**document, "return_grad": True},
            422 if (loss, what) in REFUSED_GRADIENTS else status,
        )
        for what, document, status in documents
        if "return_grad" not in document
    ]
    wrong = []
    for what, document, status in documents + with_gradient:
        response = client.post(f"/losses/{loss}", content=json.dumps(document), headers=JSON)
        check(response, {200, 422})  # clean either way: the route's error format, no leak
        if response.status_code != status:
            wrong.append(f"{what}: {response.status_code}, worked out {status}: {response.text[:200]}")
    assert not wrong, f"{loss}: {len(wrong)} of {len(documents)} documents:\n" + "\n".join(wrong)


# --- /v2: sizes announced that the body does not hold ---------------------------------------------

N = 10**8
TWO_FP64 = np.array([0.5, 1.0]).tobytes()


def v2_binary(client: TestClient, inputs: list[dict[str, Any]], tail: bytes, header_length: str | None = None) -> Any:
    header = json.dumps({"inputs": inputs}).encode()
    length = header_length if header_length is not None else str(len(header))
    return client.post(
        "/v2/models/mse/infer",
        content=header + tail,
        headers={"Inference-Header-Content-Length": length, "content-type": "application/octet-stream"},
    )


def binary_input(name: str, shape: list[int], size: int, datatype: str = "FP64") -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": size}}


ANNOUNCEMENTS = {
    "shape-1e8-size-16": ([binary_input("y_true", [N], 16), binary_input("y_pred", [2], 16)], "needs 800000000"),
    "shape-2-size-8e8": ([binary_input("y_true", [2], 8 * N), binary_input("y_pred", [2], 16)], "needs 16"),
    "shape-and-size-1e8-body-32-bytes": (
        [binary_input("y_true", [N], 8 * N), binary_input("y_pred", [N], 8 * N)],
        "runs past the end of the body",
    ),
    "shape-1e27": ([binary_input("y_true", [10**9, 10**9, 10**9], 16), binary_input("y_pred", [2], 16)], "needs"),
    "shape-past-int64": ([binary_input("y_true", [2**62, 4], 0), binary_input("y_pred", [2], 16)], "needs"),
    "negative-size": ([binary_input("y_true", [2], -16), binary_input("y_pred", [2], 16)], "non-negative"),
    "size-past-int64": ([binary_input("y_true", [2], 2**70), binary_input("y_pred", [2], 16)], "non-negative integer"),
    "int32-size-mismatch": (
        [binary_input("y_true", [N], 4 * N, "INT32"), binary_input("y_pred", [2], 16)],
        "past the end",
    ),
}


@pytest.mark.parametrize("case", list(ANNOUNCEMENTS), ids=list(ANNOUNCEMENTS))
def test_v2_binary_sizes_the_body_does_not_hold(client: TestClient, case: str) -> None:
    inputs, detail = ANNOUNCEMENTS[case]
    tracemalloc.start()
    try:
        response = v2_binary(client, inputs, TWO_FP64 + TWO_FP64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert detail in check(response, 400, "/v2")["error"]
    assert peak < 50_000_000, f"{peak} bytes allocated for a {len(response.request.content)}-byte request"


@pytest.mark.parametrize(
    ("length", "detail"),
    [
        ("1000000000000", "the body has"),
        ("0", "the body has"),
        ("-5", "byte count"),
        ("12abc", "byte count"),
        ("", "byte count"),
    ],
)
def test_v2_header_length_that_does_not_fit(client: TestClient, length: str, detail: str) -> None:
    inputs = [binary_input("y_true", [2], 16), binary_input("y_pred", [2], 16)]
    assert detail in check(v2_binary(client, inputs, TWO_FP64 + TWO_FP64, length), 400, "/v2")["error"]


@pytest.mark.parametrize("length", [b"\xb2", b"\xb9\xb2"], ids=["superscript-2", "superscript-12"])
def test_v2_header_length_in_superscript_digits(client: TestClient, length: bytes) -> None:
    """The superscript "²" passes ``str.isdigit()`` but ``int()`` refuses it: this was a 500 (fixed in 893a10d)."""
    header = json.dumps({"inputs": [binary_input("y_true", [2], 16), binary_input("y_pred", [2], 16)]}).encode()
    headers = [(b"inference-header-content-length", length), (b"content-type", b"application/octet-stream")]
    status, response_headers, body = asyncio.run(
        asgi_request(client.app, "POST", b"/v2/models/mse/infer", header + TWO_FP64 + TWO_FP64, headers)
    )
    assert_clean(status, response_headers.get("content-type", ""), body, 400, "/v2")


@pytest.mark.parametrize(
    ("shape", "data"),
    [([N], [1.0, 2.0]), ([N, N, N], [1.0, 2.0]), ([2**63], [1.0]), ([0], [1.0]), ([3], [])],
    ids=["1e8-with-2", "1e24-with-2", "2^63-with-1", "0-with-1", "3-with-none"],
)
def test_v2_json_shape_that_the_data_does_not_fill(client: TestClient, shape: list[int], data: list[float]) -> None:
    document = {
        "inputs": [
            {"name": "y_true", "shape": shape, "datatype": "FP64", "data": data},
            {"name": "y_pred", "shape": shape, "datatype": "FP64", "data": data},
        ]
    }
    assert "elements but shape" in check(client.post("/v2/models/mse/infer", json=document), 400, "/v2")["error"]


@pytest.mark.parametrize("datatype", [{"x": None}, ["FP64"]], ids=["object", "array"])
def test_v2_datatype_of_the_wrong_json_type(client: TestClient, datatype: Any) -> None:
    document = {"inputs": [{"name": "y_true", "shape": [1], "datatype": datatype, "data": [1]}]}
    check(client.post("/v2/models/mse/infer", json=document), 400, "/v2")


def test_v2_errors_do_not_echo_python_reprs(client: TestClient) -> None:
    inputs = [
        {"name": "y_true", "shape": [1], "datatype": "FP64", "data": [1]},
        {"name": "y_pred", "shape": [1], "datatype": "FP64", "data": [1]},
    ]
    document = {"parameters": {"reduction": {"a": True, "b": None}}, "inputs": inputs}
    check(client.post("/v2/models/mse/infer", json=document), 400, "/v2")


def test_element_limit_is_enforced_on_every_route() -> None:
    with TestClient(create_app(Settings(max_elements=1000)), raise_server_exceptions=False) as small:
        values = [0.5] * 501
        problem = check(small.post("/losses/mse", json={"y_true": values, "y_pred": values}), 413)
        assert problem["type"] == TYPE_PREFIX + "too-many-elements"
        batch = check(small.post("/batch", json={"items": [{"loss": "mse", "y_true": values, "y_pred": values}]}), 200)
        assert batch["results"][0]["status"] == 413
        blob = np.zeros(501).tobytes()
        inputs = [binary_input("y_true", [501], len(blob)), binary_input("y_pred", [501], len(blob))]
        assert "at most 1000" in check(v2_binary(small, inputs, blob + blob), 413, "/v2")["error"]
        check(small.post("/losses/mse", json={"y_true": values[:500], "y_pred": values[:500]}), 200)


# --- encodings, duplicate keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"y_true":[1],"y_pred":[1],"dtype":"\xff"}',
        b'{"y_t\xffrue":[1],"y_pred":[1]}',
        b'{"y_true":[1],"y_pred":[1],"dtype":"\xc0\xaf"}',  # an overlong encoding of "/"
        b'{"y_true":[1],"y_pred":[1],"dtype":"\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
        b'{"y_true":[1],"y_pred":[1],"dtype":"\\ud800"}',  # a lone surrogate escape
        b'{"y_true":[1],"y_pred":[1],"dtype":"\x00"}',
        b"\xef\xbb\xbf" + json.dumps(MSE).encode(),  # a UTF-8 byte order mark
        json.dumps(MSE).encode("utf-16"),
        b"\xff\xfe\xfd",
        b'{"y_true":[NaN],"y_pred":[1]}',
        b'{"y_true":[-Infinity],"y_pred":[1]}',
    ],
    ids=[
        "invalid-byte-in-value",
        "invalid-byte-in-key",
        "overlong",
        "encoded-surrogate",
        "lone-surrogate-escape",
        "raw-nul",
        "bom",
        "utf-16",
        "binary",
        "nan",
        "infinity",
    ],
)
@pytest.mark.parametrize("route", ["/losses/mse", "/batch", "/v2/models/mse/infer"])
def test_invalid_utf8_and_non_json_tokens(client: TestClient, body: bytes, route: str) -> None:
    if route == "/batch":
        body = b'{"items":[' + body + b"]}"
    kind = "/v2" if route.startswith("/v2") else "/losses"
    document = check(post_text(client, route, body), 400, kind)
    if kind == "/losses":
        assert document["type"] == TYPE_PREFIX + "malformed-json"


def test_duplicate_keys_the_last_one_wins(client: TestClient) -> None:
    """The service's decision (orjson's, like Python's json and JavaScript's JSON.parse): the last value wins."""
    last = post_text(
        client, "/losses/mse", '{"y_true":[1],"y_pred":[1],"y_pred":[3],"reduction":"bogus","reduction":"sum"}'
    )
    assert check(last, 200) == {"name": "mse", "reduction": "sum", "dtype": "float64", "loss": 4.0}
    batch = post_text(
        client, "/batch", '{"items":[],"items":[{"loss":"hinge","loss":"mse","y_true":[1],"y_pred":[3]}]}'
    )
    assert check(batch, 200)["results"] == [
        {"status": 200, "result": {"name": "mse", "reduction": "mean", "dtype": "float64", "loss": 4.0}}
    ]
    v2 = (
        '{"inputs":[],"inputs":[{"name":"y_true","shape":[1],"datatype":"FP64","data":[1],"data":[0]},'
        '{"name":"y_pred","shape":[1],"datatype":"FP64","data":[3]}]}'
    )
    assert check(post_text(client, "/v2/models/mse/infer", v2), 200, "/v2")["outputs"][0]["data"] == [9.0]


# --- slow, truncated and mis-framed requests against a real server ------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = {"LOSS_SERVICE_REQUEST_TIMEOUT_SECONDS": "1", "LOSS_SERVICE_MAX_CONCURRENCY": str(SLOTS)}
    with ServerProcess(env=env) as running:
        yield running


def connect(server: ServerProcess, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def request_head(path: str, length: int | bytes, *extra: bytes, content_type: bytes = b"application/json") -> bytes:
    declared = length if isinstance(length, bytes) else str(length).encode()
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: test", b"Content-Type: " + content_type]
    lines += [b"Content-Length: " + declared, *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def route_of(path: str) -> str:
    return "/v2" if path.startswith("/v2") else "/losses"


SLOW_PATHS = ["/losses/mse", "/batch", "/v2/models/mse/infer"]
SLOTS = len(SLOW_PATHS)  # the server's max_concurrency: every slow client above is admitted


def test_slow_clients_get_408(server: ServerProcess) -> None:
    """Content-Length 1000, then a byte every 0.3 s: 408 after the 1 s body timeout (or the connection closed)."""
    sockets = {path: connect(server) for path in SLOW_PATHS}
    answers: dict[str, Any] = {}
    try:
        for path, sock in sockets.items():
            sock.sendall(request_head(path, 1000) + b'{"y_true": ')
        deadline = time.monotonic() + 10
        while len(answers) < len(sockets) and time.monotonic() < deadline:
            waiting = {sock: path for path, sock in sockets.items() if path not in answers}
            readable, _, _ = select.select(list(waiting), [], [], 0.3)
            for sock in readable:
                answers[waiting[sock]] = read_response(sock)
            for sock, path in waiting.items():
                if path not in answers:
                    try:
                        sock.sendall(b" ")  # JSON whitespace, one byte at a time
                    except OSError:
                        answers[path] = None
    finally:
        for sock in sockets.values():
            sock.close()
    assert set(answers) == set(SLOW_PATHS), f"no answer within 10 s for {set(SLOW_PATHS) - set(answers)}"
    for path, answer in answers.items():
        if answer is not None:  # else: the server closed the connection, also acceptable
            status, headers, body = answer
            document = assert_clean(status, headers.get("content-type", ""), body, 408, route_of(path))
            if route_of(path) == "/losses":
                assert document["type"] == TYPE_PREFIX + "request-timeout"
    assert any(answer is not None for answer in answers.values())


def test_slow_gzip_body_gets_408(server: ServerProcess) -> None:
    body = gzip.compress(json.dumps(MSE).encode())
    sock = connect(server, timeout=5)
    try:
        sock.sendall(request_head("/losses/mse", len(body), b"Content-Encoding: gzip") + body[:5])
        readable, _, _ = select.select([sock], [], [], 4.0)  # the body timeout is 1 s
        assert readable, "no answer 4 s after the body stalled (the body timeout is 1 s)"
        answer = read_response(sock)
        if answer is not None:
            status, headers, content = answer
            assert_clean(status, headers.get("content-type", ""), content, 408)
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("path", "partial", "extra"),
    [
        ("/losses/mse", b'{"y_true": [1.0, 2', b""),
        ("/batch", b'{"items": [', b""),
        ("/v2/models/mse/infer", b'{"inputs": [', b""),
        ("/v2/models/mse/infer", b'{"inputs": []}\x00\x00', b"Inference-Header-Content-Length: 14"),
        ("/losses/mse", gzip.compress(json.dumps(MSE).encode())[:12], b"Content-Encoding: gzip"),
    ],
    ids=["losses", "batch", "v2-json", "v2-binary", "gzip"],
)
def test_truncated_bodies_do_not_hang_the_server(
    server: ServerProcess, path: str, partial: bytes, extra: bytes
) -> None:
    """Content-Length 1000, a few bytes, then the client closes its write side: the server takes the client
    for gone and closes the connection without an answer (uvicorn drops whatever the app would send a
    disconnected client), promptly, and serves on."""
    sock = connect(server, timeout=10)
    try:
        head = request_head(path, 1000, *([extra] if extra else []))
        sock.sendall(head + partial)
        sock.shutdown(socket.SHUT_WR)
        answer = read_response(sock)  # None once the server closes; a hang fails on the socket's 10 s timeout
    finally:
        sock.close()
    assert answer is None, f"an answer to a client that has gone: {answer}"
    with connect(server) as probe:
        probe.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")
        alive = read_response(probe)
    assert alive is not None and alive[0] == 200


@pytest.mark.parametrize("path", SLOW_PATHS)
def test_body_over_64_mib_is_refused_from_content_length(server: ServerProcess, path: str) -> None:
    """Content-Length 64 MiB + 1 and not one body byte: 413 straight from the header."""
    sock = connect(server, timeout=10)
    try:
        sock.sendall(request_head(path, 64 * 2**20 + 1))
        answer = read_response(sock)
    finally:
        sock.close()
    assert answer is not None, "the connection closed without an answer"
    status, headers, body = answer
    document = assert_clean(status, headers.get("content-type", ""), body, 413, route_of(path))
    if route_of(path) == "/losses":
        assert document["type"] == TYPE_PREFIX + "body-too-large"
        assert str(64 * 2**20) in document["detail"]


@pytest.mark.parametrize(
    "framing",
    [
        request_head("/losses/mse", b"-1"),
        request_head("/losses/mse", b"abc"),
        request_head("/losses/mse", b"1e3"),
        request_head("/losses/mse", b"0x10"),
        request_head("/losses/mse", b"\xb2"),
        request_head("/losses/mse", b"9" * 30),
        request_head("/losses/mse", b"5, 6"),
        request_head("/losses/mse", b"5", b"Content-Length: 6"),
        b"POST /losses/mse HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /losses/mse HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n",
    ],
    ids=[
        "minus-1",
        "letters",
        "exponent",
        "hex",
        "superscript",
        "30-digits",
        "list",
        "two-headers",
        "chunk-zz",
        "chunk-2^72",
    ],
)
def test_garbage_framing_gets_400_from_the_server(server: ServerProcess, framing: bytes) -> None:
    sock = connect(server, timeout=10)
    try:
        sock.sendall(framing)
        answer = read_response(sock)
    finally:
        sock.close()
    assert answer is not None, "the connection closed without an answer"
    status, _, body = answer
    assert status == 400, body
    assert LEAKS.search(body.decode("latin-1")) is None, body


def _held_post(server: ServerProcess, body: bytes) -> socket.socket:
    sock = connect(server, timeout=10)
    sock.sendall(request_head("/losses/mse", len(body)) + body[:5])
    return sock


def test_slots_are_not_leaked_and_the_limit_holds(server: ServerProcess) -> None:
    """After every hostile request above, every computation slot is free: SLOTS held requests are admitted,
    one more is refused with 503, and the held ones complete."""
    body = json.dumps({"y_true": [1.0, 2.0], "y_pred": [1.0, 4.0], "reduction": "sum"}).encode()
    held = [_held_post(server, body) for _ in range(SLOTS)]
    try:
        third = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # until every held request has its slot
            with connect(server) as sock:
                sock.sendall(request_head("/losses/mse", len(body)) + body)
                third = read_response(sock)
            if third is not None and third[0] == 503:
                break
            time.sleep(0.05)
        assert third is not None and third[0] == 503, third
        assert third[1]["retry-after"] == "1"
        assert_clean(third[0], third[1]["content-type"], third[2], 503)
        for sock in held:
            sock.sendall(body[5:])
            answer = read_response(sock)
            assert answer is not None and answer[0] == 200, answer
            assert json.loads(answer[2])["loss"] == 4.0
    finally:
        for sock in held:
            sock.close()


def test_the_server_survived(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(request_head("/losses/mse", len(json.dumps(MSE))) + json.dumps(MSE).encode())
        answer = read_response(sock)
    assert answer is not None and answer[0] == 200
    assert math.isclose(json.loads(answer[2])["loss"], 0.0625)
    assert server.process is not None and server.process.poll() is None
    errors = [r for r in server.log_records() if r.get("level") in ("error", "critical")]
    assert errors == [], errors
