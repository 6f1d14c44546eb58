"""The endpoints of API.md sections 1 and 2 answering well-formed requests.

The clients come from ``conftest.py`` and fail the test on any 500.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engine import CATALOG

JSON = {"content-type": "application/json"}
EXAMPLE = {"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 0.0]]}

#: The losses of the seed document (API.md section 5).
SEED = {
    "mse",
    "binary_crossentropy",
    "categorical_crossentropy",
    "perceptron",
    "kl_divergence",
    "hinge",
    "cosine_similarity",
    "binary_focal",
    "categorical_focal",
}

#: Parameter defaults fixed by API.md section 5.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mse": {},
    "hinge": {},
    "perceptron": {},
    "binary_crossentropy": {"from_logits": False, "label_smoothing": 0.0, "pos_weight": None, "eps": 1e-7},
    "binary_focal": {"alpha": 0.25, "gamma": 2.0, "from_logits": True, "label_smoothing": 0.0, "eps": 1e-7},
    "categorical_crossentropy": {"from_logits": False, "class_weight": None, "label_smoothing": 0.0, "eps": 1e-7},
    "sparse_categorical_crossentropy": {
        "from_logits": False,
        "class_weight": None,
        "ignore_index": None,
        "label_smoothing": 0.0,
        "eps": 1e-7,
    },
    "categorical_focal": {"alpha": 0.25, "gamma": 2.0, "from_logits": False, "label_smoothing": 0.0, "eps": 1e-7},
    "kl_divergence": {"log_input": False, "log_target": False, "eps": 1e-7},
    "cosine_similarity": {"eps": 1e-8},
}

ENTRY_KEYS = {
    "batch",
    "scalar",
    "formula",
    "example",
    "name",
    "family",
    "summary",
    "inputs",
    "params",
    "reductions",
    "default_reduction",
    "none_shape",
    "reference",
}


def post(client: TestClient, name: str, body: Any) -> httpx.Response:
    return client.post(f"/losses/{name}", content=json.dumps(body).encode(), headers=JSON)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


# GET /losses and GET /losses/{name}


def test_catalog_lists_every_loss(api_client: TestClient) -> None:
    catalog = ok(api_client.get("/losses"))
    assert set(catalog) == {"losses"}
    names = [entry["name"] for entry in catalog["losses"]]
    assert len(names) == len(set(names))
    assert set(names) == set(CATALOG)
    assert set(names) >= SEED


def test_catalog_entries_are_complete(api_client: TestClient) -> None:
    for entry in ok(api_client.get("/losses"))["losses"]:
        spec = CATALOG[entry["name"]]
        assert set(entry) == ENTRY_KEYS, entry["name"]
        assert entry["family"] == spec.family and entry["family"]
        assert entry["summary"] == spec.summary and entry["summary"]
        assert entry["reference"] == spec.reference and entry["reference"]
        assert entry["none_shape"] == spec.shape_rule.description
        assert entry["reductions"] == list(spec.reductions)
        assert entry["default_reduction"] == spec.default_reduction
        assert entry["default_reduction"] in entry["reductions"]
        assert (entry["batch"], entry["scalar"]) == (spec.batch, spec.scalar)
        if spec.scalar:  # one value per batch: mean only
            assert entry["reductions"] == ["mean"]
        else:
            assert {"mean", "sum", "none"} <= set(entry["reductions"])
        assert [i["name"] for i in entry["inputs"]] == [i.name for i in spec.inputs]
        shapes = spec.shape_rule.input_shapes()
        for info, item in zip(entry["inputs"], spec.inputs, strict=True):
            fixed = sum(axis != "..." for axis in shapes[item.name])
            assert info == {
                "name": item.name,
                "description": item.description,
                "differentiable": item.differentiable,
                "dtype": "integer" if item.integer else "number",
                "required": item.required,
                "shape": list(shapes[item.name]),
                "min_rank": fixed,
                "max_rank": None if "..." in shapes[item.name] else fixed,
            }
        assert entry["formula"] == spec.formula and entry["formula"].startswith(r"\ell = ")
        # The worked example: the spec's request, and what POST /losses/{name} answers to it.
        example = entry["example"]
        assert example["request"] == {**spec.example, "return_grad": True}
        assert ok(api_client.post(f"/losses/{entry['name']}", json=example["request"])) == example["response"]
        assert [p["name"] for p in entry["params"]] == [p.name for p in spec.params]
        for info in entry["params"]:
            assert info["default"] == spec.defaults[info["name"]]
            types = {"number", "integer", "boolean", "array of numbers", "number or array of numbers", "string"}
            assert info["type"] in types
            assert info["type"] != "string" or info["choices"], "a string param is a named choice"
            assert info["description"]
            assert isinstance(info["nullable"], bool)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_catalog_defaults_are_the_contract(api_client: TestClient, name: str) -> None:
    entry = ok(api_client.get(f"/losses/{name}"))
    assert {p["name"]: p["default"] for p in entry["params"]} == DEFAULTS[name]


def test_catalog_details_of_a_few_losses(api_client: TestClient) -> None:
    mse = ok(api_client.get("/losses/mse"))
    assert mse["family"] == "regression"
    assert mse["reference"] == "torch.nn.functional.mse_loss"
    assert mse["reductions"] == ["mean", "sum", "none"]
    assert mse["default_reduction"] == "mean"
    assert mse["none_shape"].startswith("elementwise")
    assert [(i["name"], i["differentiable"]) for i in mse["inputs"]] == [("y_true", False), ("y_pred", True)]

    kl = ok(api_client.get("/losses/kl_divergence"))
    assert set(kl["reductions"]) == {"batchmean", "mean", "sum", "none"}
    assert kl["default_reduction"] == "batchmean"

    sparse = ok(api_client.get("/losses/sparse_categorical_crossentropy"))
    assert [i["dtype"] for i in sparse["inputs"]] == ["integer", "number"]
    assert sparse["none_shape"].startswith("per-sample")

    bce = {p["name"]: p for p in ok(api_client.get("/losses/binary_crossentropy"))["params"]}
    assert (bce["label_smoothing"]["minimum"], bce["label_smoothing"]["maximum"]) == (0, 1)
    assert (bce["eps"]["exclusive_minimum"], bce["eps"]["exclusive_maximum"]) == (0, 0.5)
    assert bce["pos_weight"]["nullable"] is True
    assert bce["from_logits"]["type"] == "boolean"


def test_each_loss_entry_is_its_catalog_entry(api_client: TestClient) -> None:
    catalog = ok(api_client.get("/losses"))["losses"]
    for entry in catalog:
        assert ok(api_client.get(f"/losses/{entry['name']}")) == entry


# Health


def test_livez(api_client: TestClient) -> None:
    assert ok(api_client.get("/livez")) == {"status": "ok"}


def test_readyz_inside_the_lifespan(api_client: TestClient) -> None:
    assert ok(api_client.get("/readyz")) == {"status": "ready"}


def test_readyz_is_503_before_start_and_after_shutdown() -> None:
    app = create_app()
    starting = TestClient(app).get("/readyz")  # no `with`: the lifespan has not run
    assert starting.status_code == 503
    assert starting.headers["retry-after"] == "1"
    assert starting.json() == {"status": "unavailable"}
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
    draining = TestClient(app).get("/readyz")  # the lifespan has shut down
    assert draining.status_code == 503
    assert "retry-after" in draining.headers
    assert TestClient(app).get("/livez").status_code == 200  # the process is still up


# The OpenAPI document and its page


@pytest.fixture(scope="module")
def openapi(api_client: TestClient) -> dict[str, Any]:
    return ok(api_client.get("/openapi.json"))


def _component(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/")
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def _numeric_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """The number/integer schema of a param, looking inside anyOf (nullable params) and oneOf (a number or a
    list of numbers, tagged by its JSON type)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return next(s for s in schema[key] if s.get("type") in ("number", "integer"))
    return schema


def test_openapi_is_3_1(openapi: dict[str, Any]) -> None:
    assert openapi["openapi"].startswith("3.1")
    assert openapi["info"]["title"]


def test_openapi_one_post_operation_per_loss(openapi: dict[str, Any]) -> None:
    computes = [
        operation["operationId"]
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if path.startswith("/losses/") and path != "/losses/{name}" and method == "post"
    ]
    assert sorted(computes) == sorted(f"compute_{name}" for name in CATALOG)
    # The catch-all for other names is documented as what it is: a 404 for names that are not losses.
    fallback = openapi["paths"]["/losses/{name}"]["post"]
    assert "404" in fallback["responses"]
    assert fallback["parameters"][0]["schema"]["not"]["enum"] == list(CATALOG)
    for name in CATALOG:
        operation = openapi["paths"][f"/losses/{name}"]["post"]
        assert operation["operationId"] == f"compute_{name}"
        for status in ("400", "413", "415", "422"):
            content = operation["responses"][status]["content"]
            assert _component(openapi, content["application/problem+json"]["schema"]["$ref"])["title"] == "Problem"


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_openapi_request_schema_lists_params_with_defaults_and_bounds(openapi: dict[str, Any], name: str) -> None:
    spec = CATALOG[name]
    operation = openapi["paths"][f"/losses/{name}"]["post"]
    assert operation["requestBody"]["required"] is True
    request = _component(openapi, operation["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert request["additionalProperties"] is False
    assert set(request["required"]) == set(spec.required_inputs)
    assert {i.name for i in spec.inputs} | {"sample_weight", "params", "reduction", "return_grad", "dtype"} == set(
        request["properties"]
    )
    assert request["properties"]["dtype"]["enum"] == ["float64", "float32"]
    assert request["properties"]["reduction"]["default"] == spec.default_reduction
    params = _component(openapi, request["properties"]["params"]["$ref"])
    assert params["additionalProperties"] is False
    assert set(params.get("properties", {})) == {p.name for p in spec.params}
    for param in spec.params:
        schema = params["properties"][param.name]
        assert schema["default"] == spec.defaults[param.name]
        bounds = {"minimum": param.ge, "exclusiveMinimum": param.gt, "maximum": param.le, "exclusiveMaximum": param.lt}
        if all(value is None for value in bounds.values()):
            continue
        number = _numeric_branch(schema)
        for key, value in bounds.items():
            assert number.get(key) == value, (param.name, key)


def test_openapi_bounds_spelled_out(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    smoothing = schemas["BinaryCrossentropyParams"]["properties"]["label_smoothing"]
    assert (smoothing["type"], smoothing["minimum"], smoothing["maximum"], smoothing["default"]) == (
        "number",
        0,
        1,
        0.0,
    )
    eps = schemas["BinaryCrossentropyParams"]["properties"]["eps"]
    assert (eps["exclusiveMinimum"], eps["exclusiveMaximum"], eps["default"]) == (0, 0.5, 1e-7)
    gamma = schemas["BinaryFocalParams"]["properties"]["gamma"]
    assert (gamma["minimum"], gamma["default"]) == (0, 2.0)
    assert "maximum" not in gamma
    reduction = schemas["KlDivergenceRequest"]["properties"]["reduction"]
    assert set(reduction["enum"]) == {"batchmean", "mean", "sum", "none"}
    assert reduction["default"] == "batchmean"
    assert schemas["MseRequest"]["properties"]["reduction"]["enum"] == ["mean", "sum", "none"]


def test_docs_page(api_client: TestClient) -> None:
    response = api_client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    assert "swagger-ui" in response.text.lower()
    assert "/openapi.json" in response.text


# POST /losses/mse, worked out by hand on EXAMPLE:
# y_pred - y_true = [[0.5, 0], [0, 0]], so the unreduced loss is [[0.25, 0], [0, 0]] (4 values).


@pytest.mark.parametrize(
    ("extra", "reduction", "loss", "grad"),
    [
        ({}, "mean", 0.0625, [[0.25, 0.0], [0.0, 0.0]]),  # 0.25 / 4; 2 * 0.5 / 4
        ({"reduction": "mean"}, "mean", 0.0625, [[0.25, 0.0], [0.0, 0.0]]),
        ({"reduction": "sum"}, "sum", 0.25, [[1.0, 0.0], [0.0, 0.0]]),
        ({"reduction": "none"}, "none", [[0.25, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]),
        ({"sample_weight": [1.0, 0.5]}, "mean", 0.0625, [[0.25, 0.0], [0.0, 0.0]]),  # row 1 adds nothing
        ({"sample_weight": [0.5, 1.0]}, "mean", 0.03125, [[0.125, 0.0], [0.0, 0.0]]),  # 0.5 * 0.25 / 4
        (
            {"sample_weight": [0.5, 1.0], "reduction": "none"},
            "none",
            [[0.125, 0.0], [0.0, 0.0]],
            [[0.5, 0.0], [0.0, 0.0]],
        ),
        ({"sample_weight": [[2.0, 3.0], [4.0, 5.0]], "reduction": "sum"}, "sum", 0.5, [[2.0, 0.0], [0.0, 0.0]]),
        ({"dtype": "float32"}, "mean", 0.0625, [[0.25, 0.0], [0.0, 0.0]]),
    ],
)
def test_mse_by_hand(
    api_client: TestClient, extra: dict[str, Any], reduction: str, loss: Any, grad: list[list[float]]
) -> None:
    dtype = extra.get("dtype", "float64")
    without = ok(post(api_client, "mse", {**EXAMPLE, **extra}))
    assert without == {"name": "mse", "reduction": reduction, "dtype": dtype, "loss": loss}
    with_grad = ok(post(api_client, "mse", {**EXAMPLE, **extra, "return_grad": True}))
    assert with_grad == {"name": "mse", "reduction": reduction, "dtype": dtype, "loss": loss, "grad": {"y_pred": grad}}


def test_return_grad_false_has_no_grad(api_client: TestClient) -> None:
    document = ok(post(api_client, "mse", {**EXAMPLE, "return_grad": False}))
    assert list(document) == ["name", "reduction", "dtype", "loss"]


def test_float32_numbers_read_back_as_float32_values(api_client: TestClient) -> None:
    body = {"y_true": [[0.0, 0.3]], "y_pred": [[0.1, 0.7]], "reduction": "none", "return_grad": True}
    narrow = ok(post(api_client, "mse", {**body, "dtype": "float32"}))
    wide = ok(post(api_client, "mse", body))
    diff = np.array([[0.1, 0.7]], dtype=np.float32) - np.array([[0.0, 0.3]], dtype=np.float32)
    assert narrow["dtype"] == "float32"
    assert narrow["loss"] == (diff * diff).astype(np.float64).tolist()
    assert narrow["grad"]["y_pred"] == (np.float32(2) * diff).astype(np.float64).tolist()
    assert narrow["loss"][0][0] == float(np.float32(0.1) * np.float32(0.1)) != wide["loss"][0][0] == 0.1 * 0.1
    for value in (*narrow["loss"][0], *narrow["grad"]["y_pred"][0]):
        assert float(np.float32(value)) == value  # each number is a float32 value
    mean = ok(post(api_client, "mse", {"y_true": [0.0], "y_pred": [0.1], "dtype": "float32"}))
    assert mean["loss"] == float(np.float32(0.1) * np.float32(0.1)) == 0.010000000707805157


def test_numbers_in_shortest_round_trip_form(api_client: TestClient) -> None:
    # l = (1 - 0)^2 = 1, weighted by 0.1: the loss is 0.1 and the gradient 2 * 0.1 = 0.2, exactly as written.
    body = {"y_true": [0.0, 0.0], "y_pred": [1.0, 1 / 3], "sample_weight": [0.1, 1.0], "reduction": "none"}
    response = post(api_client, "mse", {**body, "return_grad": True})
    raw = response.text
    assert re.search(r'"loss"\s*:\s*\[0\.1\s*,\s*0\.1111111111111111\s*\]', raw), raw
    assert re.search(r'"y_pred"\s*:\s*\[0\.2\s*,\s*0\.6666666666666666\s*\]', raw), raw
    for token in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", raw):
        value = float(token)
        assert math.isfinite(value)
        assert len(token.replace("e+", "e")) <= len(repr(value).replace("e+", "e")), token
    document = ok(response)
    assert document["loss"] == [0.1, (1 / 3) ** 2]
    assert document["grad"]["y_pred"] == [0.2, 2 / 3]


def test_response_shape_for_every_loss(api_client: TestClient) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "mse": EXAMPLE,
        "binary_crossentropy": {"y_true": [[1.0, 0.0]], "y_pred": [[0.75, 0.25]]},
        "binary_focal": {"y_true": [[1.0, 0.0]], "y_pred": [[0.5, -0.5]]},
        "hinge": {"y_true": [[1.0, -1.0]], "y_pred": [[0.5, 0.5]]},
        "perceptron": {"y_true": [[1.0, 0.0]], "y_pred": [[0.5, 0.5]]},
        "categorical_crossentropy": {"y_true": [[0.0, 1.0]], "y_pred": [[0.25, 0.75]]},
        "sparse_categorical_crossentropy": {"y_true": [1], "y_pred": [[0.25, 0.75]]},
        "categorical_focal": {"y_true": [[0.0, 1.0]], "y_pred": [[0.25, 0.75]]},
        "kl_divergence": {"y_true": [[0.5, 0.5]], "y_pred": [[0.25, 0.75]]},
        "cosine_similarity": {"y_true": [[1.0, 0.0]], "y_pred": [[1.0, 1.0]]},
    }
    for name, body in bodies.items():
        spec = CATALOG[name]
        document = ok(post(api_client, name, body))
        assert document == {
            "name": name,
            "reduction": spec.default_reduction,
            "dtype": "float64",
            "loss": document["loss"],
        }
        assert isinstance(document["loss"], float) and math.isfinite(document["loss"])
        document = ok(post(api_client, name, {**body, "reduction": "none", "return_grad": True}))
        assert set(document) == {"name", "reduction", "dtype", "loss", "grad"}
        assert document["reduction"] == "none"
        assert set(document["grad"]) == set(spec.differentiable)
        for input_name, grad in document["grad"].items():
            assert np.shape(grad) == np.shape(body[input_name])
        assert isinstance(document["loss"], list)


def test_categorical_crossentropy_by_hand(api_client: TestClient) -> None:
    body = {"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.1, 0.9], [0.8, 0.2]], "return_grad": True}
    document = ok(post(api_client, "categorical_crossentropy", body))
    assert document["loss"] == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2, rel=1e-12)
    # d/dp_j of -log(p_t / sum p) / 2 = (-[j = t] / p_t + 1 / sum p) / 2
    expected = [[0.5, (1 - 1 / 0.9) / 2], [(1 - 1 / 0.8) / 2, 0.5]]
    np.testing.assert_allclose(document["grad"]["y_pred"], expected, rtol=1e-12, atol=1e-15)


def test_kl_divergence_batchmean_by_hand(api_client: TestClient) -> None:
    body = {"y_true": [[0.5, 0.5], [1.0, 0.0]], "y_pred": [[0.25, 0.75], [0.5, 0.5]]}
    document = ok(post(api_client, "kl_divergence", body))
    row0 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    row1 = 1.0 * math.log(1.0 / 0.5) + 1e-7 * math.log(1e-7 / 0.5)  # Keras clips the target to [eps, 1]
    assert document["reduction"] == "batchmean"
    assert document["loss"] == pytest.approx((row0 + row1) / 2, rel=1e-12)


def test_sample_weight_prefix_equals_full_shape(api_client: TestClient) -> None:
    body = {"y_true": [[[0.0, 1.0]], [[2.0, 3.0]]], "y_pred": [[[1.0, 1.0]], [[2.0, 1.0]]], "reduction": "sum"}
    prefix = ok(post(api_client, "mse", {**body, "sample_weight": [2.0, 3.0]}))
    middle = ok(post(api_client, "mse", {**body, "sample_weight": [[2.0], [3.0]]}))
    full = ok(post(api_client, "mse", {**body, "sample_weight": [[[2.0, 2.0]], [[3.0, 3.0]]]}))
    assert prefix["loss"] == middle["loss"] == full["loss"] == 2.0 * 1.0 + 3.0 * 4.0


def test_integers_are_accepted_as_numbers(api_client: TestClient) -> None:
    document = ok(post(api_client, "mse", {"y_true": [[0, 1], [1, 0]], "y_pred": [[1, 1], [1, 0]]}))
    assert document["loss"] == 0.25


def test_large_body_is_computed_off_the_event_loop(api_client: TestClient) -> None:
    # Over the default offload threshold (256 KiB): parsed and computed in a worker thread.
    n = 40_000
    body = {"y_true": [0.0] * n, "y_pred": [0.5] * n, "reduction": "sum"}
    assert len(json.dumps(body)) > 256 * 1024
    assert ok(post(api_client, "mse", body))["loss"] == 0.25 * n
