"""In-process timings on pyperf: ``python benchmarks/inproc.py --spec FILE -o OUT.json [pyperf options]``. ``run.py``
writes the spec, a JSON list of benchmarks, each run in pyperf's worker processes: ``asgi`` (an ASGI app called in
process, no HTTP, its lifespan started first; ``service`` imported from ``tree`` with the access log and gRPC off),
``engine`` (``service.engine.compute`` with the gradient), ``torch`` (the loss and ``backward()``, 1 thread) and
``pass`` (one ``np.add(a, a, out=b)``)."""

from __future__ import annotations

import asyncio
import atexit
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyperf
from tools import loss_inputs, loss_params, torch_loss  # benchmarks/ is this script's directory


def asgi(spec: dict[str, Any]) -> Callable[[int], Any]:
    sys.path.insert(0, spec["tree"])
    os.environ.update(LOSS_SERVICE_ACCESS_LOG="false", LOSS_SERVICE_GRPC_PORT="0", LOSS_SERVICE_LOG_LEVEL="warning")
    module, _, attr = spec["app"].partition(":")
    app, body = getattr(importlib.import_module(module), attr), Path(spec["body_file"]).read_bytes()
    headers = {"host": "127.0.0.1", "content-length": str(len(body)), "content-type": "application/json"}
    headers = [(k.lower().encode(), v.encode()) for k, v in (headers | spec["headers"]).items()]
    loop, state, inbox, outbox = asyncio.new_event_loop(), {}, asyncio.Queue(), asyncio.Queue()

    async def lifespan(event: str) -> None:
        await inbox.put({"type": f"lifespan.{event}"})
        if (answer := await outbox.get())["type"] != f"lifespan.{event}.complete":
            raise RuntimeError(f"lifespan {event}: {answer}")

    async def many(count: int) -> int:
        status = [0]

        async def send(message: dict[str, Any]) -> None:
            status[0] = message.get("status", status[0])

        for _ in range(count):
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                     "scheme": "http", "path": spec["path"], "raw_path": spec["path"].encode(), "query_string": b"",
                     "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
                     "state": dict(state)}
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                return messages.pop() if messages else {"type": "http.disconnect"}  # noqa: B023 (awaited at once)

            await app(scope, receive, send)
        return status[0]

    task = loop.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}, inbox.get, outbox.put))
    loop.run_until_complete(lifespan("startup"))
    atexit.register(lambda: (loop.run_until_complete(lifespan("shutdown")), task.cancel()))
    if (status := loop.run_until_complete(many(1))) != 200:
        raise RuntimeError(f"{spec['path']} answered {status} in process")
    return lambda count: loop.run_until_complete(many(count))

def build(spec: dict[str, Any]) -> Callable[[int], Any]:
    """A function running the benchmark ``count`` times, made in the worker process that runs it."""
    if spec["kind"] == "asgi":
        return asgi(spec)
    if spec["kind"] == "pass":
        a = np.ones(spec["elements"], dtype=spec["dtype"])
        b, step = np.empty_like(a), lambda: np.add(a, a, out=b)
    elif spec["kind"] == "engine":
        sys.path.insert(0, spec["tree"])
        from service.engine import CATALOG, compute

        arrays = loss_inputs(spec["loss"], spec["elements"], 3)
        arrays = {k: np.ascontiguousarray(v, dtype=spec["dtype"]) for k, v in arrays.items()}
        loss, params = CATALOG[spec["loss"]], loss_params(spec["loss"])
        step = lambda: compute(loss, arrays, params, reduction="mean", return_grad=True, dtype=spec["dtype"])  # noqa: E731
    else:
        import torch

        torch.set_num_threads(1)
        y_true, y_pred = (torch.from_numpy(np.ascontiguousarray(v, dtype=spec["dtype"]))
                          for v in loss_inputs(spec["loss"], spec["elements"], 3).values())
        step = lambda: torch_loss(spec["loss"], y_true, y_pred.detach().requires_grad_()).backward()  # noqa: E731

    def run(count: int) -> None:
        for _ in range(count):
            step()

    return run

def timer(spec: dict[str, Any]) -> Callable[[int], float]:
    built: list[Callable[[int], Any]] = []

    def time_func(loops: int) -> float:
        if not built:  # only in the worker process that runs this benchmark
            built.append(build(spec))
        start = time.perf_counter()
        built[0](loops * spec.get("inner", 1))
        return time.perf_counter() - start

    return time_func

if __name__ == "__main__":
    runner = pyperf.Runner(add_cmdline_args=lambda cmd, args: cmd.extend(["--spec", args.spec]))
    runner.argparser.add_argument("--spec", required=True, help="the JSON list of benchmarks")
    for item in json.loads(Path(runner.parse_args().spec).read_text()):
        runner.bench_time_func(item["name"], timer(item), inner_loops=item.get("inner", 1))
