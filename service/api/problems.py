"""Errors as RFC 9457 ``application/problem+json``, each pointing into the request."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..engine import InvalidInput, Issue, NonFiniteResult
from ..engine.errors import Location
from ..serving import Refused
from ..transport import ArrayError, DecodeError, encode_json

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:loss-service:problem:"
INSTANCE_PREFIX = "urn:loss-service:request:"  # + the X-Request-ID of the request that failed
logger = logging.getLogger("service")


class ProblemDetail(BaseModel):
    """One located error: a JSON Pointer into the request body and what is wrong there."""

    pointer: str
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = Field(None, description="urn:loss-service:request:<X-Request-ID>")
    errors: list[ProblemDetail] | None = None


class ProblemError(Exception):
    """Raise to answer with a problem; ``kind`` names its type (``urn:loss-service:problem:<kind>``)."""

    def __init__(
        self,
        status: int,
        kind: str | None,
        detail: str,
        errors: Iterable[Issue] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.instance: str | None = None  # the request id, set by whoever answers

    def document(self) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": TYPE_PREFIX + self.kind if self.kind else "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.instance:
            problem["instance"] = INSTANCE_PREFIX + self.instance
        if self.errors:
            problem["errors"] = [{"pointer": json_pointer(i.location), "detail": i.detail} for i in self.errors]
        return problem

    def response(self) -> Response:
        return Response(encode_json(self.document()), self.status, self.headers, media_type=PROBLEM_JSON)


def json_pointer(location: Location) -> str:
    """RFC 6901: ``("y_pred", 3, 1)`` -> ``/y_pred/3/1``, escaping ``~`` and ``/``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def locate(issue: Issue) -> Location:
    """Where an engine issue is in a request body: an input at its name, a param under ``params``."""
    return ("params", *issue.location) if issue.argument == "param" else issue.location


def as_problem(error: Exception) -> ProblemError:
    """The problem a client gets for ``error``; anything a client cannot cause is re-raised (a bug, a 500)."""
    if isinstance(error, ProblemError):
        return error
    if isinstance(error, DecodeError):
        return ProblemError(400, "malformed-json", str(error))
    if isinstance(error, ArrayError):
        return ProblemError(422, "invalid-input", error.detail, [Issue(error.location, error.reason)])
    if isinstance(error, InvalidInput):
        kind = "non-finite-result" if isinstance(error, NonFiniteResult) else "invalid-input"
        return ProblemError(422, kind, error.detail, [Issue(locate(i), i.detail) for i in error.issues])
    if isinstance(error, Refused):
        headers = {} if error.retry_after is None else {"Retry-After": str(error.retry_after)}
        return ProblemError(error.status, error.kind, error.detail, headers=headers)
    raise error


def from_validation_error(
    error: ValidationError | RequestValidationError,
    document: Any,
    prefix: Location = (),
    model: type[BaseModel] | None = None,
) -> ProblemError:
    """Pydantic errors as located issues; locations are mapped onto the request document.

    With the ``model`` that failed, an unknown field gets the names it may have meant.
    """
    issues = [Issue(_locate(document, tuple(e["loc"]), prefix), _message(e, model)) for e in error.errors()]
    summary = "; ".join(f"{json_pointer(i.location) or '(body)'}: {i.detail}" for i in issues[:3])
    return ProblemError(422, "invalid-request", f"the request does not match the schema: {summary}", issues)


def _locate(document: Any, loc: Sequence[Any], prefix: Location) -> Location:
    """Follow ``loc`` through the document, dropping the union tags Pydantic inserts."""
    path: list[str | int] = list(prefix)
    node = document
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and not _is_union_tag(part):
            node = None  # a missing required key: point at where it belongs
            path.append(part)
    return tuple(path)


def _is_union_tag(part: str) -> bool:
    return any(c in part for c in "[]()") or part in {"float", "int", "bool", "str", "list", "none"}


def _message(error: Mapping[str, Any], model: type[BaseModel] | None = None) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field" + _hint(model, tuple(error["loc"]))
    if error["type"] in ("model_type", "dict_type", "model_attributes_type"):
        return "expected a JSON object"
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "value_error":  # our own validators' messages, without Pydantic's prefix
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def _fields(model: type[BaseModel] | None, path: Sequence[Any]) -> dict[str, Any]:
    """The fields of ``model`` at ``path`` (a nested model's, for ``("params",)``), by name."""
    for part in path:
        field = model.model_fields.get(part) if model is not None and isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return dict(model.model_fields) if model is not None else {}


def _hint(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """What an unknown field may have meant: a param sent at the top level, or a close spelling."""
    name, where = loc[-1], loc[:-1]
    if not isinstance(name, str):
        return ""
    if not where and name in _fields(model, ("params",)):
        return f': {name} is a param, send it in params ({{"params": {{"{name}": ...}}}})'
    known = _fields(model, where)
    close = difflib.get_close_matches(name, known, n=2)
    if close:
        return f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return f"; the fields here are {', '.join(known)}" if known else ""


def _allowed_methods(request: Request) -> list[str]:
    """The methods the path offers: the matched route's ``allowed`` (see ``routes.allow_methods``)."""
    route = request.scope.get("route")
    return list(getattr(route, "allowed", None) or sorted(getattr(route, "methods", None) or ()))


def install_problem_handlers(app: FastAPI) -> None:
    """Every error the app can produce, including Starlette's own 404/405, as a problem."""

    def answer(request: Request, error: ProblemError) -> Response:
        error.instance = getattr(request.state, "request_id", None)
        return error.response()

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> Response:
        return answer(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
        if error.status_code == 404 and detail == "Not Found":
            path = request.url.path
            near = f" (did you mean {path.rstrip('/')}?)" if path.endswith("/") and path != "/" else ""
            detail = f"no resource at {path}{near}; GET /losses lists the losses, GET /docs the API"
        headers = dict(error.headers or {})
        if error.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allowed)}"
        return answer(request, ProblemError(error.status_code, None, detail, headers=headers))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        return answer(request, ProblemError(422, "invalid-request", "the request does not match the schema"))

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> Response:  # a 500 is a bug: log it, say little
        request_id = getattr(request.state, "request_id", None)
        logger.exception("unhandled error on %s %s (request %s)", request.method, request.url.path, request_id)
        return answer(request, ProblemError(500, None, "internal error; it has been logged with the request id"))
