"""Large JSON computations in processes of their own, so that they never hold the event loop's GIL.

Parsing a 1e6-element JSON body is one simdjson call that holds the GIL for ~80 ms, and a
worker thread does not help: every other request of the worker waits that long
(benchmarks/RESULTS.md, section 7). Bodies of ``process_offload_bytes`` or more are
therefore sent to ``offload_processes`` helper processes per worker (started with the first
such body), which decode, validate, compute and encode with a dispatcher of their own and
send back the response body, or the problem to answer.

The bytes go over two pipes (1 MiB buffers), written from the caller's buffer and read into
one of the message's size, from a thread that releases the GIL while the kernel copies.
``concurrent.futures.ProcessPoolExecutor`` took ~200 ms to carry a 40 MB body there and its
20 MB answer back (pickling and its queue copy everything several times), and
``Connection.send_bytes``/``recv_bytes`` ~50 ms (64 KiB pipe buffers, a copy through
``BytesIO``), on this 2-core machine.

The worker keeps the books: it counts the computation and records the engine time the
helper measured, so /metrics is the same whichever way a request went. A helper ignores
SIGINT and SIGTERM (the server's shutdown ends it once in-flight requests are done); if one
dies anyway (out of memory), its request is answered 503 and the next one starts a fresh helper.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import multiprocessing
import os
import signal
import traceback
from multiprocessing import reduction
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from ..engine import CATALOG
from ..engine.errors import Issue
from ..settings import Settings
from ..transport import encode_json
from .dispatch import Dispatcher
from .metrics import record_engine
from .middleware import Admission
from .problems import ProblemError


def _share(data: bytes | bytearray, name: str) -> int:
    """A memory file holding ``data`` (the kernel copies it; the GIL is released meanwhile)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        view, offset = memoryview(data), 0
        while offset < len(view):
            offset += os.pwrite(fd, view[offset:], offset)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _serve(connection: Connection, max_elements: int) -> None:
    """A helper's life: (loss name, body) in, (outcome, response body) out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the worker ends its helpers when it is done
    dispatcher = Dispatcher(CATALOG, max_elements, record_metrics=False)
    while True:
        try:
            request = orjson.loads(connection.recv_bytes())
            fd = reduction.recv_handle(connection)
        except (EOFError, OSError):
            return
        name, size = request["name"], request["size"]
        content = b""
        try:
            mapping = mmap.mmap(fd, size, prot=mmap.PROT_READ) if size else contextlib.nullcontext(b"")
            with mapping as mapped, memoryview(mapped) as body:  # the view is released before the unmap
                document = dispatcher.compute(name, dispatcher.decode(name, body))
            content = encode_json(document)
            del document
        except ProblemError as problem:
            issues = [[list(issue.location), issue.detail] for issue in problem.errors]
            outcome: dict[str, Any] = {
                "problem": [problem.status, problem.kind, problem.detail, issues, problem.headers]
            }
        except Exception:  # a bug: the worker raises it (500, logged there); the helper lives on
            outcome = {"bug": traceback.format_exc()}
        else:
            elements, seconds = dispatcher.last_engine_run or (0, 0.0)
            outcome = {"ok": [elements, seconds], "size": len(content)}
        finally:
            os.close(fd)
        connection.send_bytes(orjson.dumps(outcome))
        if "ok" in outcome:
            answer = _share(content, "loss-service-answer")
            del content
            reduction.send_handle(connection, answer, os.getppid())
            os.close(answer)


class _Helper:
    def __init__(self, max_elements: int) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, not a fork of a threaded server
        self.connection, child_end = context.Pipe()  # a Unix socket pair: it can carry file descriptors
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child_end, max_elements), name="loss-service-offload", daemon=True
        )
        self.process.start()
        child_end.close()

    def exchange(self, name: str, box: list[bytearray]) -> tuple[dict[str, Any], bytes]:
        """Blocking (run it in a thread): hand the body over in a memory file, wait for the answer's.

        ``box`` holds the only reference to the body, dropped once the memory file has it, so
        that the worker does not hold the body and the answer at once.
        """
        body = box.pop()
        size = len(body)
        shared = _share(body, "loss-service-body")
        del body
        try:
            self.connection.send_bytes(orjson.dumps({"name": name, "size": size}))
            reduction.send_handle(self.connection, shared, self.process.pid or 0)
        finally:
            os.close(shared)
        outcome = orjson.loads(self.connection.recv_bytes())
        if "ok" not in outcome:
            return outcome, b""
        answer = reduction.recv_handle(self.connection)
        try:
            content = os.pread(answer, outcome["size"], 0) if outcome["size"] else b""
        finally:
            os.close(answer)
        if len(content) != outcome["size"]:
            raise OSError(f"the answer's memory file holds {len(content)} of {outcome['size']} bytes")
        return outcome, content

    def close(self, timeout: float = 30.0) -> None:
        self.connection.close()  # the helper sees EOF and returns
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class ProcessOffload:
    """The helper processes of one server worker, started on first use."""

    def __init__(self, settings: Settings, admission: Admission) -> None:
        self.processes = settings.offload_processes
        self.min_bytes = settings.process_offload_bytes
        self.max_elements = settings.max_elements
        self.retry_after_seconds = settings.retry_after_seconds
        self.admission = admission
        self._idle: asyncio.Queue[_Helper | None] | None = None
        self._helpers: set[_Helper] = set()

    def wanted(self, size: int, admitted_before: int) -> bool:
        """Whether a body of ``size`` bytes should be computed by a helper rather than in a thread.

        Only when the worker is serving other requests: some are in flight now, or some were
        admitted while this body arrived (``admitted_before`` is ``Admission.admitted`` when
        its request began). They are the ones a GIL-holding parse would stall. Alone, a body
        is computed in a thread, which saves the hand-over (~35 ms in process for a 40 MB body
        and its 20 MB answer, ~90 ms over HTTP, measured on this 2-core machine).
        """
        if self.processes == 0 or size < self.min_bytes:
            return False
        return self.admission.in_flight > 1 or self.admission.admitted > admitted_before

    def _queue(self) -> asyncio.Queue[_Helper | None]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.processes):
                self._idle.put_nowait(None)  # a slot; its helper starts when first needed
        return self._idle

    async def compute(self, name: str, box: list[bytearray]) -> bytes:
        """The response body for the body in ``box`` (its only reference) sent to ``POST /losses/{name}``.

        Raises ``ProblemError`` for the problem the computation found, or 503 if the helper died.
        """
        idle = self._queue()
        helper = await idle.get()
        try:
            if helper is None:
                helper = await run_in_threadpool(_Helper, self.max_elements)
                self._helpers.add(helper)
            # Not cancellable: the thread finishes the exchange, so the helper goes back in step.
            outcome, content = await run_in_threadpool(helper.exchange, name, box)
        except (EOFError, OSError):
            if helper is not None:
                self._helpers.discard(helper)
                await run_in_threadpool(helper.close, 1.0)
            helper = None  # its slot starts a fresh helper next time
            raise ProblemError(
                503,
                "overloaded",
                "the process computing this request ended before answering (out of memory?); retry",
                headers={"Retry-After": str(self.retry_after_seconds)},
            ) from None
        finally:
            idle.put_nowait(helper)
        if "bug" in outcome:
            raise RuntimeError(f"the offload helper failed computing {name}:\n{outcome['bug']}")
        if "problem" in outcome:
            status, kind, detail, issues, headers = outcome["problem"]
            raise ProblemError(status, kind, detail, [Issue(tuple(loc), text) for loc, text in issues], headers)
        elements, seconds = outcome["ok"]
        if elements:
            record_engine(name, elements, seconds)
        return content

    def close(self) -> None:
        """End the helpers; called when the server shuts down, after in-flight requests are done."""
        for helper in list(self._helpers):
            helper.close()
        self._helpers.clear()
        self._idle = None
