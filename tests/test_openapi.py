"""The committed OpenAPI document is the one the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from service.api.openapi import render
from service.app import create_app
from service.engine import CATALOG
from service.settings import Settings

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


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
        assert {i.name for i in spec.inputs if i.required} <= set(request["required"])
        params = schemas[request["properties"]["params"]["$ref"].rsplit("/", 1)[1]]
        assert set(params.get("properties", {})) == {p.name for p in spec.params}
        for param in spec.params:
            assert params["properties"][param.name]["default"] == spec.defaults[param.name]
        assert request["properties"]["reduction"]["enum"] == list(spec.reductions)
        assert request["properties"]["reduction"]["default"] == spec.default_reduction
