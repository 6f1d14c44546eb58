"""One request from bytes to bytes: decode, validate, compute, encode.

Pure CPU work with no I/O and no event loop, so that it runs wherever the placement policy
puts it (inline, a worker thread, a helper process) and answers the same everywhere. A
``Codec`` is one wire format (the JSON body of ``POST /losses/{name}``, ``POST /batch``, the
Open Inference Protocol): it turns bytes into ``ComputeRequest``s and results (or errors)
back into bytes. Everything between, the element limit and the engine, is here, once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from ..engine import CATALOG, DType, LossSpec, Reduction, Result, compute

Meta = Mapping[str, str]
"""What a protocol reads besides the body: the request id, the Open Inference Protocol's header length."""


class Body:
    """A request body handed over once: ``take()`` gives the bytes and keeps no reference.

    Whoever holds the body last drops it as soon as it is parsed, so a large request does not
    hold its body and its arrays at once.
    """

    __slots__ = ("_data", "size")

    def __init__(self, data: bytes | bytearray) -> None:
        self._data: bytes | bytearray | None = data
        self.size = len(data)

    def take(self) -> bytes | bytearray:
        data, self._data = self._data, None
        if data is None:
            raise RuntimeError("the body was already taken")
        return data


class Refused(Exception):
    """The service will not compute this request (413 too large, 503 unavailable); not a fault of its values."""

    def __init__(self, status: int, kind: str, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class ComputeRequest:
    """One computation, decoded and validated: what the engine is called with."""

    spec: LossSpec
    arrays: dict[str, np.ndarray]
    params: dict[str, Any]
    sample_weight: np.ndarray | None
    reduction: Reduction
    return_grad: bool
    dtype: DType


@dataclass
class Item:
    """One computation of a request, as it goes through: the loss it names (once known), then
    the validated request or the error that stopped it, then its result."""

    loss: str | None
    request: ComputeRequest | None = None
    error: Exception | None = None
    result: Result | None = None
    status: int = 200  # the status answered for it: the codec sets it when it answers an error
    elements: int | None = None  # array elements the engine was given
    seconds: float | None = None  # time the engine took, when it finished


@dataclass(frozen=True)
class Computed:
    """What the metrics record of one computation: the loss, the status answered, the engine's share."""

    loss: str
    status: int
    elements: int | None = None
    seconds: float | None = None


@dataclass
class Answer:
    """A response, ready for any front end, and what the metrics need of it."""

    status: int
    content: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    computed: list[Computed] = field(default_factory=list)


Decoded = TypeVar("Decoded")


class Codec(Protocol, Generic[Decoded]):
    """A wire format. Instances are small and picklable: a helper process gets a copy."""

    protocol: ClassVar[str]
    """Its name in the metrics (``loss_computations_total{protocol}``): losses, batch, v2, grpc."""

    def parses_json(self, meta: Meta) -> bool:
        """Whether decoding parses a JSON body (which holds the GIL for its whole length)."""
        ...

    def decode(self, loss: str | None, body: Body, meta: Meta) -> Decoded:
        """Bytes to a document; raises for a body that is not one."""
        ...

    def validate(self, decoded: Decoded) -> list[Item]:
        """The document's computations; raises for a fault of the whole request."""
        ...

    def encode(self, decoded: Decoded, items: list[Item], meta: Meta) -> Answer:
        """The answer to computed (or failed) items; sets the ``status`` of each failed one."""
        ...

    def failure(self, error: Exception, meta: Meta) -> Answer:
        """The answer to an error this wire format answers; re-raises any other (a bug)."""
        ...


def respond(codec: Codec[Any], loss: str | None, body: Body, meta: Meta, max_elements: int) -> Answer:
    """``body`` sent to ``loss`` (or to no loss, for a batch) answered in ``codec``'s wire format."""
    try:
        decoded = codec.decode(loss, body, meta)
        items = codec.validate(decoded)
    except Exception as error:
        answer = codec.failure(error, meta)
        if loss is not None and loss in CATALOG:  # an unknown name is no label: there could be any number
            answer.computed.append(Computed(loss, answer.status))
        return answer
    for item in items:
        if item.request is not None and item.error is None:
            _run(item, max_elements)
    answer = codec.encode(decoded, items, meta)
    answer.computed += [
        Computed(item.loss, item.status, item.elements, item.seconds) for item in items if item.loss is not None
    ]
    return answer


def _run(item: Item, max_elements: int) -> None:
    """The engine on one validated request, with the element limit; the outcome goes on ``item``."""
    request = item.request
    assert request is not None
    elements = sum(a.size for a in request.arrays.values())
    elements += 0 if request.sample_weight is None else request.sample_weight.size
    if elements > max_elements:
        item.error = Refused(
            413,
            "too-many-elements",
            f"the request holds {elements} array elements; this server computes at most {max_elements} "
            "in one request: split it",
        )
        return
    item.elements = elements
    start = time.perf_counter()
    try:
        item.result = compute(
            request.spec,
            request.arrays,
            request.params,
            sample_weight=request.sample_weight,
            reduction=request.reduction,
            return_grad=request.return_grad,
            dtype=request.dtype,
        )
    except Exception as error:  # the codec answers it, or re-raises it as a bug
        item.error = error
    else:
        item.seconds = time.perf_counter() - start
    item.request = None  # the arrays are no longer needed: let them go before encoding
