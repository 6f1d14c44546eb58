"""Where a request's CPU work runs: inline on the event loop, in a worker thread, or in a helper process.

The one policy, for every protocol:

- a body under ``offload_bytes`` is computed inline: a thread hop would cost more than the work;
- a JSON body of ``process_offload_bytes`` or more that arrives while the worker serves other
  requests goes to a helper process: parsing it is one call that holds the GIL for its whole
  length (~70 ms for 40 MB), which a thread would not release to the small requests waiting;
- any other large body goes to a worker thread (a binary tensor body holds the GIL only briefly,
  and a large JSON body that arrives alone skips the hand-over to a helper, ~35 ms for 40 MB).

The helpers are a ``concurrent.futures.ProcessPoolExecutor`` of spawned processes, started with
the first body that needs one. The body and the answer cross in ``multiprocessing.shared_memory``
segments, so only their names are pickled; the worker copies a body into its segment with NumPy,
which releases the GIL (a copy by memoryview slices held it, stalling the event loop for tens of
milliseconds per 40 MB body). A helper that dies during a request (out of memory) breaks the pool:
that request gets a 503 with ``Retry-After``; the next one starts a fresh pool.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Literal

import numpy as np
from anyio import to_thread

from ..settings import Settings
from .admission import Admission
from .pipeline import Answer, Body, Codec, Meta, Refused, respond

Where = Literal["inline", "thread", "process"]


class Placement:
    def __init__(self, settings: Settings, admission: Admission) -> None:
        self.thread_bytes = settings.offload_bytes
        self.process_bytes = settings.process_offload_bytes
        self.admission = admission
        self.max_elements = settings.max_elements
        self.helpers = (
            Helpers(settings.offload_processes, settings.retry_after_seconds) if settings.offload_processes else None
        )

    def choose(self, size: int, parses_json: bool, arrived: int) -> Where:
        """Where to compute a body of ``size`` bytes; ``arrived`` is ``Admission.admitted`` when it began to arrive."""
        others = self.admission.in_flight > 1 or self.admission.admitted > arrived  # being served, or were
        if self.helpers is not None and parses_json and size >= self.process_bytes and others:
            return "process"
        return "thread" if size >= self.thread_bytes else "inline"

    async def run(self, where: Where, codec: Codec[Any], loss: str | None, body: Body, meta: Meta) -> Answer:
        if where == "inline":
            return respond(codec, loss, body, meta, self.max_elements)
        if where == "thread":
            return await to_thread.run_sync(respond, codec, loss, body, meta, self.max_elements)
        assert self.helpers is not None
        return await self.helpers.respond(codec, loss, body, meta, self.max_elements)

    def close(self) -> None:
        if self.helpers is not None:
            self.helpers.close()


def _ignore_signals() -> None:
    """A helper leaves SIGINT (Ctrl-C reaches the whole group) and SIGTERM to its worker, which ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Helpers:
    """The helper processes of one server worker."""

    def __init__(self, processes: int, retry_after_seconds: int) -> None:
        self.processes = processes
        self.retry_after_seconds = retry_after_seconds
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_signals
            )
        return self._executor

    async def respond(self, codec: Codec[Any], loss: str | None, body: Body, meta: Meta, max_elements: int) -> Answer:
        shared = await to_thread.run_sync(_share, body.take())
        try:
            future = self._submit(_respond_in_helper, codec, loss, shared.name, body.size, meta, max_elements)
            try:
                # Shielded: the helper finishes what it started; if this request is cancelled
                # meanwhile (the client left), the answer's segment is removed when it is done.
                answer, name, size = await asyncio.shield(asyncio.wrap_future(future))
            except asyncio.CancelledError:
                future.add_done_callback(_discard_answer)
                raise
            except BrokenProcessPool:
                self._replace()
                raise Refused(
                    503,
                    "overloaded",
                    "the process computing this request ended before answering (out of memory?); retry",
                    self.retry_after_seconds,
                ) from None
        finally:
            shared.close()
            shared.unlink()
        content = await to_thread.run_sync(_take, name, size)
        return replace(answer, content=content)

    def _submit(self, *call: Any) -> Future[Any]:
        """Submit to the pool; one that broke before this request (a helper died between requests) is replaced
        first: nothing of this request ran there, so it runs, rather than costing a 503."""
        try:
            return self._pool().submit(*call)
        except BrokenProcessPool:
            self._replace()
            return self._pool().submit(*call)

    def _replace(self) -> None:
        broken, self._executor = self._executor, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """End the helpers; called at shutdown, once the requests in flight are done."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _share(data: bytes | bytearray | memoryview) -> SharedMemory:
    """A new shared memory segment holding ``data``."""
    shared = SharedMemory(create=True, size=max(len(data), 1))
    try:
        if len(data):  # NumPy copies with the GIL released: the worker's event loop runs on meanwhile
            np.copyto(np.frombuffer(_buffer(shared), np.uint8, count=len(data)), np.frombuffer(data, np.uint8))
    except BaseException:
        shared.close()
        shared.unlink()
        raise
    return shared


def _buffer(shared: SharedMemory) -> memoryview:
    buffer = shared.buf
    assert buffer is not None  # None only once closed
    return buffer


def _take(name: str, size: int) -> bytes:
    """The first ``size`` bytes of the segment ``name``, which is then removed."""
    shared = SharedMemory(name=name)
    try:
        return bytes(_buffer(shared)[:size])
    finally:
        shared.close()
        shared.unlink()


def _discard_answer(future: Future[tuple[Answer, str, int]]) -> None:
    if not future.cancelled() and future.exception() is None:
        _, name, _ = future.result()
        shared = SharedMemory(name=name)
        shared.close()
        shared.unlink()


def _respond_in_helper(
    codec: Codec[Any], loss: str | None, name: str, size: int, meta: Meta, max_elements: int
) -> tuple[Answer, str, int]:
    """In the helper: the body from segment ``name``; the answer's content in a new segment, whose name is returned."""
    shared = SharedMemory(name=name)
    try:
        body = Body(bytes(_buffer(shared)[:size]))  # a copy of its own: nothing here then refers to the segment
    finally:
        shared.close()
    answer = respond(codec, loss, body, meta, max_elements)
    content = answer.content
    out = _share(content)
    out.close()
    return replace(answer, content=b""), out.name, len(content)
