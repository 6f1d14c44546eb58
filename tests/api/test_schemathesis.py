"""Schemathesis against the live app: every documented operation, every default check, zero failures.

The schema is the one the app serves (``GET /openapi.json`` of ``create_app()``), never the
committed file, so a loss added to the catalog is fuzzed the moment it exists. For each
operation Schemathesis generates positive requests (valid by the schema), negative ones
(violating it) and its coverage-phase requests (boundary values, missing fields, undeclared
methods), sends them through ASGI, and runs on each response every check that
``case.call_and_validate()`` enables by default in the installed version:
not_a_server_error, status_code_conformance, content_type_conformance,
response_schema_conformance, response_headers_conformance, positive_data_acceptance,
negative_data_rejection, missing_required_header, unsupported_method,
allow_header_conformance, ... None is turned off.

What JSON Schema cannot say is configured per operation as the status it gets (``CONFIG``,
each entry explained), never by switching a check off; ``/batch``, whose configuration lets a
200 through for negative data, gets a stricter check of its own for exactly that case.

Bounded and reproducible: a fixed seed, derandomized Hypothesis, no example database,
``MAX_EXAMPLES`` per operation; ~10,000 requests in about a minute and a half on the
2-core reference machine. The last test asserts the request count.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from service.app import create_app
from tests.support.engine import every_case, resolve_params

#: Hypothesis examples per operation in the fuzzing phase (positive and negative). The coverage
#: phase adds its own deterministic requests on top (boundaries, missing fields, wrong methods).
MAX_EXAMPLES = 25
#: The acceptance bar: requests the app answered over the module.
MIN_REQUESTS = 1000
#: Every documented operation is called at least this often (a bare GET /livez gets ~10).
MIN_REQUESTS_PER_OPERATION = 5
SEED = 20240917


class ServedOnce:
    """The app as uvicorn serves it: one lifespan for the process. Also counts the requests.

    Schemathesis' pytest plugin ends an ASGI app's lifespan after every test and starts it
    again for the next one. The service marks itself draining when its lifespan ends and, as
    a process that got SIGTERM should, never takes that back, so from the second test on
    every POST would get 503 "draining". Here the service's own lifespan runs once, at the
    first startup; the plugin's later startups and shutdowns are acknowledged without
    reaching it (the process exit ends it, as it ends a uvicorn worker).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lifespan: Any = None
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "lifespan":
            self.requests += 1  # every request the app answers
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.lifespan is None:
                    self.lifespan = self.app.router.lifespan_context(self.app)
                    await self.lifespan.__aenter__()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


APP = ServedOnce(create_app())
# The live document (no lifespan: a bare TestClient), read to name the losses and their inputs.
DOCUMENT: dict[str, Any] = TestClient(APP.app).get("/openapi.json").json()
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
LOSSES = sorted(
    path.rsplit("/", 1)[1]
    for path, item in DOCUMENT["paths"].items()
    if re.fullmatch(r"/losses/\w+", path) and "post" in item
)
_ENVELOPE = {"sample_weight", "params", "reduction", "return_grad", "dtype"}
INPUT_NAMES = sorted(
    {
        field
        for loss in LOSSES
        for field in SCHEMAS[
            DOCUMENT["paths"][f"/losses/{loss}"]["post"]["requestBody"]["content"]["application/json"]["schema"][
                "$ref"
            ].rsplit("/", 1)[1]
        ]["properties"]
    }
    - _ENVELOPE
)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # derandomize, no example database: the same requests on every run and every machine
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # Fuzz dictionaries: values drawn, with the given probability, in place of random ones
        # where the schema only says "string". Without them a path's {name} is never a loss and
        # every GET /v2/models/{name}... answers 404, so its 200 response is never checked.
        # Schemathesis draws them only where they fit the mode (positive or negative).
        "dictionaries": {
            "losses": {"values": LOSSES},
            "versions": {"values": ["1"]},
            "inputs": {"values": [*INPUT_NAMES, "sample_weight"]},
            "datatypes": {"values": ["FP64", "FP32", "INT64", "INT32"]},
        },
        "parameters": {
            "path.name": {"dictionary": "losses", "probability": 0.5},
            "path.version": {"dictionary": "versions", "probability": 0.5},
            "body.inputs[*].name": {"dictionary": "inputs", "probability": 0.7},
            "body.inputs[*].datatype": {"dictionary": "datatypes", "probability": 0.7},
        },
        # Per-operation statuses, for constraints JSON Schema cannot express. One filter per
        # entry: several include-* keys in one entry would be OR-ed.
        "operations": [
            {
                # POST /losses/{loss}: a schema-valid body is still refused with 422 when the
                # arrays disagree in shape (y_true vs y_pred, sample_weight a prefix of the
                # unreduced shape), are ragged, have the wrong rank, leave the loss's domain
                # (probabilities in [0, 1], labels +-1 or 0/1, class indices < C, integers
                # written as floats that are not integral, positive variances...), overflow
                # float32, exceed the element limit, or give a non-finite loss. None of that
                # is expressible in JSON Schema. So a positive request gets 200 or 422
                # (instead of the default 2xx/3xx/401/403/404/409/429/5xx: 404 or 409 here
                # would be a bug). Negative requests keep the default expected statuses.
                "include-name-regex": r"^POST /losses/[a-z0-9_]+$",
                "checks": {"positive_data_acceptance": {"expected-statuses": [200, 422]}},
            },
            {
                # POST /batch: each item is computed on its own (README, "Several computations
                # at once"): a schema-violating *item* is answered inside a 200, as
                # {"status": 4xx, "problem": ...}, exactly what POST /losses/{name} would have
                # said; only a fault of the envelope is a 4xx for the whole request. So a
                # negative request may get 200, and `batch_items_are_judged_alone` below
                # checks that such a 200 holds a 4xx for every item that violates its schema
                # (and that the envelope was valid). A positive request must get 200: its
                # items may still fail on their own (shapes, domains), inside the 200.
                "include-name": "POST /batch",
                "checks": {
                    "negative_data_rejection": {"expected-statuses": [200, 400, 404, 413, 415, 422]},
                    "positive_data_acceptance": {"expected-statuses": [200]},
                },
            },
            {
                # POST /v2/models/{name}[/versions/{version}]/infer (the Open Inference
                # Protocol): a schema-valid InferenceRequest is refused with 400 when a
                # tensor's data does not match its shape and datatype, an input is missing or
                # unknown for that model, or the values leave the loss's domain; 404 for a
                # model name or version that does not exist (the path's {name} is any string).
                "include-name-regex": r"^POST /v2/models/.*/infer$",
                "checks": {"positive_data_acceptance": {"expected-statuses": [200, 400, 404]}},
            },
        ],
    }
)

SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


# --- counting ---

GENERATED: collections.Counter[str] = collections.Counter()  # requests answered in test_api, by operation
STATUSES: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)


@SCHEMA.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    STATUSES[case.operation.label][response.status_code] += 1


# --- /batch: the check that replaces "a negative request is never a 200" ---


def _validator(component: str) -> jsonschema.protocols.Validator:
    root = {"components": DOCUMENT["components"], "$ref": f"#/components/schemas/{component}"}
    return jsonschema.Draft202012Validator(root)


_ITEM_SCHEMAS = SCHEMAS["BatchRequest"]["properties"]["items"]["items"]["discriminator"]["mapping"]
_ITEM_VALIDATORS = {loss: _validator(ref.rsplit("/", 1)[1]) for loss, ref in _ITEM_SCHEMAS.items()}


def _item_is_valid(item: Any) -> bool:
    loss = item.get("loss") if isinstance(item, dict) else None
    if not isinstance(loss, str) or loss not in _ITEM_VALIDATORS:
        return False
    return _ITEM_VALIDATORS[loss].is_valid(item)


@schemathesis.check
def batch_items_are_judged_alone(ctx: Any, response: Any, case: Any) -> None:
    """A 200 from POST /batch: a valid envelope, one result per item, and a 4xx for each invalid item."""
    if case.operation.label != "POST /batch" or response.status_code != 200:
        return
    sent = json.loads(response.request.body)
    assert isinstance(sent, dict) and set(sent) == {"items"}, f"200 for a batch whose envelope is invalid: {sent!r}"
    items = sent["items"]
    assert isinstance(items, list) and items, f"200 for a batch whose items are not a non-empty array: {items!r}"
    results = response.json()["results"]
    assert len(results) == len(items), f"{len(items)} items but {len(results)} results"
    for index, (item, result) in enumerate(zip(items, results, strict=True)):
        if not _item_is_valid(item):
            assert 400 <= result["status"] < 500, f"item {index} violates its schema but got {result}: {item!r}"


# --- the tests ---


@SCHEMA.parametrize()
# The suppressed health checks judge the generator, not the service: for /batch, a discriminated
# union of one request schema per loss, Hypothesis discards many drawn bodies on some seeds
# (filter_too_much), and on a loaded CI machine drawing them can be slow (too_slow). No check
# of a response is affected.
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
def test_api(case: Any) -> None:
    before = APP.requests
    case.call_and_validate()
    # Everything the app answered for this case, the checks' own follow-up requests included.
    GENERATED[case.operation.label] += APP.requests - before


def _valid_inputs() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """One valid (inputs, params) per documented loss: the first case of its test class."""
    valid: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for known in every_case():
        if known.loss in LOSSES and known.loss not in valid:
            inputs = known.inputs(seed=7)
            valid[known.loss] = (inputs, resolve_params(known, inputs, seed=7))
    return valid


VALID = _valid_inputs()


def _is_integer_input(loss: str, name: str) -> bool:
    ref = DOCUMENT["paths"][f"/losses/{loss}"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    field = SCHEMAS[ref.rsplit("/", 1)[1]]["properties"][name]
    array = next(s for s in field.get("anyOf", [field]) if s.get("type") == "array")  # optional: array or null
    return bool(array["items"]["$ref"].endswith("IntegerTensor"))


@pytest.mark.parametrize("loss", sorted(VALID))
def test_valid_requests_conform(loss: str) -> None:
    """A known-valid request per loss, JSON and Open Inference Protocol, through every default check.

    Random generation rarely meets the shape and domain rules, so for about half the losses the
    fuzzing above never sees a 200; these requests make response_schema_conformance (and the
    other checks) run on a 200 for every loss, its gradient included.
    """
    inputs, params = VALID[loss]
    body = {name: array.tolist() for name, array in inputs.items()}
    json_case = SCHEMA[f"/losses/{loss}"]["POST"].Case(
        body={**body, "params": params, "return_grad": True}, media_type="application/json"
    )
    assert json_case.call_and_validate().status_code == 200

    tensors = [
        {
            "name": name,
            "shape": list(array.shape),
            "datatype": "INT64" if _is_integer_input(loss, name) else "FP64",
            "data": array.reshape(-1).tolist(),
        }
        for name, array in inputs.items()
    ]
    scalars = {k: v for k, v in params.items() if v is not None and not isinstance(v, list)}
    tensors += [
        {"name": k, "shape": [len(v)], "datatype": "FP64", "data": v} for k, v in params.items() if isinstance(v, list)
    ]
    infer_body: dict[str, Any] = {"id": loss, "inputs": tensors, "parameters": {**scalars, "return_grad": True}}
    infer = SCHEMA["/v2/models/{name}/infer"]["POST"].Case(
        path_parameters={"name": loss},
        body=infer_body,
        media_type="application/json",
    )
    assert infer.call_and_validate().status_code == 200

    batch = SCHEMA["/batch"]["POST"].Case(
        body={"items": [{"loss": loss, **body, "params": params}]}, media_type="application/json"
    )
    response = batch.call_and_validate()
    assert response.status_code == 200 and response.json()["results"][0]["status"] == 200, response.text


@pytest.mark.parametrize("path", ["/losses/mse", "/losses/no_such_loss"], ids=["concrete", "templated"])
def test_allow_header_lists_the_documented_methods(path: str) -> None:
    """The Allow header of a 405 on /losses/... lists exactly the methods the document gives that path."""
    documented_path = path if path in DOCUMENT["paths"] else "/losses/{name}"
    documented = {method.upper() for method in DOCUMENT["paths"][documented_path]}
    response = TestClient(APP.app).options(path)  # no `with`: the service's lifespan is ServedOnce's
    assert response.status_code == 405
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert allowed == documented


def test_request_count(request: pytest.FixtureRequest) -> None:
    """At least MIN_REQUESTS requests over every documented operation (run after test_api)."""
    operations = {f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item}
    here = Path(__file__)
    ran = [
        item
        for item in request.session.items
        if item.path == here and getattr(item, "originalname", None) == "test_api"
    ]
    if len(ran) < len(operations):
        pytest.skip("test_api did not run for every operation in this session (deselected)")
    starved = {op: GENERATED[op] for op in operations if GENERATED[op] < MIN_REQUESTS_PER_OPERATION}
    assert not starved, f"operations called fewer than {MIN_REQUESTS_PER_OPERATION} times: {starved}"
    total = sum(GENERATED.values())
    assert total >= MIN_REQUESTS, f"only {total} generated requests"
    summary = ", ".join(f"{op}: {dict(STATUSES[op])}" for op in sorted(operations))
    print(f"\n{total} generated requests over {len(operations)} operations; statuses: {summary}")
