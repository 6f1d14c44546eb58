"""``POST /batch``: several computations in one request, each succeeding or failing on its own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...engine.errors import Issue
from ...settings import Settings
from ..body import read_body, require_json
from ..dispatch import Dispatcher, respond
from ..problems import ProblemError
from ..schemas import COMPONENTS
from .losses import problem_responses


def answer_batch(dispatcher: Dispatcher, payload: Any, max_items: int) -> dict[str, Any]:
    """``{"results": [...]}`` in item order; a fault of the envelope is one problem for the request."""
    if not isinstance(payload, dict) or set(payload) != {"items"}:
        unknown = sorted(set(payload) - {"items"}) if isinstance(payload, dict) else []
        issues = [Issue((key,), "unknown field") for key in unknown] or [Issue(("items",), "required field")]
        raise ProblemError(422, "invalid-request", 'the body must be {"items": [...]}', issues)
    items = payload["items"]
    if not isinstance(items, list) or not items:
        raise ProblemError(
            422, "invalid-request", "items must be a non-empty array", [Issue(("items",), "expected a non-empty array")]
        )
    if len(items) > max_items:
        raise ProblemError(
            422,
            "too-many-items",
            f"a batch holds at most {max_items} items; this one has {len(items)}: split it",
            [Issue(("items",), f"at most {max_items} items")],
        )
    return {"results": [_answer_item(dispatcher, item, index) for index, item in enumerate(items)]}


def _answer_item(dispatcher: Dispatcher, item: Any, index: int) -> dict[str, Any]:
    try:
        if not isinstance(item, dict) or not isinstance(item.get("loss"), str):
            raise ProblemError(
                422,
                "invalid-request",
                'each item is the body of POST /losses/{name} plus its "loss" name',
                [Issue(("loss",), "required: the loss's name, a string")],
            )
        body = {key: value for key, value in item.items() if key != "loss"}
        return {"status": 200, "result": dispatcher.compute(item["loss"], body)}
    except ProblemError as problem:
        return {"status": problem.status, "problem": problem.document()}


def add_routes(router: APIRouter, dispatcher: Dispatcher, settings: Settings) -> None:
    async def batch(request: Request) -> Response:
        require_json(request)
        content = await respond(
            await read_body(request, settings.max_body_bytes, settings.request_timeout_seconds),
            settings.offload_bytes,
            lambda payload: answer_batch(dispatcher, payload, settings.batch_max_items),
        )
        return Response(content, media_type="application/json")

    router.add_api_route(
        "/batch",
        batch,
        methods=["POST"],
        tags=["batch"],
        operation_id="compute_batch",
        summary="Several computations in one request",
        description=(
            "Each item is the body of `POST /losses/{name}` plus its `loss` name, and is computed on its own: "
            "its result holds the status and the body (or problem) that request would have got. At most "
            f"{settings.batch_max_items} items (configurable)."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": COMPONENTS + "BatchRequest"}}},
            }
        },
        responses={
            200: {
                "description": "one result per item, in order",
                "content": {"application/json": {"schema": {"$ref": COMPONENTS + "BatchResponse"}}},
            },
            **problem_responses(400, 413, 415, 422),
        },
    )
