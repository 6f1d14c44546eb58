"""The service object: every protocol's requests go through ``LossService.answer``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..engine import CATALOG, LossSpec
from ..settings import Settings
from .admission import Admission
from .metrics import record
from .pipeline import Answer, Body, Codec, Computed, Meta, Refused
from .placement import Placement


class LossService:
    """Between the front ends (HTTP routes, gRPC) and the engine.

    ``answer`` takes a loss name, a body and the codec of the protocol it came in, and gives
    the answer: decode, validate, compute and encode (``pipeline.respond``), placed inline, in
    a thread or in a helper process by the one policy (``placement``), with the computation
    metrics recorded once, here.
    """

    def __init__(self, settings: Settings, catalog: Mapping[str, LossSpec] = CATALOG) -> None:
        self.catalog = catalog
        self.admission = Admission(settings.max_concurrency, settings.retry_after_seconds)
        self.placement = Placement(settings, self.admission)

    async def answer(
        self,
        codec: Codec[Any],
        loss: str | None,
        read: Callable[[], Awaitable[Body]],
        meta: Meta | None = None,
    ) -> Answer:
        """The answer to the body ``read`` gives, sent to ``loss`` (``None``: the body names its losses)."""
        meta = meta or {}
        arrived = self.admission.admitted  # before the body arrives: were others admitted meanwhile?
        body = await read()
        where = self.placement.choose(body.size, codec.parses_json(meta), arrived)
        try:
            answer = await self.placement.run(where, codec, loss, body, meta)
        except Refused as refused:  # the helper computing it died
            answer = codec.failure(refused, meta)
            if loss is not None and loss in self.catalog:
                answer.computed.append(Computed(loss, answer.status))
        record(answer.computed, codec.protocol)
        return answer

    def close(self) -> None:
        """Release what the service started (helper processes); at shutdown, after the last request."""
        self.placement.close()
