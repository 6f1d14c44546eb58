"""The JSON body of ``POST /losses/{name}``: one computation, its result or a problem."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ValidationError

from ...engine import CATALOG, LossSpec, Result
from ...serving import Answer, Body, ComputeRequest, Item, Meta
from ...transport import as_output, decode_json, decode_with_arrays, encode_json, to_array
from ..problems import PROBLEM_JSON, ProblemError, as_problem, from_validation_error
from ..schemas import request_model_of

JSON = "application/json"


def did_you_mean(name: str) -> str:
    """`` did you mean 'x'?`` for the losses spelt like ``name``, or nothing."""
    close = difflib.get_close_matches(name, CATALOG, n=3)
    return f" did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_loss(name: str) -> ProblemError:
    return ProblemError(
        404, "unknown-loss", f"no loss named {name!r};{did_you_mean(name)} the losses are: {', '.join(CATALOG)}"
    )


def spec_of(name: str) -> LossSpec:
    spec = CATALOG.get(name)
    if spec is None:
        raise unknown_loss(name)
    return spec


@functools.cache
def array_fields(name: str) -> frozenset[str]:
    """The body's fields that hold arrays: the inputs and ``sample_weight``."""
    return frozenset([*(item.name for item in CATALOG[name].inputs), "sample_weight"])


def compute_request(spec: LossSpec, payload: dict[str, Any]) -> ComputeRequest:
    """The computation a decoded body asks for; raises the problem (422) when it does not match the schema.

    Consumes ``payload``: each array's nested lists are dropped as soon as it is a NumPy array
    (a million floats as Python objects take 32 MB: holding them through the computation
    would add that to every large request's peak).
    """
    try:
        request: Any = request_model_of(spec.name).model_validate(payload)
    except ValidationError as error:
        raise from_validation_error(error, payload, model=request_model_of(spec.name)) from None
    params, reduction = request.params.model_dump(), request.reduction
    return_grad, dtype = request.return_grad, request.dtype
    del request  # it references the payload's lists too
    # An optional input that is omitted or null is left out: the loss takes its default.
    given = [item.name for item in spec.inputs if item.required or payload.get(item.name) is not None]
    arrays = {name: to_array(payload.pop(name), (name,)) for name in given}
    weight = payload.pop("sample_weight", None)
    sample_weight = None if weight is None else to_array(weight, ("sample_weight",))
    return ComputeRequest(spec, arrays, params, sample_weight, reduction, return_grad, dtype)


def result_document(result: Result) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": result.name,
        "reduction": result.reduction,
        "dtype": result.dtype,
        "loss": result.loss if isinstance(result.loss, float) else as_output(result.loss),
    }
    if result.grads is not None:
        document["grad"] = {name: as_output(g) for name, g in result.grads.items()}
    return document


def problem_answer(error: Exception, meta: Meta) -> Answer:
    """``error`` as a problem+json answer, its ``instance`` the request's id."""
    problem = as_problem(error)
    problem.instance = meta.get("request_id")
    return Answer(problem.status, encode_json(problem.document()), PROBLEM_JSON, dict(problem.headers))


@dataclass(frozen=True)
class LossesCodec:
    """``fast_json``: parse the arrays straight into NumPy with simdjson where it vouches for the body
    (``transport.simd_json``); off, every body takes the general path (orjson), which owns the
    error messages. Both give the same answer to every body (tests/api/test_fast_json.py)."""

    protocol: ClassVar[str] = "losses"
    fast_json: bool = True

    def parses_json(self, meta: Meta) -> bool:
        return True

    def decode(self, loss: str | None, body: Body, meta: Meta) -> tuple[LossSpec, Any]:
        spec = spec_of(loss or "")
        data = body.take()
        document = decode_with_arrays(data, array_fields(spec.name)) if self.fast_json else None
        return spec, decode_json(data) if document is None else document

    def validate(self, decoded: tuple[LossSpec, Any]) -> list[Item]:
        spec, payload = decoded
        return [Item(spec.name, request=compute_request(spec, payload))]

    def encode(self, decoded: tuple[LossSpec, Any], items: list[Item], meta: Meta) -> Answer:
        (item,) = items
        if item.error is not None:
            answer = problem_answer(item.error, meta)
            item.status = answer.status
            return answer
        assert item.result is not None
        return Answer(200, encode_json(result_document(item.result)), JSON)

    def failure(self, error: Exception, meta: Mapping[str, str]) -> Answer:
        return problem_answer(error, meta)
