"""The OpenAPI document: the committed file is the one the app serves, one typed operation per loss with
its params' defaults and bounds, and the page that shows it (``/docs``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.openapi import render
from service.app import create_app
from service.engine import CATALOG
from service.settings import Settings
from tests.support.http import ok

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    served = create_app(Settings()).openapi()
    assert COMMITTED.exists(), "openapi/openapi.json is missing: python -m service.api.openapi"
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == served, "openapi/openapi.json is stale; regenerate it: python -m service.api.openapi"
    assert COMMITTED.read_text(encoding="utf-8") == render(served)


def test_each_loss_has_its_own_typed_operation() -> None:
    document = create_app(Settings()).openapi()
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    for name, spec in CATALOG.items():
        operation = document["paths"][f"/losses/{name}"]["post"]
        assert operation["operationId"] == f"compute_{name}"
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        request = schemas[ref.rsplit("/", 1)[1]]
        assert set(spec.required_inputs) == set(request["required"]) & {i.name for i in spec.inputs}
        params = schemas[request["properties"]["params"]["$ref"].rsplit("/", 1)[1]]
        assert set(params.get("properties", {})) == {p.name for p in spec.params}
        for param in spec.params:
            assert params["properties"][param.name]["default"] == spec.defaults[param.name]
        assert request["properties"]["reduction"]["enum"] == list(spec.reductions)
        assert request["properties"]["reduction"]["default"] == spec.default_reduction


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
