"""``POST /batch``: several computations in one request, each succeeding or failing on its own."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.types import Receive, Scope

from ...serving import Answer, LossService
from ...settings import Settings
from ..body import require_json
from ..codecs import BatchCodec
from ..schemas import COMPONENTS
from . import Operation, OperationRoute, Routes, body_reader
from .losses import COMPUTE_PROBLEMS, problem_responses


def routes(service: LossService, settings: Settings) -> Routes:
    codec = BatchCodec(settings.batch_max_items)

    async def batch(scope: Scope, receive: Receive) -> Answer:
        require_json(scope)
        meta = {"request_id": scope["state"]["request_id"]}
        return await service.answer(codec, None, body_reader(scope, receive, settings), meta)

    async def documented_batch() -> None:  # pragma: no cover - the document's operation; ``batch`` serves it
        raise AssertionError("documentation only")

    documented = APIRoute(
        "/batch",
        documented_batch,
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
            **problem_responses(*COMPUTE_PROBLEMS),
        },
    )
    return Routes(served=[OperationRoute("/batch", Operation(batch), methods=["POST"])], documented=[documented])
