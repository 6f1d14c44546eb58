"""The benchmark suite: ``python -m benchmarks.run`` (or ``python benchmarks/run.py``) writes ``benchmarks/RESULTS.md``.

Each comparison is taken in the same run: the things compared are measured one after the
other inside each round, the ratio is formed per round, and the median and range (min–max)
of the rounds are reported. ``--quick`` is a smoke run (< 2 min) writing
``benchmarks/RESULTS-quick.md``. Every server is a subprocess on 127.0.0.1 that is ended
when its section ends; every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import time
import timeit
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import orjson

from benchmarks.harness import (
    BENCH,
    ROOT,
    OtherLoad,
    Samples,
    Server,
    WrkResult,
    app_server,
    free_port,
    machine,
    ratios,
    request,
    run_wrk,
    service,
    serving,
    serving_all,
    source_state,
    timed_request,
    versions,
    wait_for_quiet,
    wrk_lua,
)

# uvloop pinned: with uvloop 0.23 (what pip picks for mlserver 1.7.1), MLServer's default parallel
# inference worker dies at start-up: its worker process calls asyncio.get_event_loop() with no loop set,
# which that uvloop refuses ("There is no current event loop in thread 'MainThread'").
MLSERVER_REQUIREMENTS = ("mlserver==1.7.1", "uvloop==0.21.0")
MLSERVER_UVLOOP_NOTE = (
    "uvloop is pinned to 0.21.0 in that venv: with uvloop 0.23.0, which pip installs with mlserver 1.7.1, "
    "MLServer's default setting does not start (its inference worker process dies on "
    "`asyncio.get_event_loop()`: \"There is no current event loop in thread 'MainThread'\")."
)
MLSERVER_VENV = BENCH / ".venv-mlserver"
COLUMNS = 10  # every large array is (N / 10, 10): 10 classes for categorical_crossentropy
LARGE_LOSSES = ("mse", "binary_crossentropy", "categorical_crossentropy")
LOGITS = {"binary_crossentropy", "categorical_crossentropy", "binary_focal"}
QUIET_SHARE = 0.10  # other processes' share of the CPU under which the machine counts as quiet


@dataclass(frozen=True)
class Plan:
    quick: bool
    json_sizes: tuple[int, ...] = (10_000, 1_000_000)
    json_rounds: dict[int, int] = field(default_factory=dict)
    binary_rounds: int = 7
    wrk_seconds: float = 10.0
    wrk_rounds: int = 3
    engine_elements: int = 1_000_000
    engine_rounds: int = 9
    rss_rounds: int = 3
    concurrent_rounds: int = 3
    extras: bool = True  # informative rows that no target depends on
    warmup_seconds: float = 1.0  # wrk warm-up run before each server's measured runs
    mlserver_settings: tuple[int, ...] = (0, 1)  # MLServer parallel_workers settings measured
    quiet_wait: float = 180.0  # before a section, wait at most this long for other processes to go quiet
    quiet_sample: float = 2.0
    round_quiet_wait: float = 30.0  # before a round, wait at most this long (within the budget below)
    round_quiet_sample: float = 0.3
    round_quiet_budget: float = 600.0  # all the waiting before rounds in one run


def make_plan(quick: bool) -> Plan:
    if quick:
        return Plan(
            quick=True,
            json_rounds={10_000: 3, 1_000_000: 2},
            binary_rounds=3,
            wrk_seconds=3.0,
            wrk_rounds=2,
            engine_rounds=3,
            rss_rounds=1,
            concurrent_rounds=2,
            extras=False,
            warmup_seconds=0.0,
            mlserver_settings=(0,),
            quiet_wait=0.0,
            quiet_sample=0.2,
            round_quiet_wait=0.0,
            round_quiet_sample=0.0,
            round_quiet_budget=0.0,
        )
    return Plan(quick=False, json_rounds={10_000: 20, 1_000_000: 7}, binary_rounds=11)


# Targets (issue 5, item 2 and item 3) --------------------------------------------------------------


@dataclass
class Target:
    section: str
    text: str
    measured: Samples
    limit: float
    at_most: bool  # True: measured <= limit; False: measured >= limit
    note: str = ""
    unit: str = "x"

    @property
    def met(self) -> bool:
        value = self.measured.median
        return value <= self.limit if self.at_most else value >= self.limit


TARGETS: list[Target] = []
#: Per section, what bounds its targets, with the measurements of this run that show it (written when not met).
BOUNDS: dict[str, list[str]] = {}


def target(section: str, text: str, measured: Samples, limit: float, at_most: bool, unit: str = "x") -> str:
    """Record a target and return its verdict for the section's own table."""
    item = Target(section, text, measured, limit, at_most, unit=unit)
    TARGETS.append(item)
    return verdict(item)


def verdict(item: Target) -> str:
    if not item.measured.values:
        return "not measured"
    return "met" if item.met else "not met"


def x(samples: Samples) -> str:
    return samples.fmt(digits=2, unit="x")


def ms(samples: Samples) -> str:
    return samples.fmt(scale=1e3, unit=" ms")


# Other processes' load, round by round ------------------------------------------------------------------


@dataclass
class Conditions:
    budget: float = 0.0  # seconds left for waiting before rounds, in this run
    waited: float = 0.0  # seconds waited before rounds, in the current section
    shares: Samples = field(default_factory=Samples)  # others' CPU share in each round of the current section


CONDITIONS = Conditions()


def rounds(plan: Plan, count: int, gate: bool = True) -> Iterator[int]:
    """``range(count)``, waiting (bounded) for other processes to go quiet before each round when ``gate``,
    and recording the CPU share they took during each round."""
    for number in range(count):
        if gate:
            settle(plan)
        load = OtherLoad()
        started = time.monotonic()
        yield number
        if time.monotonic() - started >= 1.0:  # shorter rounds are below the clock-tick resolution
            CONDITIONS.shares.add(load.fraction())


def settle(plan: Plan) -> None:
    """Wait (bounded by the run's budget) until other processes use at most ``QUIET_SHARE`` of the CPU."""
    _, waited = wait_for_quiet(QUIET_SHARE, min(plan.round_quiet_wait, CONDITIONS.budget), plan.round_quiet_sample)
    CONDITIONS.budget -= waited
    CONDITIONS.waited += waited


# Data -----------------------------------------------------------------------------------------------


def loss_inputs(name: str, elements: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (elements // COLUMNS, COLUMNS)
    if name == "mse":
        y_true = rng.normal(size=shape)
        return {"y_true": y_true, "y_pred": y_true + rng.normal(scale=0.5, size=shape)}
    if name in ("binary_crossentropy", "binary_focal"):
        return {"y_true": (rng.random(shape) < 0.5).astype(np.float64), "y_pred": rng.normal(scale=2.0, size=shape)}
    if name == "categorical_crossentropy":
        y_true = np.eye(COLUMNS)[rng.integers(COLUMNS, size=shape[0])]
        return {"y_true": y_true, "y_pred": rng.normal(scale=2.0, size=shape)}
    raise ValueError(name)


def loss_params(name: str) -> dict[str, Any]:
    return {"from_logits": True} if name in LOGITS else {}


def json_body(name: str, arrays: dict[str, np.ndarray]) -> bytes:
    document: dict[str, Any] = {**arrays, "reduction": "mean", "return_grad": True}
    if loss_params(name):
        document["params"] = loss_params(name)
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def small_arrays(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = np.round(rng.normal(size=(32, 4)), 6)
    return {"y_true": y_true, "y_pred": np.round(y_true + rng.normal(scale=0.5, size=(32, 4)), 6)}


def v2_json_body(arrays: dict[str, np.ndarray]) -> bytes:
    inputs = [
        {"name": name, "shape": list(a.shape), "datatype": "FP64", "data": a.reshape(-1).tolist()}
        for name, a in arrays.items()
    ]
    return orjson.dumps({"id": "bench", "parameters": {"return_grad": True}, "inputs": inputs})


def v2_binary_body(arrays: dict[str, np.ndarray]) -> tuple[bytes, dict[str, str]]:
    inputs = [
        {"name": name, "shape": list(a.shape), "datatype": "FP64", "parameters": {"binary_data_size": a.nbytes}}
        for name, a in arrays.items()
    ]
    header = orjson.dumps(
        {"id": "bench", "parameters": {"return_grad": True, "binary_data_output": True}, "inputs": inputs}
    )
    body = b"".join([header, *(np.ascontiguousarray(a, dtype="<f8").tobytes() for a in arrays.values())])
    return body, {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}


def binary_outputs(header: dict[str, Any], content: bytes, offset: int) -> dict[str, np.ndarray]:
    """The binary outputs of an inference answer, in the order the header lists them."""
    found = {}
    for output in header["outputs"]:
        size = output["parameters"]["binary_data_size"]
        found[output["name"]] = np.frombuffer(content, dtype="<f8", count=size // 8, offset=offset)
        offset += size
    return found


def expect_ok(what: str, status: int, content: bytes) -> None:
    if status != 200:
        raise RuntimeError(f"{what} answered {status}: {content[:300]!r}")


def close(a: float, b: float, rtol: float = 1e-9) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-300)


# 1. Large JSON -----------------------------------------------------------------------------------------


def in_process_floor(name: str, body: bytes, stages: dict[str, Samples] | None = None) -> tuple[float, bytes]:
    """orjson.loads + np.asarray + service.engine.compute + orjson.dumps, no HTTP; the seconds it took."""
    from service.engine import CATALOG, compute

    spec = CATALOG[name]
    t0 = time.perf_counter()
    document = orjson.loads(body)
    t1 = time.perf_counter()
    arrays = {item.name: np.asarray(document[item.name]) for item in spec.inputs}
    t2 = time.perf_counter()
    result = compute(spec, arrays, document.get("params", {}), reduction="mean", return_grad=True)
    t3 = time.perf_counter()
    answer = {"name": name, "reduction": result.reduction, "dtype": result.dtype, "loss": result.loss}
    answer["grad"] = {k: np.ascontiguousarray(g, dtype=np.float64) for k, g in (result.grads or {}).items()}
    content = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    t4 = time.perf_counter()
    if stages is not None:
        for key, seconds in (
            ("orjson.loads", t1 - t0),
            ("np.asarray", t2 - t1),
            ("compute", t3 - t2),
            ("orjson.dumps", t4 - t3),
        ):
            stages.setdefault(key, Samples()).add(seconds)
    return t4 - t0, content


def in_process_service(name: str, body: bytes, stages: dict[str, Samples]) -> float:
    """The service's own work on ``body`` in this process, no HTTP: its decoder (simdjson straight to
    NumPy), its dispatcher (validation, engine, metrics) and its encoder; the seconds it took."""
    from service.api.dispatch import Dispatcher
    from service.engine import CATALOG
    from service.transport import encode_json

    dispatcher = _DISPATCHER.setdefault("dispatcher", Dispatcher(CATALOG, 1 << 26))
    t0 = time.perf_counter()
    payload = dispatcher.decode(name, bytearray(body))
    t1 = time.perf_counter()
    document = dispatcher.compute(name, payload)
    t2 = time.perf_counter()
    encode_json(document)
    t3 = time.perf_counter()
    for key, seconds in (("decode (simdjson)", t1 - t0), ("validate + compute", t2 - t1), ("encode", t3 - t2)):
        stages.setdefault(key, Samples()).add(seconds)
    return t3 - t0


_DISPATCHER: dict[str, Any] = {}


def section_large_json(plan: Plan, out: list[str]) -> None:
    out += [
        "## 1. Large JSON: the service over HTTP, the in-process floor, a textbook FastAPI endpoint",
        "",
        "Each request: `y_true` and `y_pred` of shape (N/10, 10) (N elements per array), float64 random "
        "values written by orjson (shortest round-trip form), `reduction: mean`, `return_grad: true`, "
        "`params.from_logits: true` for the two cross-entropies. Time is the whole exchange seen by a raw "
        "socket client (connect, send, the complete answer read), one new connection per request. "
        "The service runs as `python -m service` (1 uvicorn worker, `LOSS_SERVICE_ACCESS_LOG=false`); "
        "the textbook endpoint (`benchmarks/textbook_app.py`) under the same uvicorn settings "
        "(1 worker, `--no-access-log`). The in-process floor is "
        "`orjson.loads` + `np.asarray` + `service.engine.compute` + `orjson.dumps` in the benchmark "
        "process, no HTTP. In each round the three are timed one after the other and the ratios are "
        "formed within the round. Warm-up: one request per server and loss at 1e4 elements, and one per "
        "loss at 1e6 for the service and the floor. The textbook endpoint returns its dict with no return "
        "annotation, as FastAPI's tutorial does"
        + (
            "; for information, the same endpoint with `response_model=dict` (what `-> dict` gives: Pydantic "
            "serialises the answer) is timed in the same rounds."
            if plan.extras
            else "."
        ),
        "",
    ]
    sizes = plan.json_sizes
    rows: list[str] = []
    stage_rows: list[str] = []
    own_rows: list[str] = []
    annotated_rows: list[str] = []
    port_s, port_t = free_port(), free_port()
    with serving_all(
        [
            (service(port_s), "/livez", 200),
            (app_server("textbook", "benchmarks.textbook_app:app", port_t), "/docs", 200),
        ]
    ):
        agreement: list[str] = []
        for name in LARGE_LOSSES:
            path = f"/losses/{name}"
            for elements in sizes:
                body = json_body(name, loss_inputs(name, elements))
                warm = [port_s] + ([port_t] if elements == sizes[0] else [])
                for port in warm:
                    _, status, _, content = timed_request(port, path, body)
                    expect_ok(f"{path} on port {port}", status, content)
                _, floor_content = in_process_floor(name, body)
                floor_doc = orjson.loads(floor_content)
                svc, flo, tb, annotated, own = Samples(), Samples(), Samples(), Samples(), Samples()
                stages: dict[str, Samples] = {}
                own_stages: dict[str, Samples] = {}
                for _ in rounds(plan, plan.json_rounds[elements], gate=elements >= 1_000_000):
                    gc.collect()
                    seconds, status, _, content = timed_request(port_s, path, body)
                    expect_ok(f"service {path}", status, content)
                    svc.add(seconds)
                    seconds, status, _, tb_content = timed_request(port_t, path, body)
                    expect_ok(f"textbook {path}", status, tb_content)
                    tb.add(seconds)
                    if plan.extras:
                        seconds, status, _, annotated_content = timed_request(port_t, "/annotated" + path, body)
                        expect_ok(f"textbook /annotated{path}", status, annotated_content)
                        annotated.add(seconds)
                    gc.collect()
                    seconds, _ = in_process_floor(name, body, stages)
                    flo.add(seconds)
                    if elements == 1_000_000:
                        gc.collect()
                        own.add(in_process_service(name, body, own_stages))
                svc_doc, tb_doc = orjson.loads(content), orjson.loads(tb_content)
                grads_agree = np.allclose(
                    np.asarray(svc_doc["grad"]["y_pred"]), np.asarray(tb_doc["grad"]["y_pred"]), rtol=1e-9, atol=1e-18
                )
                agree = close(svc_doc["loss"], floor_doc["loss"]) and close(svc_doc["loss"], tb_doc["loss"])
                agreement.append(
                    f"{name} at {elements:.0e}: loss service {svc_doc['loss']!r}, textbook {tb_doc['loss']!r}; "
                    f"{'agree' if agree and grads_agree else 'DISAGREE'} (rtol 1e-9, gradients included)"
                )
                over_floor, textbook_over = ratios(svc, flo), ratios(tb, svc)
                verdicts = ""
                if elements == 1_000_000:
                    v1 = target("1", f"JSON 1e6 {name}: service / in-process floor <= 1.05", over_floor, 1.05, True)
                    v2 = target("1", f"JSON 1e6 {name}: textbook / service >= 8", textbook_over, 8.0, False)
                    verdicts = f"{v1} / {v2}"
                    stage_rows.append(
                        f"| {name} | " + " | ".join(ms(stages[k]) for k in stages) + f" | {ms(flo)} | {ms(svc)} |"
                    )
                    own_rows.append(
                        f"| {name} | "
                        + " | ".join(ms(own_stages[k]) for k in own_stages)
                        + f" | {ms(own)} | {ms(svc)} | {x(ratios(svc, own))} |"
                    )
                rows.append(
                    f"| {name} | {elements:.0e} | {len(body) / 1e6:.2f} | {ms(svc)} | {ms(flo)} | {ms(tb)} | "
                    f"{x(over_floor)} | {x(textbook_over)} | {verdicts or '—'} |"
                )
                if plan.extras:
                    annotated_rows.append(
                        f"| {name} | {elements:.0e} | {ms(svc)} | {ms(tb)} | {ms(annotated)} | "
                        f"{x(ratios(annotated, svc))} |"
                    )
    BOUNDS["1"] = [
        "Large JSON (section 1): the service's time over HTTP is its own in-process work (decode, compute, "
        "encode: the second stage table) plus sending and receiving some 60 MB over a socket; the orjson floor "
        "the target names spends most of its time making a Python float of every number, which the service "
        "does not do. Where a ratio misses in a run, the rounds' ranges show the machine's other load.",
    ]
    out += [
        "| loss | elements per array | body MB | service (HTTP) | in-process floor | textbook (HTTP) | "
        "service / floor | textbook / service | targets at 1e6 (<= 1.05x / >= 8x) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Where the in-process floor's time goes at 1e6 elements (same rounds):",
        "",
        "| loss | orjson.loads | np.asarray | compute | orjson.dumps | floor total | service (HTTP) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *stage_rows,
        "",
        "The service does not take that path: it parses the body with simdjson straight into NumPy arrays "
        "(`service/transport/simd_json.py`), so no Python float is made per element, and it beats the floor "
        "above. For information, the same rounds also time the service's own work in this process, no HTTP "
        "(its `Dispatcher.decode`, `Dispatcher.compute` and `encode_json`): what is left of the service's time "
        "over that is HTTP (sending and receiving the bodies) and the ASGI layers. The decode step is also the "
        "longest time the service holds the GIL in one go for such a request (one simdjson call: section 7).",
        "",
        "| loss | decode (simdjson) | validate + compute | encode | in-process total | service (HTTP) | "
        "service / its in-process work |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *own_rows,
        "",
        *(
            [
                "For information, the textbook endpoint with `response_model=dict` (same rounds):",
                "",
                "| loss | elements per array | service (HTTP) | textbook (tutorial form) | textbook, "
                "`response_model=dict` | textbook `response_model=dict` / service |",
                "| --- | --- | --- | --- | --- | --- |",
                *annotated_rows,
                "",
            ]
            if plan.extras
            else []
        ),
        "Answers checked (last round): " + "; ".join(agreement) + ".",
        "",
    ]


# 2. Binary Open Inference Protocol ---------------------------------------------------------------------------


def binary_handler_seconds(body: bytes, headers: dict[str, str]) -> float:
    """The service's /v2 handler (parse the tensors, compute, encode) on ``body`` in process: median of 5."""
    from service.api.dispatch import Dispatcher
    from service.api.routes.v2 import InferHandler
    from service.engine import CATALOG

    dispatcher = Dispatcher(CATALOG, 1 << 26)
    handler = InferHandler(CATALOG["mse"], dispatcher.requests["mse"].model_fields["params"].annotation, dispatcher)
    length = {k.lower(): v for k, v in headers.items()}.get("inference-header-content-length")
    data = bytearray(body)
    handler(data, length)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        handler(data, length)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def section_binary(plan: Plan, out: list[str]) -> None:
    arrays = loss_inputs("mse", 1_000_000)
    body, headers = v2_binary_body(arrays)
    json_path_body = json_body("mse", arrays)
    port_s, port_f = free_port(), free_port()
    svc, flo, sized, js = Samples(), Samples(), Samples(), Samples()
    with serving_all(
        [(service(port_s), "/livez", 200), (app_server("floor", "benchmarks.floor_app:app", port_f), "/floor", None)]
    ):
        _, status, answer_headers, content = timed_request(port_s, "/v2/models/mse/infer", body, headers)
        expect_ok("service /v2/models/mse/infer (binary)", status, content)
        header_length = int(answer_headers["inference-header-content-length"])
        answer = orjson.loads(content[:header_length])
        answer_bytes = len(content)
        sized_path = f"/floor/sized?bytes={answer_bytes}"
        timed_request(port_f, "/floor", body)
        timed_request(port_f, sized_path, body)
        timed_request(port_s, "/losses/mse", json_path_body)
        for _ in rounds(plan, plan.binary_rounds):
            seconds, status, _, content = timed_request(port_s, "/v2/models/mse/infer", body, headers)
            expect_ok("service binary", status, content)
            svc.add(seconds)
            seconds, status, _, floor_content = timed_request(port_f, "/floor", body)
            expect_ok("floor", status, floor_content)
            flo.add(seconds)
            if plan.extras:
                seconds, status, _, sized_content = timed_request(port_f, sized_path, body)
                expect_ok("sized floor", status, sized_content)
                sized.add(seconds)
            seconds, status, _, json_content = timed_request(port_s, "/losses/mse", json_path_body)
            expect_ok("service JSON", status, json_content)
            js.add(seconds)
    outputs = binary_outputs(answer, content, header_length)
    expected_grad = 2 * (arrays["y_pred"] - arrays["y_true"]) / arrays["y_pred"].size
    agrees = np.allclose(outputs["grad_y_pred"].reshape(expected_grad.shape), expected_grad, rtol=1e-12, atol=0)
    agrees = agrees and close(float(outputs["loss"][0]), orjson.loads(json_content)["loss"])
    over_floor, json_over = ratios(svc, flo), ratios(js, svc)
    handler = binary_handler_seconds(body, headers)
    BOUNDS["2"] = [
        f"Binary (section 2): the transport floor receives the {len(body) / 1e6:.0f} MB body and answers 14 bytes. "
        "The service also answers 8 MB"
        + (f" (the floor answering that much took {ms(sized)})" if sized.values else "")
        + ", and in between reads the tensors, runs the engine and writes the answer: "
        f"{handler * 1e3:.1f} ms in process for its /v2 handler alone (median of 5, this run), most of it the "
        "engine's MSE and gradient over 1e6 float64 values."
        + (
            " The floor answering the same size plus that handler time is already "
            f"{(sized.median + handler) / flo.median:.2f}x the small-answer floor."
            if sized.values
            else ""
        ),
    ]
    v1 = target("2", "binary 1e6 mse: service / transport floor <= 1.5", over_floor, 1.5, True)
    v2 = target("2", "binary 1e6 mse: service JSON path / binary >= 5", json_over, 5.0, False)
    out += [
        "## 2. Binary Open Inference Protocol, 1e6 elements (MSE + gradient)",
        "",
        f"`POST /v2/models/mse/infer` with both inputs as binary FP64 tensors ({len(body) / 1e6:.2f} MB body, "
        "`Inference-Header-Content-Length`) and `binary_data_output: true`: the answer "
        f"({answer_bytes / 1e6:.2f} MB) is a JSON header, then the loss and the gradient as binary FP64. "
        "The transport floor is `benchmarks/floor_app.py`'s "
        "`POST /floor`: a bare Starlette route (same uvicorn settings) that reads the whole body and answers a "
        "**small constant** (14 bytes). The service's JSON path is `POST /losses/mse` with the same arrays "
        f"({len(json_path_body) / 1e6:.1f} MB). Same raw socket client, {plan.binary_rounds} interleaved rounds."
        + (
            " For information, `POST /floor/sized` reads the body and answers a constant as large as the "
            "service's binary answer."
            if plan.extras
            else ""
        ),
        "",
        "| what | time |",
        "| --- | --- |",
        f"| service, binary | {ms(svc)} |",
        f"| transport floor (small constant answer) | {ms(flo)} |",
        *(
            [f"| transport floor answering {answer_bytes / 1e6:.2f} MB (information) | {ms(sized)} |"]
            if plan.extras
            else []
        ),
        f"| service, JSON path `/losses/mse` | {ms(js)} |",
        "",
        "| ratio | value | target | verdict |",
        "| --- | --- | --- | --- |",
        f"| service binary / transport floor | {x(over_floor)} | <= 1.5x | {v1} |",
        *(
            [f"| service binary / floor answering the same size (information) | {x(ratios(svc, sized))} | — | — |"]
            if plan.extras
            else []
        ),
        f"| service JSON / service binary | {x(json_over)} | >= 5x | {v2} |",
        "",
        f"Gradient checked against 2 (y_pred - y_true) / N: {'agrees' if agrees else 'DISAGREES'} (rtol 1e-12).",
        "",
    ]


# 3. Small requests ---------------------------------------------------------------------------------------


def wrk_row(label: str, results: list[WrkResult]) -> tuple[str, Samples, Samples, Samples]:
    rps = Samples([r.requests_per_s for r in results])
    p50 = Samples([r.p50_ms for r in results])
    p99 = Samples([r.p99_ms for r in results])
    bad = sum(r.non_2xx for r in results)
    errors = "; ".join(sorted({r.socket_errors for r in results if r.socket_errors}))
    flags = (f" **{bad} non-2xx**" if bad else "") + (f" socket errors: {errors}" if errors else "")
    return (
        f"| {label} | {rps.fmt(digits=0)} | {p50.fmt(digits=2)} | {p99.fmt(digits=2)} |{flags}",
        rps,
        p50,
        p99,
    )


def asgi_microseconds(app: Any, path: str, body: bytes, count: int) -> float:
    """Microseconds of CPU per request for ``app`` called in this process (no HTTP, no sockets).

    The ASGI app gets the request as uvicorn would hand it over (one body message) and its
    answer is collected; the median over 5 batches of ``count`` is returned. This is the
    Python work a server does per request, which bounds its req/s on a busy core.
    """
    import asyncio

    length = str(len(body)).encode()
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"content-length", length)]

    async def one() -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": list(headers), "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000), "state": {},
        }  # fmt: skip
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status = 0

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    async def batches() -> list[float]:
        async with app.router.lifespan_context(app):
            status = await one()
            if status != 200:
                raise RuntimeError(f"{path} answered {status} in process")
            for _ in range(count // 10):
                await one()
            times = []
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(count):
                    await one()
                times.append((time.perf_counter() - start) / count * 1e6)
            return times

    return float(np.median(asyncio.run(batches())))


def per_request_cpu(body: bytes) -> dict[str, float]:
    """The service's and the constant route's per-request CPU in this process (µs), for the bounds."""
    import importlib

    from service.app import create_app
    from service.settings import Settings

    os.environ["BENCH_CONSTANT_BYTES"] = "2600"
    constant = importlib.import_module("benchmarks.constant_app").app
    service_app = create_app(Settings(access_log=False))
    found = {
        "service": asgi_microseconds(service_app, "/losses/mse", body, 2000),
        "constant": asgi_microseconds(constant, "/constant", body, 2000),
    }
    return found


def section_small(plan: Plan, out: list[str]) -> None:
    body = json_body("mse", small_arrays())
    script = wrk_lua(body)
    lines: list[str] = []
    try:
        for workers in (1, 2):
            port_s, port_c, port_f = free_port(), free_port(), free_port()
            with contextlib.ExitStack() as stack:
                first = [(service(port_s, workers), "/livez", 200)]
                if plan.extras:
                    first.append((app_server("floor", "benchmarks.floor_app:app", port_f, workers), "/floor", None))
                stack.enter_context(serving_all(first))
                status, _, answer = request(port_s, "/losses/mse", body)
                expect_ok("service /losses/mse (small)", status, answer)
                constant_env = {"BENCH_CONSTANT_BYTES": str(len(answer))}
                stack.enter_context(
                    serving(
                        app_server("constant", "benchmarks.constant_app:app", port_c, workers, constant_env),
                        "/docs",
                        200,
                    )
                )
                targets = [
                    ("service `POST /losses/mse`", port_s, "/losses/mse"),
                    ("FastAPI constant route `POST /constant`", port_c, "/constant"),
                ]
                if plan.extras:
                    targets.append(
                        ("Starlette constant route (information)", port_f, f"/floor/sized?bytes={len(answer)}")
                    )
                for _, port, path in targets:  # warm-up, not counted
                    if plan.warmup_seconds:
                        run_wrk(port, path, script, plan.warmup_seconds)
                results: dict[str, list[WrkResult]] = {label: [] for label, _, _ in targets}
                for _ in rounds(plan, plan.wrk_rounds):
                    for label, port, path in targets:
                        results[label].append(run_wrk(port, path, script, plan.wrk_seconds))
            rows = [wrk_row(label, found) for label, found in results.items()]
            service_rps, constant_rps, service_p99 = rows[0][1], rows[1][1], rows[0][3]
            over_constant = ratios(service_rps, constant_rps)
            v1 = target(
                "3", f"small, {workers} worker(s): service / constant FastAPI req/s >= 1.0", over_constant, 1.0, False
            )
            v2 = target("3", f"small, {workers} worker(s): service p99 <= 10 ms", service_p99, 10.0, True, " ms")
            lines += [
                f"**{workers} worker{'s' if workers > 1 else ''}**",
                "",
                "| server | req/s | p50 ms | p99 ms |",
                "| --- | --- | --- | --- |",
                *(row[0] for row in rows),
                "",
                f"service / constant FastAPI route, req/s: {x(over_constant)} (target >= 1.0x: {v1}); "
                f"service p99 {service_p99.fmt(digits=2)} ms (target <= 10 ms: {v2}).",
                "",
            ]
    finally:
        script.unlink(missing_ok=True)
    settle(plan)
    cpu = per_request_cpu(body)
    ceiling = cpu["constant"] / cpu["service"]
    lines += [
        "In this process, no HTTP (the ASGI app called directly, median of 5 batches of 2000 requests): the "
        f"service spends {cpu['service']:.0f} µs of CPU per request, the FastAPI constant route {cpu['constant']:.0f} "
        f"µs; on a saturated core the service's req/s can be at most {ceiling:.2f}x the constant route's.",
        "",
    ]
    BOUNDS["3"] = [
        f"Small requests (section 3): per request, in process and without HTTP, the service's ASGI app takes "
        f"{cpu['service']:.0f} µs of CPU and the constant FastAPI route {cpu['constant']:.0f} µs (same run). The "
        "constant route parses nothing, computes nothing and serialises nothing; the service decodes two arrays, "
        "validates the request against the loss's schema, runs the engine (input checks, loss, reduction, "
        "gradient, finiteness checks), encodes the answer and counts it in Prometheus: about "
        f"{cpu['service'] - cpu['constant']:.0f} µs more. Over HTTP both also pay uvicorn's handling of the "
        f"connection, h µs, the same for both, so their req/s ratio is at most ({cpu['constant']:.0f} + h) / "
        f"({cpu['service']:.0f} + h): 1.0x would need the service's work to cost nothing. It already skips "
        "FastAPI's router and dependency machinery for its hot operations (`service/api/fast_path.py`). The "
        "p99 follows: with 32 connections on one worker a request waits for the 31 ahead of it, so p50 is about "
        "32 times the time per request and p99 adds a garbage collection or a scheduler tick on the shared "
        "cores; with 2 workers each queue is half as long.",
    ]
    out += [
        "## 3. Small requests (32x4, MSE + gradient) under wrk",
        "",
        f"wrk 1 thread, 32 connections, {plan.wrk_seconds:g} s per run, `--latency`, on 127.0.0.1; the body "
        f"({len(body)} bytes) is the same for every server. The FastAPI constant route "
        "(`benchmarks/constant_app.py`) reads the body and returns a constant `Response` as long as the service's "
        "answer; it runs with the same uvicorn settings (workers, no access log). "
        f"{plan.wrk_rounds} rounds, the servers taking turns within each round; "
        + (f"a {plan.warmup_seconds:g} s warm-up run each first. " if plan.warmup_seconds else "no warm-up run. ")
        + f"The machine's {os.cpu_count()} cores are shared by wrk and the server's workers.",
        "",
        *lines,
    ]


# 4. MLServer ------------------------------------------------------------------------------------------------


def ensure_mlserver(log: list[str]) -> tuple[Path | None, str]:
    """The mlserver executable of its own venv (created or completed when needed), and its version or why not."""
    exe = MLSERVER_VENV / "bin" / "mlserver"
    python = MLSERVER_VENV / "bin" / "python"
    probe_code = "import mlserver, uvloop; print(mlserver.__version__, uvloop.__version__)"
    wanted = " ".join(r.split("==")[1] for r in MLSERVER_REQUIREMENTS)

    def probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python), "-c", probe_code], capture_output=True, text=True, timeout=120)

    found = probe() if exe.exists() else None
    if found is None or found.returncode != 0 or found.stdout.strip() != wanted:
        requirements = " ".join(MLSERVER_REQUIREMENTS)
        log.append(f"Set up `{MLSERVER_VENV.relative_to(ROOT)}` with `pip install {requirements}` for this run.")
        print(f"installing {requirements} into {MLSERVER_VENV} ...", flush=True)
        try:
            if not python.exists():
                subprocess.run(
                    [sys.executable, "-m", "venv", str(MLSERVER_VENV)],
                    check=True,
                    timeout=300,
                    capture_output=True,
                    text=True,
                )
            pip = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *MLSERVER_REQUIREMENTS],
                timeout=1800,
                capture_output=True,
                text=True,
            )
        except (subprocess.SubprocessError, OSError) as error:
            return None, f"could not create the venv or run pip: {error}"
        if pip.returncode != 0 or not exe.exists():
            tail = "\n".join((pip.stdout + pip.stderr).strip().splitlines()[-8:])
            return None, f"`pip install {requirements}` failed (exit {pip.returncode}):\n\n```\n{tail}\n```"
        found = probe()
    if found.returncode != 0:
        return None, f"mlserver is installed but does not import: {found.stderr.strip()[-500:]}"
    return exe, found.stdout.split()[0]


def mlserver(exe: Path, port: int, parallel_workers: int) -> Server:
    env = {
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_PARALLEL_WORKERS": str(parallel_workers),
    }
    return Server(f"mlserver-pw{parallel_workers}", [str(exe), "start", str(BENCH / "mlserver_model")], port, env)


def section_mlserver(plan: Plan, out: list[str], mlserver_status: tuple[Path | None, str]) -> None:
    out += ["## 4. A peer: MLServer serving the same MSE + gradient", ""]
    exe, version = mlserver_status
    if exe is None:
        TARGETS.append(Target("4", "service / MLServer req/s >= 2", Samples(), 2.0, False, "MLServer not run"))
        out += [f"MLServer could not be run here, so there is no comparison: {version}", ""]
        return
    body = v2_json_body(small_arrays())
    script = wrk_lua(body)
    path = "/v2/models/mse/infer"
    # parallel_workers: 0 infers on the server's own event loop; 1 (its default) in a worker process.
    configs = list(plan.mlserver_settings)
    setting_text = {
        0: "`parallel_workers=0` (inference on its own event loop, in one process like the service)",
        1: "its default `parallel_workers=1` (inference in one worker process)",
    }
    labels = {
        pw: f"MLServer {version}, parallel_workers={pw}" + (" (its default)" if pw == 1 else "") for pw in configs
    }
    failed: dict[int, str] = {}
    answers: dict[str, tuple[float, list[float]]] = {}
    port_s = free_port()
    try:
        with contextlib.ExitStack() as stack:
            own = service(port_s)
            peer_servers = {pw: mlserver(exe, free_port(), pw) for pw in configs}
            for server in (own, *peer_servers.values()):  # started together, always ended
                stack.callback(server.stop)
                server.launch()
            own.wait_ready("/livez", 200)
            targets = [("service `/v2/models/mse/infer` (1 worker)", port_s)]
            for pw, server in peer_servers.items():
                try:
                    server.wait_ready("/v2/models/mse/ready", 200)
                except RuntimeError as error:  # say why, and go on with the other setting
                    failed[pw] = str(error)
                    server.stop()
                    continue
                targets.append((labels[pw], server.port))
            for label, port in targets:
                status, _, answer = request(port, path, body)
                expect_ok(f"{label} {path}", status, answer)
                outputs = {o["name"]: o for o in orjson.loads(answer)["outputs"]}
                answers[label] = (outputs["loss"]["data"][0], outputs["grad_y_pred"]["data"])
                if plan.warmup_seconds:  # warm-up, not counted
                    run_wrk(port, path, script, plan.warmup_seconds)
            results: dict[str, list[WrkResult]] = {label: [] for label, _ in targets}
            for _ in rounds(plan, plan.wrk_rounds):
                for label, port in targets:
                    results[label].append(run_wrk(port, path, script, plan.wrk_seconds))
    finally:
        script.unlink(missing_ok=True)
    reference = answers[targets[0][0]]
    agree = all(
        close(loss, reference[0]) and np.allclose(grad, reference[1], rtol=1e-12, atol=0)
        for loss, grad in answers.values()
    )
    rows = {label: wrk_row(label, found) for label, found in results.items()}
    service_rps = rows[targets[0][0]][1]
    peers = [label for label, _ in targets[1:]]
    per_peer = {label: ratios(service_rps, rows[label][1]) for label in peers}
    if peers:
        fastest = max(peers, key=lambda label: rows[label][1].median)
        v = target(
            "4", f"service / MLServer req/s >= 2 (against its faster setting: {fastest})", per_peer[fastest], 2.0, False
        )
    else:
        TARGETS.append(Target("4", "service / MLServer req/s >= 2", Samples(), 2.0, False, "MLServer did not start"))
        v = "not measured"
    out += [
        "`benchmarks/mlserver_model/` is an MLServer custom model (`MLModel` subclass, inputs decoded with "
        "MLServer's `NumpyCodec`, NumPy maths) answering `loss` and `grad_y_pred`. MLServer runs from its own venv "
        f"(`{MLSERVER_VENV.relative_to(ROOT)}`: `{' '.join(MLSERVER_REQUIREMENTS)}`) with `debug: false` (no access "
        "log), metrics off and gzip off (`mlserver_model/settings.json`), on 127.0.0.1. The request is the same "
        f"Open Inference Protocol JSON for all ({len(body)} bytes: 32x4 FP64 `y_true` and `y_pred` as flat `data`, "
        f"`return_grad: true`); the same wrk load (1 thread, 32 connections, {plan.wrk_seconds:g} s, "
        f"{plan.wrk_rounds} interleaved rounds"
        + (f", a {plan.warmup_seconds:g} s warm-up each" if plan.warmup_seconds else ", no warm-up")
        + "). MLServer settings measured: "
        + ", and ".join(setting_text[pw] for pw in configs)
        + ". "
        + MLSERVER_UVLOOP_NOTE
        + " Loss and gradient "
        f"agree across the servers (rtol 1e-12): {'yes' if agree else 'NO'}.",
        "",
        "| server | req/s | p50 ms | p99 ms |",
        "| --- | --- | --- | --- |",
        *(row[0] for row in rows.values()),
        "",
        *(f"- service / {label}, req/s: {x(per_peer[label])}" for label in peers),
        *(f"- {labels[pw]} did not start: `{why.splitlines()[0]}`" for pw, why in failed.items()),
        "",
        f"Target >= 2x MLServer's req/s (its faster setting): {v}.",
        "",
    ]
    if peers:
        from service.app import create_app
        from service.settings import Settings

        settle(plan)
        cpu = asgi_microseconds(create_app(Settings(access_log=False)), "/v2/models/mse/infer", body, 2000)
        fastest_rps = rows[fastest][1].median
        BOUNDS["4"] = [
            f"MLServer (section 4): over HTTP the service answered {service_rps.median:.0f} req/s, "
            f"{1e6 / service_rps.median:.0f} µs per request on these two cores shared with wrk, of which its "
            f"ASGI app's own CPU is {cpu:.0f} µs (called in process, no HTTP). {fastest} answered "
            f"{fastest_rps:.0f} req/s; twice that is {1e6 / (2 * fastest_rps):.0f} µs per request, "
            f"{1e6 / service_rps.median - 1e6 / (2 * fastest_rps):.0f} µs less than now: most of what the app "
            "does (decode, validation, the engine with its checks, encoding, metrics) would have to go. MLServer "
            "does the same kind of work per request (Pydantic decoding, NumPy, encoding) on its own event loop.",
        ]


# 5. The engine against torch --------------------------------------------------------------------------------


def torch_loss(name: str, torch: Any, y_true: Any, y_pred: Any) -> Any:
    functional = torch.nn.functional
    if name == "mse":
        return functional.mse_loss(y_pred, y_true)
    if name == "binary_crossentropy":
        return functional.binary_cross_entropy_with_logits(y_pred, y_true)
    if name == "categorical_crossentropy":
        return functional.cross_entropy(y_pred, y_true)
    if name == "binary_focal":  # torchvision.ops.sigmoid_focal_loss, alpha 0.25, gamma 2, mean
        p = torch.sigmoid(y_pred)
        ce = functional.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
        p_t = p * y_true + (1 - p) * (1 - y_true)
        loss = ce * (1 - p_t) ** 2
        alpha_t = 0.25 * y_true + 0.75 * (1 - y_true)
        return (alpha_t * loss).mean()
    raise ValueError(name)


def section_engine(plan: Plan, out: list[str]) -> None:
    out += ["## 5. The engine alone against torch CPU (1 thread), forward + gradient", ""]
    try:
        import torch
    except ImportError as error:
        out += [f"torch is not installed ({error}); `pip install torch==2.13.0` (see the README). Not measured.", ""]
        for dtype in ("float64", "float32"):
            TARGETS.append(Target("5", f"engine / torch <= 1.0 ({dtype})", Samples(), 1.0, True, "torch missing"))
        return
    from service.engine import CATALOG, compute

    pass_cost: dict[str, float] = {}
    for dtype in ("float64", "float32"):
        a = np.ones(plan.engine_elements, dtype=dtype)
        b = np.empty_like(a)
        best = min(timeit.repeat(lambda a=a, b=b: np.add(a, a, out=b), number=10, repeat=5)) / 10
        pass_cost[dtype] = best
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    rows: list[str] = []
    mismatches: list[str] = []
    try:
        for name in ("mse", "binary_crossentropy", "categorical_crossentropy", "binary_focal"):
            spec = CATALOG[name]
            params = loss_params(name)
            base = loss_inputs(name, plan.engine_elements, seed=3)
            for dtype in ("float64", "float32"):
                arrays = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in base.items()}
                tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}

                def run_engine(
                    spec: Any = spec, arrays: dict[str, np.ndarray] = arrays, params: Any = params, dtype: Any = dtype
                ) -> tuple[float, Any]:
                    start = time.perf_counter()
                    result = compute(spec, arrays, params, reduction="mean", return_grad=True, dtype=dtype)
                    return time.perf_counter() - start, result

                def run_torch(name: str = name, tensors: dict[str, Any] = tensors) -> tuple[float, Any, Any]:
                    start = time.perf_counter()
                    y_pred = tensors["y_pred"].detach().requires_grad_(True)
                    loss = torch_loss(name, torch, tensors["y_true"], y_pred)
                    loss.backward()
                    return time.perf_counter() - start, loss.item(), y_pred.grad

                settle(plan)  # one wait for quiet before each loss and dtype (the rounds are short)
                run_engine(), run_torch()  # warm-up
                engine, reference = Samples(), Samples()
                for _ in rounds(plan, plan.engine_rounds, gate=False):
                    seconds, result = run_engine()
                    engine.add(seconds)
                    seconds, torch_value, torch_grad = run_torch()
                    reference.add(seconds)
                rtol = 1e-9 if dtype == "float64" else 1e-4
                grad_ok = np.allclose(result.grads["y_pred"], torch_grad.numpy(), rtol=rtol, atol=rtol * 1e-6)
                if not (close(result.loss, torch_value, rtol) and grad_ok):
                    mismatches.append(f"{name} {dtype}: engine {result.loss!r}, torch {torch_value!r}")
                over = ratios(engine, reference)
                v = target("5", f"engine / torch <= 1.0: {name} {dtype}", over, 1.0, True)
                rows.append(
                    f"| {name} | {dtype} | {ms(engine)} | {ms(reference)} | {x(over)} | {v} | "
                    f"{engine.median / pass_cost[dtype]:.0f} | {reference.median / pass_cost[dtype]:.0f} |"
                )
    finally:
        torch.set_num_threads(threads_before)
    out += [
        f"Arrays of shape ({plan.engine_elements // COLUMNS}, {COLUMNS}) ({plan.engine_elements:.0e} elements), "
        "`reduction: mean`, the gradient with respect to `y_pred`; logits for the cross-entropies and "
        "binary_focal (alpha 0.25, gamma 2). Engine: `service.engine.compute(..., return_grad=True, dtype=...)` "
        "on NumPy arrays already of that dtype (its input checks included). torch: "
        "`torch.set_num_threads(1)`, the `torch.nn.functional` loss (binary_focal written as "
        "`torchvision.ops.sigmoid_focal_loss` computes it) and `loss.backward()` on tensors sharing the same "
        f"memory. {plan.engine_rounds} interleaved rounds after a warm-up.",
        "",
        "| loss | dtype | engine | torch (1 thread) | engine / torch | target <= 1.0x | engine, in passes | "
        "torch, in passes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "A pass is one NumPy elementwise operation over the array (`np.add(a, a, out=b)` on "
        f"{plan.engine_elements:.0e} elements, measured in this run: "
        + ", ".join(f"{pass_cost[d] * 1e3:.2f} ms in {d}" for d in pass_cost)
        + "); the last two columns give each time in those units.",
        "",
        "Values and gradients agree with torch (rtol 1e-9 in float64, 1e-4 in float32)"
        + (f", except: {'; '.join(mismatches)}." if mismatches else ": all of them."),
        "",
    ]
    BOUNDS["5"] = [
        "The engine against torch (section 5): NumPy runs one pass over memory per operation and allocates "
        "its result, while torch's losses are fused C++ kernels (one loop computing the loss, one computing the "
        "gradient). The table gives each time in units of one NumPy pass over the array "
        + ", ".join(f"({pass_cost[d] * 1e3:.2f} ms in {d})" for d in pass_cost)
        + ": where the engine is slower it is because its expression takes that many passes (the stable "
        "softplus and sigmoid of the logit losses cost an exp, a log1p and about a dozen arithmetic passes; "
        "the input and result finiteness checks the API promises add about 2 passes per array), not because a "
        "pass is slow. Beating a fused kernel needs fused loops (a compiled extension or a JIT), which this "
        "pure-NumPy engine does not have; the categorical cross-entropy, whose torch kernels are not fused "
        "either, is on a par.",
    ]


# 6. Peak RSS -------------------------------------------------------------------------------------------------


def section_rss(plan: Plan, out: list[str]) -> None:
    arrays = loss_inputs("mse", 1_000_000)
    body = json_body("mse", arrays)
    small = json_body("mse", small_arrays())
    peaks, before, over_body, growth, server_peaks = Samples(), Samples(), Samples(), Samples(), Samples()
    textbook_peaks = Samples()
    binary_peaks = Samples()
    binary_body, binary_headers = v2_binary_body(arrays)
    for _ in rounds(plan, plan.rss_rounds):
        port = free_port()
        with serving(service(port), "/livez", 200) as server:
            expect_ok("small warm-up", *request(port, "/losses/mse", small)[::2])
            start = server.memory()
            expect_ok("1e6 request", *request(port, "/losses/mse", body)[::2])
            end = server.memory()
        # The service's offload process computes the large body: count it with the server.
        peaks.add(end["tree VmHWM"])
        before.add(start["tree VmRSS"])
        over_body.add(end["tree VmHWM"] / len(body))
        growth.add((end["tree VmHWM"] - start["tree VmRSS"]) / len(body))
        server_peaks.add(end["VmHWM"])
        if plan.extras:
            port = free_port()
            with serving(service(port), "/livez", 200) as server:
                expect_ok("small warm-up", *request(port, "/losses/mse", small)[::2])
                status, _, content = request(port, "/v2/models/mse/infer", binary_body, binary_headers)
                expect_ok("binary 1e6 request", status, content)
                binary_peaks.add(server.memory()["tree VmHWM"])
            port = free_port()
            with serving(app_server("textbook", "benchmarks.textbook_app:app", port), "/docs", 200) as server:
                expect_ok("textbook 1e6 request", *request(port, "/losses/mse", body)[::2])
                textbook_peaks.add(server.memory()["tree VmHWM"])
    v = target("6", "peak RSS of the server / body size <= 3 (1e6-element JSON mse request)", over_body, 3.0, True)
    mb = 1e-6
    floor_ratio = (before.median + len(body)) / len(body)
    BOUNDS["6"] = [
        f"Peak RSS (section 6): before the request the server process already holds {before.median * mb:.0f} MB "
        "(the interpreter, NumPy, FastAPI, Pydantic's compiled schemas for 35 losses), "
        f"{before.median / len(body):.2f}x "
        f"the {len(body) * mb:.1f} MB body by itself; add the body, which must be received whole before it can be "
        f"parsed, and the process is at {floor_ratio:.2f}x before a byte is parsed. On top of that the request's own "
        f"memory was {growth.fmt(digits=2, unit='x')} the body: simdjson copies the body into a padded buffer and "
        "builds its tape (about 16 bytes per number) while the body is alive, then come the two input arrays, the "
        "gradient and its JSON text (half the body again). Already without Python floats (orjson's path made 32 "
        "bytes of them per number); 3x the body for the whole process would need a streaming parser that drops "
        "each received chunk as it is parsed.",
    ]
    out += [
        "## 6. Peak RSS of the server for one 1e6-element JSON request",
        "",
        f"A fresh `python -m service` (1 worker) per round, one small request, then one 1e6-element `POST "
        f"/losses/mse` with the gradient ({len(body) / 1e6:.1f} MB body); peak RSS is `VmHWM` from "
        "`/proc/<pid>/status` after the request, summed over the server process and its descendants (a helper "
        "process would compute a large JSON body that arrives while other requests are served; this one arrives "
        "alone and is computed in the worker): whole processes, interpreter and libraries included. "
        f"{plan.rss_rounds} round{'s' if plan.rss_rounds > 1 else ''}.",
        "",
        "| what | value |",
        "| --- | --- |",
        f"| body size | {len(body) * mb:.1f} MB |",
        f"| RSS before the request (after start-up and one small request) | {before.fmt(scale=mb, unit=' MB')} |",
        f"| peak RSS (VmHWM) after the request, server and its descendants | {peaks.fmt(scale=mb, unit=' MB')} |",
        f"| of which the server process | {server_peaks.fmt(scale=mb, unit=' MB')} |",
        f"| peak RSS / body size | {x(over_body)} (target <= 3x: {v}) |",
        f"| (peak RSS - RSS before) / body size | {x(growth)} |",
        *(
            [
                f"| information: service peak RSS for the same arrays as binary tensors ({len(binary_body) * mb:.1f} MB body) | {binary_peaks.fmt(scale=mb, unit=' MB')} |",  # noqa: E501
                f"| information: textbook endpoint peak RSS for the same JSON request | {textbook_peaks.fmt(scale=mb, unit=' MB')} |",  # noqa: E501
            ]
            if plan.extras
            else []
        ),
        "",
    ]


# 7. Small requests while large ones run -----------------------------------------------------------------------


class LargeLoop:
    """Sends 1e6-element JSON requests one after another until stopped (at most ``limit`` of them)."""

    def __init__(self, port: int, body: bytes, limit: int, seconds: float) -> None:
        self.port, self.body, self.limit, self.seconds = port, body, limit, seconds
        self.stop = threading.Event()
        self.times = Samples()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        for _ in range(self.limit):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            try:
                seconds, status, _, _ = timed_request(self.port, "/losses/mse", self.body)
            except OSError as error:
                self.errors.append(str(error))
                return
            if status != 200:
                self.errors.append(f"status {status}")
                return
            self.times.add(seconds)

    def __enter__(self) -> LargeLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=self.seconds + 60)


def section_concurrent(plan: Plan, out: list[str]) -> None:
    small = json_body("mse", small_arrays())
    large = json_body("mse", loss_inputs("mse", 1_000_000))
    script = wrk_lua(small)
    port = free_port()
    idle: list[WrkResult] = []
    loaded: list[WrkResult] = []
    large_times = Samples()
    errors: list[str] = []
    try:
        with serving(service(port), "/livez", 200):
            request(port, "/losses/mse", large)
            if plan.warmup_seconds:
                run_wrk(port, "/losses/mse", script, plan.warmup_seconds)
            for _ in rounds(plan, plan.concurrent_rounds):
                idle.append(run_wrk(port, "/losses/mse", script, plan.wrk_seconds))
                with LargeLoop(port, large, limit=1000, seconds=plan.wrk_seconds + 30) as loop:
                    time.sleep(0.2)  # the first large body is on its way
                    loaded.append(run_wrk(port, "/losses/mse", script, plan.wrk_seconds))
                large_times.values += loop.times.values
                errors += loop.errors
    finally:
        script.unlink(missing_ok=True)
    import simdjson

    parse = Samples()
    for _ in range(5):
        start = time.perf_counter()
        simdjson.Parser().parse(large)
        parse.add(time.perf_counter() - start)
    idle_row, _, _, idle_p99 = wrk_row("small requests alone", idle)
    loaded_row, _, _, loaded_p99 = wrk_row("small requests while 1e6-element requests run", loaded)
    over = ratios(loaded_p99, idle_p99)
    v = target("7", "p99 of small requests with 1e6-element requests running / idle p99 <= 2", over, 2.0, True)
    out += [
        "## 7. Small requests while 1e6-element JSON requests run",
        "",
        f"One `python -m service` (1 worker, default settings: large bodies that arrive while other requests are "
        f"served go to its helper process). In each of {plan.concurrent_rounds} rounds: wrk (1 thread, 32 "
        f"connections, {plan.wrk_seconds:g} s) on the 32x4 MSE request alone, then the same wrk run while a client "
        f"thread sends 1e6-element `POST /losses/mse` requests ({len(large) / 1e6:.1f} MB) one after another "
        "(the next as soon as the previous answer is in; stopped when wrk ends).",
        "",
        "| load | req/s | p50 ms | p99 ms |",
        "| --- | --- | --- | --- |",
        idle_row,
        loaded_row,
        "",
        f"Parsing one such body with simdjson (one C call, which holds the GIL throughout) takes {ms(parse)} in "
        "this process (5 runs after the rounds).",
        "",
        f"p99 with large requests / idle p99: {x(over)} (target <= 2x: {v}). Large requests completed during "
        f"the loaded runs: {len(large_times.values)}, each {ms(large_times)}"
        + (f"; errors: {'; '.join(errors)}" if errors else "")
        + ".",
        "",
    ]
    BOUNDS["7"] = [
        "Small requests under large ones (section 7): parsing a 1e6-element JSON body is one simdjson call that "
        f"holds the GIL for {ms(parse)} (measured in this run); in a worker thread it would stall every small "
        "request of the worker that long. While other requests are being served, the service therefore hands "
        "large bodies (`LOSS_SERVICE_PROCESS_OFFLOAD_BYTES`, 4 MiB) to a helper process "
        "(`service/api/offload.py`: the body and the answer cross in memory files, the event loop only waits). "
        f"What is left of the loaded p99 ({loaded_p99.fmt(digits=2)} ms against {idle_p99.fmt(digits=2)} ms idle) "
        "is CPU: the helper computes on one of the two cores, leaving the other to the worker's event loop and "
        "wrk, and the worker still receives each 40 MB body and sends its 20 MB answer. A machine with a core "
        "to spare for the helper would not have that share to give up.",
    ]


# The report --------------------------------------------------------------------------------------------------


def targets_table() -> list[str]:
    lines = ["| section | target | measured (median, min–max) | verdict |", "| --- | --- | --- | --- |"]
    for item in TARGETS:
        measured = item.measured.fmt(digits=2, unit=item.unit) if item.measured.values else item.note or "not measured"
        lines.append(f"| {item.section} | {item.text} | {measured} | {verdict(item)} |")
    return lines


def bounds_section() -> list[str]:
    """For each section with a target not met, what bounds it (written by the section from its measurements)."""
    unmet = sorted({item.section for item in TARGETS if item.measured.values and not item.met})
    explained = [section for section in unmet if section in BOUNDS]
    if not unmet:
        return []
    lines = ["## What bounds the targets not met", ""]
    for section in explained:
        lines += [*BOUNDS[section], ""]
    for section in sorted(set(unmet) - set(explained)):
        lines += [f"Section {section}: not explained by this run (see the section).", ""]
    return lines


SECTIONS: list[tuple[str, Callable[..., None]]] = [
    ("1. Large JSON", section_large_json),
    ("2. Binary Open Inference Protocol", section_binary),
    ("3. Small requests", section_small),
    ("4. MLServer", section_mlserver),
    ("5. Engine against torch", section_engine),
    ("6. Peak RSS", section_rss),
    ("7. Small requests under large ones", section_concurrent),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (< 2 min), to RESULTS-quick.md")
    parser.add_argument("--output", type=Path, help="where to write the report (default benchmarks/RESULTS.md)")
    parser.add_argument("--only", type=int, action="append", help="run only section N (repeatable)")
    args = parser.parse_args(argv)
    plan = make_plan(args.quick)
    output = args.output or BENCH / ("RESULTS-quick.md" if args.quick else "RESULTS.md")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)  # servers are ended by the finally blocks
    started = time.monotonic()
    setup_log: list[str] = []
    mlserver_status = ensure_mlserver(setup_log) if not args.only or 4 in args.only else (None, "not run (--only)")
    body: list[str] = []
    timings: list[str] = []
    conditions: list[str] = []
    CONDITIONS.budget = plan.round_quiet_budget
    for number, (title, function) in enumerate(SECTIONS, start=1):
        if args.only and number not in args.only:
            continue
        CONDITIONS.waited, CONDITIONS.shares = 0.0, Samples()
        print(f"[{time.monotonic() - started:6.1f} s] {title} ...", flush=True)
        share_before, waited = wait_for_quiet(QUIET_SHARE, plan.quiet_wait, plan.quiet_sample)
        section_start = time.monotonic()
        load = OtherLoad()
        section_out: list[str] = []
        try:
            if function is section_mlserver:
                function(plan, section_out, mlserver_status)
            else:
                function(plan, section_out)
        except Exception as error:  # report it and go on with the next section
            traceback.print_exc()
            if not section_out:
                section_out += [f"## {title}", ""]
            section_out += [f"**This section failed**: `{error!r}`", ""]
        body += section_out
        duration = time.monotonic() - section_start
        timings.append(f"{title}: {duration:.0f} s")
        conditions.append(
            f"| {title} | {duration:.0f} s | {waited:.0f} s | {share_before:.0%} | {CONDITIONS.waited:.0f} s | "
            f"{CONDITIONS.shares.fmt(scale=100, digits=0, unit='%')} | {load.fraction():.0%} |"
        )
    elapsed = time.monotonic() - started
    exe, status = mlserver_status
    mlserver_version = (
        f"{status} (in {MLSERVER_VENV.relative_to(ROOT)}, with {MLSERVER_REQUIREMENTS[1]})"
        if exe
        else f"not available ({status.splitlines()[0]})"
    )
    command = "python -m benchmarks.run" + (" --quick" if args.quick else "")
    report = [
        "# Benchmark results" + (" (quick smoke run)" if args.quick else ""),
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed:.0f} s "
        f"({'; '.join(timings)}). Every comparison is a ratio of two things measured in the same run, "
        "alternating within each round; numbers are medians with the range (min–max) over the rounds. "
        "A target is met when its median ratio is. See `benchmarks/README.md` for how to reproduce.",
        *(["", *setup_log] if setup_log else []),
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine().items()),
        "",
        f"Service code measured: {source_state()}.",
        "",
        "Other processes on the machine (other sessions' tests and builds share it) take CPU from the "
        "benchmark; before each section the run waits"
        + (f" (at most {plan.quiet_wait:.0f} s)" if plan.quiet_wait else " (not in a quick run)")
        + f" until they use at most {QUIET_SHARE:.0%} of the CPU, and so it does before each measured round"
        + (
            f" (at most {plan.round_quiet_wait:.0f} s each, {plan.round_quiet_budget:.0f} s in all; not before "
            "the short 1e4-element rounds of section 1, and in section 5 once per loss and dtype)"
            if plan.round_quiet_sample
            else " (not in a quick run)"
        )
        + ". It records the share of the machine's CPU that other processes took during each round of 1 s or "
        "more and "
        "during the whole section (machine busy time from `/proc/stat` less the CPU time of the benchmark's "
        "own processes: itself, its servers and wrk). 100% would be both cores.",
        "",
        "| section | duration | waited before | others' share before | waited before rounds | "
        "others' share in the rounds, median (min–max) | others' share in the section |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *conditions,
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {v}" for k, v in versions(mlserver_version).items()),
        "",
        "## Targets (issue 5: item 2, and item 3's concurrent p99)",
        "",
        *targets_table(),
        "",
        *bounds_section(),
        *body,
    ]
    output.write_text("\n".join(report).rstrip() + "\n")
    print(f"[{elapsed:6.1f} s] wrote {output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
