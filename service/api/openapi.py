"""The OpenAPI document: the documented operations (one per loss) and the schemas they reference."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute

from .problems import Problem
from .schemas import COMPONENTS, TENSOR_SCHEMAS


def build_openapi(
    title: str, version: str, description: str, routes: Sequence[BaseRoute], models: Iterable[type[BaseModel]]
) -> dict[str, Any]:
    document = get_openapi(title=title, version=version, description=description, routes=routes)
    everything: list[type[BaseModel]] = [*models, Problem]
    _, definitions = models_json_schema(
        [(model, "validation") for model in everything], ref_template=COMPONENTS + "{model}"
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(definitions.get("$defs", {}))
    schemas.update(TENSOR_SCHEMAS)
    _drop_framework_validation_errors(document)
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def _drop_framework_validation_errors(document: dict[str, Any]) -> None:
    """FastAPI declares a 422 ``HTTPValidationError`` for every operation with parameters; this service never
    answers it (a path parameter is any string, a body error is a problem, or ``{"error"}`` on /v2)."""
    framework = "#/components/schemas/HTTPValidationError"
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref") == framework:
                del operation["responses"]["422"]
    if framework not in json.dumps(document["paths"]):
        for name in ("HTTPValidationError", "ValidationError"):
            document["components"]["schemas"].pop(name, None)


def render(document: dict[str, Any]) -> str:
    """The committed form: indented, key order kept, a trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m service.api.openapi [PATH]``: write the OpenAPI document (default openapi/openapi.json)."""
    from ..app import create_app
    from ..settings import Settings

    path = Path((argv if argv is not None else sys.argv[1:] or ["openapi/openapi.json"])[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(create_app(Settings()).openapi()), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
