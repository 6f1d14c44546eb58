"""The benchmark suite: ``python -m benchmarks.run`` measures, writes its figures to ``benchmarks/results.json`` and
renders ``benchmarks/RESULTS.md`` from them (``--quick``: a smoke run, to ``results-quick.*``); ``--baseline-tree PATH``
also measures the service of that checkout (before) next to this one (after). See benchmarks/README.md."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

if __package__ in (None, ""):  # python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import orjson

from benchmarks.tools import (
    BENCH,
    MLSERVER_REQUIREMENTS,
    ROOT,
    OtherLoad,
    Wrk,
    app_server,
    ensure_mlserver,
    expect_ok,
    free_port,
    json_body,
    listening,
    loss_inputs,
    machine,
    med,
    mlserver,
    perf_analyzer,
    perf_analyzer_command,
    pyperf,
    ratio,
    request,
    service,
    serving,
    small_arrays,
    source_state,
    tree_stats,
    v2_binary_body,
    v2_json_body,
    versions,
    wait_quiet,
    wrk,
    wrk_workers,
)

LARGE, QUIET = ("mse", "binary_crossentropy", "categorical_crossentropy"), 0.10  # QUIET: the others' CPU share

# json_rounds: at 1e4 and 1e6 elements; pyperf: worker processes (rounds), values, warm-ups; README says the rest.
FULL = SimpleNamespace(
    json_rounds=(20, 7),
    binary_rounds=11,
    wrk_seconds=10.0,
    wrk_rounds=3,
    rss_rounds=3,
    warmup=1.0,
    mlserver_settings=(0, 1),
    pyperf=("-p", "6", "-n", "5", "-w", "1", "-l", "1"),
    quiet_wait=180.0,
)
QUICK = SimpleNamespace(
    json_rounds=(3, 2),
    binary_rounds=3,
    wrk_seconds=3.0,
    wrk_rounds=2,
    rss_rounds=1,
    warmup=0.0,
    mlserver_settings=(0,),
    pyperf=("-p", "2", "-n", "2", "-w", "1", "-l", "1"),
    quiet_wait=0.0,
)
R = SimpleNamespace(plan=FULL, trees=[("after", ROOT)], pa=(None, ""), mls=(None, ""))


def c(values: list[float], unit: str = "x") -> dict[str, Any]:  # a cell of per-round values: median (min–max)
    return {"v": [float(v) for v in values if v == v], "u": unit}


def alternate(count: int, measures: dict[Any, Callable[[], Any]]) -> dict[Any, list[Any]]:
    """``count`` rounds calling each measure once, one after the other (in reverse order every other round)."""
    found: dict[Any, list[Any]] = {key: [] for key in measures}
    for number in range(count):
        for key, measure in list(measures.items())[:: 1 if number % 2 == 0 else -1]:
            found[key].append(measure())
    return found


def shown(label: str) -> str:  # "after" only means something next to "before"
    return label if len(R.trees) > 1 else label.replace(" after", "")


def field(results: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in results]


def timed(answers: dict[str, Any], key: str, port: int, path: str, body: bytes, headers: Any = None) -> float:  # ms
    gc.collect()
    answers[key] = expect_ok(key, request(port, path, body, headers))
    return answers[key][0] * 1e3


class Section:
    """One section's figures as JSON: paragraphs, tables, targets; with a baseline, a before/after table."""

    def __init__(self, number: int, title: str) -> None:
        self.d: dict[str, Any] = {"number": number, "title": title, "blocks": [], "targets": []}
        self.ba: list[list[Any]] = []

    def text(self, *paragraphs: str) -> None:
        self.d["blocks"] += list(paragraphs)

    def table(self, head: list[str], rows: list[list[Any]]) -> None:
        self.d["blocks"].append({"head": head, "rows": rows})

    def target(self, text: str, values: list[float], limit: float, at_most: bool, unit: str = "x") -> str:
        met = med(values) <= limit if at_most else med(values) >= limit
        verdict = ("met" if met else "not met") if values else "not measured"
        self.d["targets"].append({"text": text, "cell": c(values, unit), "verdict": verdict})
        return verdict

    def before_after(self, what: str, found: dict[str, Any], prefix: str, unit: str, suffix: str = "") -> None:
        """A before/after row from ``found[f"{prefix} before{suffix}"]`` and ``found[f"{prefix} after{suffix}"]``."""
        if len(R.trees) > 1:
            before, after = found[f"{prefix} before{suffix}"], found[f"{prefix} after{suffix}"]
            self.ba.append([what, c(before, unit), c(after, unit), c(ratio(after, before))])

    def close(self) -> None:
        if self.ba:
            self.text(f"Before (`{R.trees[1][1]}`) and after (`{ROOT}`), measured alternately in the same rounds:")
            self.table(["measurement", "before", "after", "after / before"], self.ba)


def in_process(
    name: str,
    path: str,
    body: bytes,
    inner: int,
    headers: dict[str, str] | None = None,
    app: str = "service.app:app",
    trees: list[tuple[str, Path]] | None = None,
) -> list[dict[str, Any]]:
    """pyperf benchmarks of an ASGI app called in process (``tools.build``), one per tree: ``f"{name} {tree}"``."""
    return [
        {
            "name": f"{name} {label}",
            "kind": "asgi",
            "tree": str(tree),
            "app": app,
            "path": path,
            "body": body,
            "inner": inner,
            "headers": headers or {},
        }
        for label, tree in trees or R.trees
    ]


def floor(name: str, body: bytes, stages: dict[str, list[float]]) -> float:
    """orjson.loads + np.asarray + service.engine.compute + orjson.dumps in this process, no HTTP: milliseconds."""
    from service.engine import CATALOG, compute

    gc.collect()
    t = [time.perf_counter()]
    document = orjson.loads(body)
    t.append(time.perf_counter())
    arrays = {item.name: np.asarray(document[item.name]) for item in CATALOG[name].inputs}
    t.append(time.perf_counter())
    result = compute(CATALOG[name], arrays, document.get("params", {}), reduction="mean", return_grad=True)
    t.append(time.perf_counter())
    grads = {k: np.ascontiguousarray(g, dtype=np.float64) for k, g in (result.grads or {}).items()}
    orjson.dumps({"name": name, "loss": result.loss, "grad": grads}, option=orjson.OPT_SERIALIZE_NUMPY)
    t.append(time.perf_counter())
    for key, start, end in zip(("orjson.loads", "np.asarray", "compute", "orjson.dumps"), t, t[1:], strict=False):
        stages.setdefault(key, []).append((end - start) * 1e3)
    stages["loss"] = [result.loss]
    return (t[-1] - t[0]) * 1e3


def section_large_json(sec: Section) -> None:
    svc = {f"service {k}": service(free_port(), tree) for k, tree in R.trees}
    tb = app_server("textbook", "benchmarks.textbook_app:app", free_port())
    rows, stage_rows, checks, answers = [], [], [], {}
    with serving(*svc.values(), tb):
        for name in LARGE:
            for elements, count in zip((10_000, 1_000_000), R.plan.json_rounds, strict=True):
                path, body, stages = f"/losses/{name}", json_body(name, loss_inputs(name, elements)), {}
                measures = {k: partial(timed, answers, k, s.port, path, body) for k, s in svc.items()}
                measures["textbook"] = partial(timed, answers, "textbook", tb.port, path, body)
                measures["floor"] = partial(floor, name, body, stages)
                for key, measure in measures.items():  # warm-up; the textbook only at 1e4 (seconds at 1e6)
                    _ = measure() if elements == 10_000 or key != "textbook" else None
                stages.clear()
                t = alternate(count, measures)
                ours, theirs = (orjson.loads(answers[k][3]) for k in ("service after", "textbook"))
                agree = np.isclose(ours["loss"], stages["loss"][0], rtol=1e-9) and np.allclose(
                    ours["grad"]["y_pred"], theirs["grad"]["y_pred"], rtol=1e-9, atol=1e-18
                )
                checks.append(f"{name} {elements:.0e}: {'agree' if agree else 'DISAGREE'}")
                over, tb_over, verdicts = (
                    ratio(t["service after"], t["floor"]),
                    ratio(t["textbook"], t["service after"]),
                    "—",
                )
                if elements == 1_000_000:
                    verdicts = (
                        sec.target(f"JSON 1e6 {name}: service / in-process floor <= 0.7", over, 0.7, True)
                        + " / "
                        + sec.target(f"JSON 1e6 {name}: textbook / service >= 8", tb_over, 8.0, False)
                    )
                    stage_rows.append(
                        [
                            name,
                            *(c(stages[k], "ms") for k in list(stages)[:4]),
                            c(t["floor"], "ms"),
                            c(t["service after"], "ms"),
                        ]
                    )
                rows.append(
                    [
                        name,
                        f"{elements:.0e}",
                        f"{len(body) / 1e6:.1f}",
                        c(t["service after"], "ms"),
                        c(t["floor"], "ms"),
                        c(t["textbook"], "ms"),
                        c(over),
                        c(tb_over),
                        verdicts,
                    ]
                )
                sec.before_after(f"{name} {elements:.0e}, ms", t, "service", "ms")
    sec.text(
        f"One `http.client` request on a new connection each; {' and '.join(map(str, R.plan.json_rounds))} rounds "
        "at 1e4 and 1e6 elements of the service (shipped defaults), the textbook endpoint and the in-process floor:"
    )
    sec.table(
        [
            "loss",
            "elements",
            "body MB",
            "service (HTTP)",
            "in-process floor",
            "textbook (HTTP)",
            "service / floor",
            "textbook / service",
            "targets (<= 0.7x / >= 8x)",
        ],
        rows,
    )
    sec.text("Where the floor's time goes at 1e6 elements (same rounds):")
    sec.table(["loss", "orjson.loads", "np.asarray", "compute", "orjson.dumps", "floor", "service (HTTP)"], stage_rows)
    sec.text(
        "Answers checked against the floor and the textbook (rtol 1e-9, gradients too): " + "; ".join(checks) + "."
    )


def section_binary(sec: Section) -> None:
    arrays, infer, answers = loss_inputs("mse", 1_000_000), "/v2/models/mse/infer", {}
    (body, headers), json_path = v2_binary_body(arrays), json_body("mse", arrays)
    svc = {k: service(free_port(), tree) for k, tree in R.trees}
    floor_app = app_server("floor", "benchmarks.floor_app:app", free_port())
    with serving(*svc.values(), floor_app):
        size = len(expect_ok("binary", request(svc["after"].port, infer, body, headers))[3])
        measures = {
            f"binary {k}": partial(timed, answers, f"binary {k}", s.port, infer, body, headers) for k, s in svc.items()
        }
        measures["floor"] = partial(timed, answers, "floor", floor_app.port, "/floor", body)
        measures |= {
            f"json {k}": partial(timed, answers, f"json {k}", s.port, "/losses/mse", json_path) for k, s in svc.items()
        }
        _ = [measure() for measure in measures.values()]  # warm-up
        t = alternate(R.plan.binary_rounds, measures)
    head = int(answers["binary after"][2]["inference-header-content-length"])
    grad = np.frombuffer(answers["binary after"][3], dtype="<f8", offset=head + 8).reshape(arrays["y_pred"].shape)
    agrees = np.allclose(grad, 2 * (arrays["y_pred"] - arrays["y_true"]) / grad.size, rtol=1e-12, atol=0)
    over, json_over = ratio(t["binary after"], t["floor"]), ratio(t["json after"], t["binary after"])
    t |= pyperf(in_process("app", infer, body, 1, headers), R.plan.pyperf, 1e3)
    sec.text(
        f"`POST {infer}`, binary FP64 tensors ({len(body) / 1e6:.1f} MB) and `binary_data_output` (answer "
        f"{size / 1e6:.1f} MB); the transport floor reads the body and answers 14 bytes; "
        f"the JSON path is `POST /losses/mse` ({len(json_path) / 1e6:.1f} MB); "
        f"{R.plan.binary_rounds} rounds. Gradient against 2 (y_pred - y_true) / N: {'agrees' * agrees or 'DIFFERS'}."
    )
    sec.table(
        ["what", "time", "ratio", "target", "verdict"],
        [
            ["service, binary", c(t["binary after"], "ms"), "", "", ""],
            [
                "transport floor (14-byte answer)",
                c(t["floor"], "ms"),
                c(over),
                "service / floor <= 1.5x",
                sec.target("binary 1e6 mse: service / transport floor <= 1.5", over, 1.5, True),
            ],
            [
                "service, JSON `/losses/mse`",
                c(t["json after"], "ms"),
                c(json_over),
                "JSON / binary >= 5x",
                sec.target("binary 1e6 mse: service JSON / binary >= 5", json_over, 5.0, False),
            ],
            ["service's ASGI app in process, binary (pyperf)", c(t["app after"], "ms"), "", "", ""],
        ],
    )
    for prefix in ("binary", "json", "app"):
        sec.before_after(f"{prefix} 1e6 mse{', in process' * (prefix == 'app')}, ms", t, prefix, "ms")


def wrk_row(label: str, results: list[dict[str, Any]]) -> list[Any]:
    bad = sum(
        r["non_2xx"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"] for r in results
    )
    return [
        shown(label),
        c(field(results, "rps"), "req/s"),
        c(field(results, "p50_ms"), "ms"),
        c(field(results, "p99_ms"), "ms"),
        f"**{bad}**" if bad else "0",
    ]


def section_small(sec: Section) -> None:
    body = json_body("mse", small_arrays())
    sec.text(
        f"32x4 MSE + gradient ({len(body)} bytes); wrk, 32 connections, {R.plan.wrk_rounds} rounds of "
        f"{R.plan.wrk_seconds:g} s. The service with its shipped defaults (access log on) and, with 1 worker, "
        "`LOSS_SERVICE_ACCESS_LOG=false`; the FastAPI constant route answers as many bytes."
    )
    for workers in (1, 2):
        one = workers == 1
        svc = {f"service {k}": service(free_port(), tree, workers) for k, tree in R.trees}
        svc |= (
            {f"service {k}, log off": service(free_port(), tree, 1, access_log=False) for k, tree in R.trees}
            if one
            else {}
        )
        with serving(*svc.values()):
            size = len(expect_ok("small", request(svc["service after"].port, "/losses/mse", body))[3])
            env = {"BENCH_CONSTANT_BYTES": str(size)}
            with serving(app_server("constant", "benchmarks.constant_app:app", free_port(), workers, env)) as constant:
                targets = {k: (s, "/losses/mse") for k, s in svc.items()}
                targets["FastAPI constant"] = (constant, "/constant")
                for server, path in targets.values() if R.plan.warmup else []:
                    wrk(server.port, path, body, R.plan.warmup)
                found = alternate(
                    R.plan.wrk_rounds,
                    {k: partial(wrk_workers, s, path, body, R.plan.wrk_seconds) for k, (s, path) in targets.items()},
                )
        rps = {k: field(v, "rps") for k, v in found.items()} | {
            f"p99 {k}": field(v, "p99_ms") for k, v in found.items()
        }
        over, p99 = ratio(rps["service after"], rps["FastAPI constant"]), rps["p99 service after"]
        ratios = [
            [
                "service / FastAPI constant route, req/s",
                c(over),
                ">= 0.40x" * one or "—",
                sec.target("small, 1 worker: service / constant FastAPI route req/s >= 0.40", over, 0.40, False)
                if one
                else "—",
            ],
            [
                "service p99",
                c(p99, "ms"),
                "<= 10 ms",
                sec.target(f"small, {workers} worker(s): p99 <= 10 ms", p99, 10, True, "ms"),
            ],
        ]
        checks = [("access log on / off", "service after, log off", 0.90)] * one
        checks += [("after / before", "service before", 1.0)] * (one and len(R.trees) > 1)
        for what, other, limit in checks:
            values = ratio(rps["service after"], rps[other])
            ratios.append(
                [
                    f"service req/s {what}",
                    c(values),
                    f">= {limit:.2f}x",
                    sec.target(f"small, 1 worker: req/s {what} >= {limit:.2f}", values, limit, False),
                ]
            )
        sec.text(f"**{workers} worker{'s' * (not one)}**")
        if one:
            sec.table(["server", "req/s", "p50", "p99", "errors"], [wrk_row(k, v) for k, v in found.items()])
        else:
            sec.text(
                "busiest worker: its share of the CPU the workers used in a round (0.50 is an even split). wrk opens "
                "its 32 connections at once and whichever worker wakes first may accept them all: a round near 1.00 "
                "measured one worker, whatever the code."
            )
            sec.table(
                ["server", "req/s", "p50", "p99", "errors", "busiest worker"],
                [[*wrk_row(k, v), c(field(v, "busiest_worker_share"), "")] for k, v in found.items()],
            )
        sec.table(["ratio (per round)", "value", "target", "verdict"], ratios)
        for suffix in ("", ", log off")[: 2 if one else 1]:
            sec.before_after(f"{workers} worker(s){suffix}, req/s", rps, "service", "req/s", suffix)
            sec.before_after(f"{workers} worker(s){suffix}, p99", rps, "p99 service", "ms", suffix)
    cpu = pyperf(
        in_process("service", "/losses/mse", body, 500)
        + in_process("constant", "/constant", body, 500, app="constant_app:app", trees=R.trees[:1]),
        R.plan.pyperf,
        1e6,
    )
    sec.text("CPU per request of the ASGI apps called in process, no HTTP (pyperf; the service's access log off):")
    sec.table(
        ["app", "µs per request"],
        [
            ["service `POST /losses/mse`", c(cpu["service after"], "us")],
            ["FastAPI constant route", c(cpu["constant after"], "us")],
        ],
    )
    sec.before_after("service app in process, µs per request", cpu, "service", "us")


def section_v2(sec: Section) -> None:
    arrays, infer, (pa, why), (exe, mls) = small_arrays(), "/v2/models/mse/infer", R.pa, R.mls
    bodies = {"HTTP JSON": (v2_json_body(arrays), None), "HTTP binary": v2_binary_body(arrays)}
    pa_data = {"data": [{k: {"content": a.ravel().tolist(), "shape": list(a.shape)} for k, a in arrays.items()}]}
    servers = {f"service {k}": service(free_port(), tree, grpc_port=free_port()) for k, tree in R.trees}
    servers |= (
        {f"MLServer {mls} pw={pw}": mlserver(exe, free_port(), free_port(), pw) for pw in R.plan.mlserver_settings}
        if exe
        else {}
    )
    grpc = {k: int(s.env.get("LOSS_SERVICE_GRPC_PORT") or s.env["MLSERVER_GRPC_PORT"]) for k, s in servers.items()}
    notes, missing, answers, measures = [], [], {}, {}
    with serving(*servers.values(), failed=notes):
        servers = {label: server for label, server in servers.items() if server.proc.poll() is None}
        try:
            _ = perf_analyzer(pa, servers["service after"].port, "http", pa_data, 1.0) if pa else None
        except RuntimeError as error:
            pa, why = None, f"it runs, but not against the service: {error}"
        for label, server in servers.items():  # another server, protocol or tool: a line each
            for protocol in (("HTTP JSON",) if label.startswith("MLServer") else tuple(bodies)) + ("gRPC",):
                if protocol == "gRPC" and (pa is None or not listening(grpc[label])):
                    why_not = f"perf_analyzer: {why}" if listening(grpc[label]) else "nothing listens on its gRPC port"
                    missing.append([shown(label), protocol, "—", f"not available ({why_not})", "", "", ""])
                elif pa:
                    port, kind = (grpc[label], "grpc") if protocol == "gRPC" else (server.port, "http")
                    measures[label, protocol] = partial(
                        perf_analyzer, pa, port, kind, pa_data, R.plan.wrk_seconds, protocol != "HTTP JSON"
                    )
                else:
                    body, headers = bodies[protocol]
                    measures[label, protocol] = partial(
                        wrk, server.port, infer, body, R.plan.wrk_seconds, headers=headers
                    )
                    _ = wrk(server.port, infer, body, R.plan.warmup, headers=headers) if R.plan.warmup else None
            document = orjson.loads(request(server.port, infer, bodies["HTTP JSON"][0])[3])
            answers[label] = [o["data"] for o in sorted(document["outputs"], key=lambda o: o["name"] != "loss")]
        found = alternate(R.plan.wrk_rounds, measures)
    tool, rps = "perf_analyzer" if pa else "wrk", {f"{k[0]} {k[1]}": field(v, "rps") for k, v in found.items()}
    rows = [
        [
            shown(k[0]),
            k[1],
            tool,
            c(field(v, "rps"), "req/s"),
            c(field(v, "p50_ms"), "ms"),
            c(field(v, "p99_ms"), "ms"),
            "",
        ]
        for k, v in found.items()
    ]
    fastest = max([k for k in rps if k.startswith("MLServer") and "JSON" in k], key=lambda k: med(rps[k]), default="")
    pairs = [
        ("HTTP binary", "service after HTTP JSON"),
        ("gRPC", "service after HTTP binary"),
        ("HTTP JSON", fastest),
        ("gRPC", fastest.replace("HTTP JSON", "gRPC")),
    ]
    ratios = [
        [f"{shown('service after ' + a)} / {b}", c(ratio(rps[f"service after {a}"], rps[b]))]
        for a, b in pairs
        if f"service after {a}" in rps and b in rps
    ]
    _ = fastest and sec.target(
        f"/v2 small requests: service / {fastest} req/s >= 2",
        ratio(rps["service after HTTP JSON"], rps[fastest]),
        2.0,
        False,
    )
    agree = all(
        np.allclose(a, answers["service after"][0], rtol=1e-12)
        and np.allclose(b, answers["service after"][1], rtol=1e-12)
        for a, b in answers.values()
    )
    sec.text(
        f"`POST {infer}`, 32x4 FP64 `y_true` and `y_pred`, `return_grad`, 32 requests at a time, {R.plan.wrk_rounds}"
        f" rounds of {R.plan.wrk_seconds:g} s, with {tool} (perf_analyzer: {why if pa is None else R.pa[1]}). "
        f"MLServer (`mlserver_model/`; {' '.join(MLSERVER_REQUIREMENTS)} in `benchmarks/.venv-mlserver`): "
        f"{mls if exe else 'not run: ' + mls}. The services get a free `LOSS_SERVICE_GRPC_PORT` here. Loss and "
        f"gradient agree across the servers (rtol 1e-12): {'yes' if agree else 'NO'}.",
        *notes,
    )
    sec.table(["server", "protocol", "tool", "req/s", "p50", "p99", ""], rows + missing)
    sec.table(["ratio (per round)", "value"], ratios)
    for protocol in (p for p in ("HTTP JSON", "HTTP binary", "gRPC") if f"service before {p}" in rps):
        sec.before_after(f"/v2 {protocol}, req/s", rps, "service", "req/s", f" {protocol}")


def section_engine(sec: Section) -> None:
    dtypes = ("float64", "float32")
    losses = [(n, d) for n in (*LARGE, "binary_focal") for d in dtypes]
    specs = [{"name": f"pass {d}", "kind": "pass", "dtype": d, "elements": 10**6, "inner": 20} for d in dtypes]
    for name, dtype in losses:
        common = {"loss": name, "dtype": dtype, "elements": 10**6}
        specs += [{"name": f"engine {name} {dtype} {k}", "kind": "engine", "tree": str(t)} | common for k, t in R.trees]
        specs.append({"name": f"torch {name} {dtype}", "kind": "torch"} | common)
    found, rows = pyperf(specs, R.plan.pyperf, 1e3), []
    for name, dtype in losses:
        engine, reference, one = (
            found[f"engine {name} {dtype} after"],
            found[f"torch {name} {dtype}"],
            med(found[f"pass {dtype}"]),
        )
        over = ratio(engine, reference)
        rows.append(
            [
                name,
                dtype,
                c(engine, "ms"),
                c(reference, "ms"),
                c(over),
                sec.target(f"engine / torch <= 1.0: {name} {dtype}", over, 1.0, True),
                f"{med(engine) / one:.0f}",
                f"{med(reference) / one:.0f}",
            ]
        )
        sec.before_after(f"engine {name} {dtype}, ms", found, f"engine {name} {dtype}", "ms")
    sec.text(
        "1e6 elements, forward and gradient; the engine and torch (1 thread) timed with pyperf, a round being a "
        "worker process of each; a pass is one `np.add(a, a, out=b)` over the array: "
        + ", ".join(f"{fmt(c(found[f'pass {d}'], 'ms'))} in {d}" for d in dtypes)
        + "."
    )
    sec.table(
        [
            "loss",
            "dtype",
            "engine",
            "torch (1 thread)",
            "engine / torch",
            "target <= 1.0x",
            "engine, passes",
            "torch, passes",
        ],
        rows,
    )


def section_rss(sec: Section) -> None:
    body, small, keys, t = json_body("mse", loss_inputs("mse", 10**6)), json_body("mse", small_arrays()), [], {}
    for _, (label, tree) in ((r, tree) for r in range(R.plan.rss_rounds) for tree in R.trees):
        with serving(service(free_port(), tree)) as server:
            expect_ok("small", request(server.port, "/losses/mse", small))
            start = tree_stats(server.proc.pid)
            expect_ok("1e6 JSON", request(server.port, "/losses/mse", body))
            end = tree_stats(server.proc.pid)
        for key, value in (
            ("RSS before", start["rss"]),
            ("peak", end["hwm"]),
            ("worker peak", end["processes"][0]["hwm"]),
            ("peak / body", end["hwm"] / len(body) * 1e6),
            ("growth / body", (end["hwm"] - start["rss"]) / len(body) * 1e6),
        ):
            t.setdefault(f"{key} {label}", []).append(value / 1e6)
            keys += [key] * (key not in keys)
    v = sec.target("peak RSS of the server / body size <= 3 (1e6-element JSON mse)", t["peak / body after"], 3.0, True)
    sec.text(
        f"A fresh service (1 worker, shipped defaults), one small request, then one 1e6-element `POST /losses/mse` "
        f"({len(body) / 1e6:.1f} MB body); `VmHWM` summed over the server's process tree (psutil) after it; "
        f"{R.plan.rss_rounds} round(s)."
    )
    sec.table(
        ["what", "value"],
        [
            ["RSS before the request (after start-up and one small request)", c(t["RSS before after"], "MB")],
            ["peak RSS after the request, server and descendants", c(t["peak after"], "MB")],
            ["of which the worker process", c(t["worker peak after"], "MB")],
            ["peak RSS / body size (target <= 3x)", f"{fmt(c(t['peak / body after']))}: {v}"],
            ["(peak RSS - RSS before) / body size", c(t["growth / body after"])],
        ],
    )
    for key in keys:
        sec.before_after(key + (", MB" if "/" not in key else ""), t, key, "MB" if "/" not in key else "x")


def section_concurrent(sec: Section) -> None:
    import simdjson

    small, large = json_body("mse", small_arrays()), json_body("mse", loss_inputs("mse", 1_000_000))
    svc = {k: service(free_port(), tree) for k, tree in R.trees}

    def loaded(server: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        heavy = Wrk(server.port, "/losses/mse", large, R.plan.wrk_seconds, connections=1)
        time.sleep(0.2)  # the first large body is on its way
        found = wrk(server.port, "/losses/mse", small, R.plan.wrk_seconds), heavy.result()
        deadline, cpu = time.monotonic() + 60, tree_stats(server.proc.pid)["cpu"]
        while time.monotonic() < deadline and (time.sleep(0.5) or tree_stats(server.proc.pid)["cpu"] - cpu > 0.025):
            cpu = tree_stats(server.proc.pid)["cpu"]  # a large request cut off by wrk's end may still be computing
        return found

    with serving(*svc.values()):
        for server in svc.values():
            request(server.port, "/losses/mse", large)
            _ = wrk(server.port, "/losses/mse", small, R.plan.warmup) if R.plan.warmup else None
        measures = {f"idle {k}": partial(wrk, s.port, "/losses/mse", small, R.plan.wrk_seconds) for k, s in svc.items()}
        t = alternate(R.plan.wrk_rounds, measures | {f"loaded {k}": partial(loaded, s) for k, s in svc.items()})
    parse = [
        ((simdjson.Parser().parse(large), time.perf_counter())[1] - start) * 1e3  # one C call, holding the GIL
        for start in (time.perf_counter() for _ in range(5))
    ]
    t |= {f"small {k}": [r[0] for r in t[f"loaded {k}"]] for k, _ in R.trees}
    p99 = {k: field(v, "p99_ms") for k, v in t.items() if not k.startswith("loaded")}
    p99 |= {f"over {k}": ratio(p99[f"small {k}"], p99[f"idle {k}"]) for k, _ in R.trees}
    big = [r[1] for r in t["loaded after"]]
    sec.text(
        f"One service (1 worker, shipped defaults: large bodies arriving while others are served go to its helper "
        f"process). Each round: wrk (32 connections, {R.plan.wrk_seconds:g} s) on the 32x4 MSE request alone, then "
        f"while a second wrk (1 connection) sends 1e6-element requests ({len(large) / 1e6:.1f} MB) back to back."
    )
    sec.table(
        ["load", "req/s", "p50", "p99", "errors"],
        [wrk_row("small requests alone", t["idle after"]), wrk_row("with 1e6-element requests", t["small after"])],
    )
    sec.table(
        ["ratio (per round)", "value", "target", "verdict"],
        [
            [
                "loaded p99 / idle p99",
                c(p99["over after"]),
                "<= 2x",
                sec.target(
                    "p99 of small requests with 1e6-element requests running / idle p99 <= 2",
                    p99["over after"],
                    2,
                    True,
                ),
            ]
        ],
    )
    sec.text(
        f"Large requests answered per loaded run: {sum(field(big, 'requests')) / len(big):.1f}, each "
        f"{fmt(c([r['mean_us'] / 1e3 for r in big if r['requests']], 'ms'))} (the runs' means). "
        "One simdjson parse of such a body (one C "
        f"call, holding the GIL) takes {fmt(c(parse, 'ms'))} here."
    )
    for prefix, what in (("idle", "idle p99"), ("small", "loaded p99"), ("over", "loaded / idle p99")):
        sec.before_after(what, p99, prefix, "x" if prefix == "over" else "ms")


def section_grpc(sec: Section) -> None:
    """The service's gRPC against its own /v2 binary over HTTP, and against MLServer's gRPC, on the same bytes."""
    import asyncio

    from benchmarks import grpc_load

    (exe, mls), rounds, seconds = R.mls, R.plan.binary_rounds, R.plan.wrk_seconds
    ours = service(free_port(), grpc_port=free_port())
    servers = {"service": ours} | ({"MLServer": mlserver(exe, free_port(), free_port(), 0)} if exe else {})
    if exe:  # as large a message as the service accepts (LOSS_SERVICE_MAX_BODY_BYTES' default)
        servers["MLServer"].env["MLSERVER_GRPC_MAX_MESSAGE_LENGTH"] = str(64 * 2**20)
    grpc = {k: int(s.env.get("LOSS_SERVICE_GRPC_PORT") or s.env["MLSERVER_GRPC_PORT"]) for k, s in servers.items()}
    notes: list[str] = []
    with serving(*servers.values(), failed=notes):
        up = {k: s for k, s in servers.items() if s.proc is not None and s.proc.poll() is None}
        large = asyncio.run(grpc_load.large(grpc["service"], ours.port, rounds))
        if "MLServer" in up:  # 3 rounds at most: a 1e6-element request takes it seconds
            large["MLServer grpc_ms"] = asyncio.run(grpc_load.large(grpc["MLServer"], None, min(rounds, 3)))["grpc_ms"]

        def small(server: Any, port: int, protocol: str) -> dict[str, float]:
            cpu = tree_stats(server.proc.pid)["cpu"]
            figures = asyncio.run(grpc_load.small(port, protocol, seconds))
            return figures | {"cpu_us": (tree_stats(server.proc.pid)["cpu"] - cpu) / figures["requests"] * 1e6}

        measures = {("service", "gRPC"): partial(small, ours, grpc["service"], "grpc")}
        measures[("service", "HTTP binary")] = partial(small, ours, ours.port, "http_binary")
        if "MLServer" in up:
            measures[("MLServer", "gRPC")] = partial(small, up["MLServer"], grpc["MLServer"], "grpc")
        found = alternate(R.plan.wrk_rounds, measures)
    http_over_grpc = ratio(large["http_binary_ms"], large["grpc_ms"])
    sec.text(
        "`ModelInfer` of `mse` with `return_grad` (raw contents, a grpc.aio channel) against the same request as "
        "`/v2` binary tensors over HTTP/1.1 keep-alive, on one service with shipped defaults and a free "
        f"`LOSS_SERVICE_GRPC_PORT`; MLServer (parallel_workers=0, {mls if exe else 'not run: ' + mls}) on the same "
        f"gRPC bytes. Large: 1e6-element FP64 arrays, one request at a time, {rounds} rounds alternating the "
        f"protocols after {grpc_load.WARM_UP_ROUNDS} to warm up (MLServer: {min(rounds, 3)}). Small: 32x4, 32 calls "
        f"at once for {seconds:g} s, {R.plan.wrk_rounds} rounds; server CPU per request from psutil.",
        *notes,
    )
    rows = [
        ["service, gRPC", c(large["grpc_ms"], "ms"), ""],
        ["service, HTTP binary", c(large["http_binary_ms"], "ms"), c(http_over_grpc)],
    ]
    if "MLServer grpc_ms" in large:
        rows.append(
            [
                "MLServer, gRPC",
                c(large["MLServer grpc_ms"], "ms"),
                c(ratio(large["MLServer grpc_ms"], large["grpc_ms"][:3])),
            ]
        )
    sec.table(["1e6 elements", "time", "over the service's gRPC"], rows)
    grpc_rps = field(found["service", "gRPC"], "req_per_s")
    sec.table(
        ["32x4, 32 at once", "req/s", "p50", "p99", "server CPU per request", "service gRPC req/s over this"],
        [
            [
                f"{server}, {protocol}",
                c(field(v, "req_per_s"), "req/s"),
                c(field(v, "p50_ms"), "ms"),
                c(field(v, "p99_ms"), "ms"),
                c(field(v, "cpu_us"), "us"),
                c(ratio(grpc_rps, field(v, "req_per_s"))) if (server, protocol) != ("service", "gRPC") else "",
            ]
            for (server, protocol), v in found.items()
        ],
    )


SECTIONS: list[tuple[str, Callable[[Section], None]]] = [
    ("Large JSON: the service over HTTP, the in-process floor, a textbook FastAPI endpoint", section_large_json),
    ("Binary Open Inference Protocol, 1e6 elements (MSE + gradient)", section_binary),
    ("Small requests (32x4, MSE + gradient) under wrk", section_small),
    ("/v2 against a peer, MLServer; perf_analyzer and gRPC", section_v2),
    ("The engine alone against torch CPU (1 thread), forward + gradient", section_engine),
    ("Peak RSS of the server for one 1e6-element JSON request", section_rss),
    ("Small requests while 1e6-element JSON requests run", section_concurrent),
    ("The Open Inference Protocol over gRPC: against HTTP binary and MLServer's gRPC", section_grpc),
]


def fmt(cell: Any) -> str:
    if not isinstance(cell, dict):
        return str(cell)
    if not (values := cell["v"]):
        return "n/a"
    m, unit = med(values), cell["u"]
    digits = 0 if abs(m) >= 100 or unit == "req/s" else 1 if abs(m) >= 10 else 2
    text = f"{m:.{digits}f}{ {'x': 'x', 'req/s': '', '': '', '%': '%', 'us': ' µs'}.get(unit, ' ' + unit) }"
    return text if len(values) == 1 else f"{text} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def table(head: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    return [*lines, *("| " + " | ".join(map(fmt, row)) + " |" for row in rows), ""]


def render(data: dict[str, Any]) -> str:
    meta, sections, v = data["meta"], data["sections"], data["meta"]["versions"]
    out = [
        f"# Benchmark results{' (quick smoke run)' * meta['quick']}",
        "",
        f"Written by `{meta['command']}` on {meta['date']} in {meta['seconds']:.0f} s; figures in `{meta['json']}`: "
        "medians (min–max) over the rounds, ratios formed per round, a target met when its median is. "
        "`benchmarks/README.md` says how each section measures.",
        "",
        "## Machine, code, tools",
        "",
        *(f"- {k}: {value}" for k, value in meta["machine"].items()),
        *(f"- code measured, {label}: {state}" for label, state in meta["trees"]),
        f"- wrk {v['wrk']}; pyperf {v.get('pyperf')}; psutil {v.get('psutil')}; perf_analyzer: {meta['perf_analyzer']}"
        f"; MLServer: {meta['mlserver']}",
        "- " + ", ".join(f"{k} {value}" for k, value in v.items() if k != "wrk"),
        "",
        f"Before each section the run waits (at most {meta['plan']['quiet_wait']:.0f} s) until other processes use at "
        f"most {QUIET:.0%} of the CPU (psutil; 100% = all cores); their share before and during each section:",
        "",
        *table(
            ["section", "duration", "waited", "others before", "others during"],
            [
                [
                    s["number"],
                    f"{s['seconds']:.0f} s",
                    f"{s['waited']:.0f} s",
                    c([100 * s["share_before"]], "%"),
                    c([100 * s["share"]], "%"),
                ]
                for s in sections
            ],
        ),
        "## Targets",
        "",
        *table(
            ["section", "target", "measured", "verdict"],
            [[s["number"], t["text"], t["cell"], t["verdict"]] for s in sections for t in s["targets"]],
        ),
    ]
    for s in sections:
        out += [f"## {s['number']}. {s['title']}", ""]
        for block in s["blocks"]:
            out += table(block["head"], block["rows"]) if isinstance(block, dict) else [block, ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes, to results-quick.*")
    parser.add_argument("--only", type=int, action="append", help="run only section N (repeatable)")
    parser.add_argument("--baseline-tree", type=Path, help="a checkout of an older commit: measure its service too")
    parser.add_argument("--output", type=Path, help="the Markdown report (default benchmarks/RESULTS.md)")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only render a results JSON to the report")
    args = parser.parse_args(argv)
    stem, output = (
        "results-quick" if args.quick else "results",
        args.output or BENCH / f"RESULTS{'-quick' * args.quick}.md",
    )
    if args.render:
        return output.write_text(render(json.loads(args.render.read_text()))) and 0
    if args.baseline_tree and not (args.baseline_tree / "service" / "__main__.py").exists():
        parser.error(f"{args.baseline_tree} has no service/ to start")
    R.plan = QUICK if args.quick else FULL
    R.trees += [("before", args.baseline_tree.resolve())] if args.baseline_tree else []
    selected = [n for n in range(1, len(SECTIONS) + 1) if not args.only or n in args.only]
    R.pa = perf_analyzer_command() if 4 in selected else (None, "not run")
    R.mls = ensure_mlserver() if {4, 8} & set(selected) else (None, "not run")
    started, sections = time.monotonic(), []
    for number in selected:
        title, function = SECTIONS[number - 1]
        print(f"[{time.monotonic() - started:6.1f} s] {number}. {title} ...", flush=True)
        share_before, waited = wait_quiet(QUIET, R.plan.quiet_wait, 2.0 if R.plan.quiet_wait else 0.0)
        sec, load, section_start = Section(number, title), OtherLoad(), time.monotonic()
        try:
            function(sec)
        except Exception as error:  # report it and go on with the next section
            traceback.print_exc()
            sec.text(f"**This section failed**: `{error!r}`")
        sec.close()
        sections.append(
            sec.d
            | {
                "seconds": time.monotonic() - section_start,
                "waited": waited,
                "share": load.share(),
                "share_before": share_before,
            }
        )
    meta = {
        "command": " ".join(["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)]),
        "quick": args.quick,
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "seconds": time.monotonic() - started,
        "json": f"benchmarks/{stem}.json",
        "machine": machine(),
        "versions": versions(),
        "plan": vars(R.plan),
        "perf_analyzer": R.pa[1],
        "mlserver": R.mls[1] if R.mls[0] else f"not available ({R.mls[1]})",
        "trees": [(label, source_state(tree)) for label, tree in R.trees],
    }
    (BENCH / f"{stem}.json").write_text(
        json.dumps(data := {"meta": meta, "sections": sections}, indent=1, ensure_ascii=False)
    )
    output.write_text(render(data))
    print(f"[{time.monotonic() - started:6.1f} s] wrote benchmarks/{stem}.json and {output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
