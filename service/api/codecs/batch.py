"""The JSON body of ``POST /batch``: several computations, each succeeding or failing on its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...engine import CATALOG
from ...engine.errors import Issue
from ...serving import Answer, Body, Item, Meta
from ...transport import decode_json, encode_json
from ..problems import ProblemError, as_problem
from .losses import JSON, compute_request, problem_answer, result_document, spec_of


@dataclass(frozen=True)
class BatchCodec:
    """Each item is the body of ``POST /losses/{name}`` plus its ``loss`` name, and gets exactly the
    status and body (or problem) that request would; a fault of the envelope is one problem."""

    protocol: ClassVar[str] = "batch"
    max_items: int

    def parses_json(self, meta: Meta) -> bool:
        return True

    def decode(self, loss: str | None, body: Body, meta: Meta) -> Any:
        return decode_json(body.take())

    def validate(self, payload: Any) -> list[Item]:
        if not isinstance(payload, dict) or set(payload) != {"items"}:
            unknown = sorted(set(payload) - {"items"}) if isinstance(payload, dict) else []
            issues = [Issue((key,), "unknown field") for key in unknown] or [Issue(("items",), "required field")]
            raise ProblemError(422, "invalid-request", 'the body must be {"items": [...]}', issues)
        entries = payload["items"]
        if not isinstance(entries, list) or not entries:
            raise ProblemError(
                422,
                "invalid-request",
                "items must be a non-empty array",
                [Issue(("items",), "expected a non-empty array")],
            )
        if len(entries) > self.max_items:
            raise ProblemError(
                422,
                "too-many-items",
                f"a batch holds at most {self.max_items} items; this one has {len(entries)}: split it",
                [Issue(("items",), f"at most {self.max_items} items")],
            )
        return [self._item(entry) for entry in entries]

    @staticmethod
    def _item(entry: Any) -> Item:
        name = entry.get("loss") if isinstance(entry, dict) else None
        item = Item(name if isinstance(name, str) and name in CATALOG else None)
        try:
            if not isinstance(name, str):
                raise ProblemError(
                    422,
                    "invalid-request",
                    'each item is the body of POST /losses/{name} plus its "loss" name',
                    [Issue(("loss",), "required: the loss's name, a string")],
                )
            spec = spec_of(name)
            item.request = compute_request(spec, {key: value for key, value in entry.items() if key != "loss"})
        except Exception as error:  # answered in its place by encode, or re-raised there as a bug
            item.error = error
        return item

    def encode(self, payload: Any, items: list[Item], meta: Meta) -> Answer:
        results: list[dict[str, Any]] = []
        for item in items:
            if item.error is None:
                assert item.result is not None
                results.append({"status": 200, "result": result_document(item.result)})
            else:
                problem = as_problem(item.error)  # an item's problem has no instance: the request has it
                item.status = problem.status
                results.append({"status": problem.status, "problem": problem.document()})
        return Answer(200, encode_json({"results": results}), JSON)

    def failure(self, error: Exception, meta: Meta) -> Answer:
        return problem_answer(error, meta)
