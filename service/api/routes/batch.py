"""``POST /batch``: several computations in one request, each succeeding or failing on its own."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from ...serving import LossService
from ...settings import Settings
from ..body import require_json
from ..codecs import BatchCodec
from ..schemas import COMPONENTS
from . import OperationRoute, Routes, body_reader, response
from .losses import COMPUTE_PROBLEMS, problem_responses


def routes(service: LossService, settings: Settings) -> Routes:
    codec = BatchCodec(settings.batch_max_items)

    async def batch(request: Request) -> Response:
        require_json(request)
        meta = {"request_id": request.state.request_id}
        return response(await service.answer(codec, None, body_reader(request, settings), meta))

    documented = APIRoute(
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
            **problem_responses(*COMPUTE_PROBLEMS),
        },
    )
    return Routes(served=[OperationRoute("/batch", batch, methods=["POST"])], documented=[documented])
