"""From a decoded request document to a response document: the one path every route computes through."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from ..engine import DType, InvalidInput, LossSpec, Reduction, Result, compute
from ..transport import MalformedJSON, as_output, decode_json, decode_with_arrays, encode_json, to_array
from .metrics import count_computation, time_engine
from .problems import ProblemError, from_invalid_input, from_validation_error
from .schemas import request_model, response_model


class Dispatcher:
    """Validates requests for the catalog's losses and computes them.

    Holds one generated request model per loss; ``POST /losses/{name}`` and ``/batch``
    both go through ``compute``, so an item of a batch answers exactly what the single
    request would.
    """

    def __init__(self, catalog: Mapping[str, LossSpec], max_elements: int, record_metrics: bool = True) -> None:
        self.catalog = catalog
        self.max_elements = max_elements
        # An offload process does not record metrics (its registry is not the one served):
        # it hands (elements, seconds) of its last engine run back to the worker instead.
        self.record_metrics = record_metrics
        self.last_engine_run: tuple[int, float] | None = None
        self.requests: dict[str, type[BaseModel]] = {name: request_model(spec) for name, spec in catalog.items()}
        self.results: dict[str, type[BaseModel]] = {name: response_model(spec) for name, spec in catalog.items()}
        self.array_fields: dict[str, frozenset[str]] = {
            name: frozenset([*(item.name for item in spec.inputs), "sample_weight"]) for name, spec in catalog.items()
        }

    def decode(self, name: str, body: bytes | bytearray | memoryview) -> Any:
        """The body of ``POST /losses/{name}``, its arrays parsed straight into NumPy when they can be."""
        fields = self.array_fields.get(name)
        document = None if fields is None else decode_with_arrays(body, fields)
        return decode(body) if document is None else document

    def unknown_loss(self, name: str) -> ProblemError:
        return ProblemError(404, "unknown-loss", f"no loss named {name!r}; the losses are: {', '.join(self.catalog)}")

    def compute(self, name: str, payload: Any) -> dict[str, Any]:
        """The response document for ``payload`` (a decoded body) sent to ``POST /losses/{name}``."""
        spec = self.catalog.get(name)
        if spec is None:
            raise self.unknown_loss(name)
        with count_computation(name) if self.record_metrics else nullcontext():
            return self._compute(spec, payload)

    def _compute(self, spec: LossSpec, payload: Any) -> dict[str, Any]:
        """Consumes ``payload``: each array's nested lists are dropped as soon as it is a NumPy array.

        (A million floats as Python objects take 32 MB; holding them through the computation
        would add that to the peak memory of every large request.)
        """
        name = spec.name
        try:
            request: Any = self.requests[name].model_validate(payload)
        except ValidationError as error:
            raise from_validation_error(error, payload) from None
        params, reduction = request.params.model_dump(), request.reduction
        return_grad, dtype = request.return_grad, request.dtype
        del request  # it references the payload's lists too
        try:
            arrays = {item.name: to_array(payload.pop(item.name), (item.name,)) for item in spec.inputs}
            weight = payload.pop("sample_weight", None)
            sample_weight = None if weight is None else to_array(weight, ("sample_weight",))
            del weight
            result = self.run(
                spec,
                arrays,
                params,
                sample_weight=sample_weight,
                reduction=reduction,
                return_grad=return_grad,
                dtype=dtype,
            )
        except InvalidInput as error:
            raise from_invalid_input(error) from None
        document: dict[str, Any] = {
            "name": result.name,
            "reduction": result.reduction,
            "dtype": result.dtype,
            "loss": result.loss if isinstance(result.loss, float) else as_output(result.loss),
        }
        if result.grads is not None:
            document["grad"] = {name: as_output(g) for name, g in result.grads.items()}
        return document

    def run(
        self,
        spec: LossSpec,
        arrays: Mapping[str, np.ndarray],
        params: Mapping[str, Any],
        *,
        sample_weight: np.ndarray | None,
        reduction: Reduction,
        return_grad: bool,
        dtype: DType,
    ) -> Result:
        """The engine call every protocol shares: the element limit, then the computation, counted and timed."""
        elements = sum(a.size for a in arrays.values()) + (0 if sample_weight is None else sample_weight.size)
        if elements > self.max_elements:
            raise ProblemError(
                413,
                "too-many-elements",
                f"the request holds {elements} array elements; this server computes at most {self.max_elements} "
                "in one request: split it",
            )
        self.last_engine_run = None
        start = time.perf_counter()
        with time_engine(spec.name, elements) if self.record_metrics else nullcontext():
            result = compute(
                spec,
                arrays,
                params,
                sample_weight=sample_weight,
                reduction=reduction,
                return_grad=return_grad,
                dtype=dtype,
            )
        if not self.record_metrics:  # only an offload helper reads it (single-threaded there)
            self.last_engine_run = (elements, time.perf_counter() - start)
        return result


def decode(body: bytes | bytearray | memoryview) -> Any:
    try:
        return decode_json(body)
    except MalformedJSON as error:
        raise ProblemError(400, "malformed-json", str(error)) from None


async def respond(
    body: bytearray,
    offload_bytes: int,
    answer: Callable[[Any], Any],
    decoder: Callable[[bytearray], Any] = decode,
) -> bytes:
    """Decode ``body`` (with ``decoder``), ``answer`` it and encode the result; off the event loop when it is large.

    A 1e6-element JSON body holds the CPU for a good fraction of a second (parse, compute,
    serialise); in a worker thread the loop keeps accepting and answering small requests
    meanwhile.
    """

    size = len(body)
    box = [body]  # the only reference once the caller lets go: freed as soon as it is parsed
    del body

    def work() -> bytes:
        return encode_json(answer(decoder(box.pop())))

    if size >= offload_bytes:
        return await run_in_threadpool(work)
    return work()
