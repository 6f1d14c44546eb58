"""A bounded load and soak run: the service at saturation for a fixed time, its memory watched.

    python benchmarks/soak.py --duration 600 --workers 2 --concurrency 32

Starts ``python -m service`` (``--workers``, access log off) on 127.0.0.1 on a free port, then
runs ``--concurrency`` client connections, each sending a mix of realistic requests (small
JSON losses of several kinds, ``/batch``, ``/v2`` JSON and binary tensors, and requests that
must get 422 or 404) back to back until ``--duration`` seconds have passed or
``--max-requests`` have been sent, whichever comes first. Every second it sums the VmRSS of the
server's processes (the uvicorn supervisor and its workers, from /proc) and their CPU time.

At the end it stops the server (SIGTERM, then SIGKILL after a grace period) and writes a
markdown report (``--report``, default ``benchmarks/SOAK.md``): the command line, the machine,
req/s, failed requests (a status other than the one the request must get, or a connection
error), p50/p90/p99 latency, and RSS over time, with the growth from the first minute after
warm-up to the last minute. Exit status 0 when there were no failures and RSS stayed flat
within ``--rss-tolerance`` (10 %), 1 otherwise.

It talks to 127.0.0.1 only, and always stops by itself: the load loop ends at the deadline,
the whole run is watched by a timeout, and the server is ended in a ``finally``.

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams (one connection per
client task), not httpx: on a 2-core machine the client shares the CPU with the server, and a
full HTTP library would spend more of it than the service does per request.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime
import itertools
import json
import os
import platform
import random
import shlex
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = 1024  # VmRSS is in kB


# The request mix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of request: the bytes to send and the status it must get."""

    name: str
    weight: int
    expected: int
    raw: bytes  # the whole HTTP/1.1 request

    @classmethod
    def post(
        cls,
        name: str,
        weight: int,
        expected: int,
        path: str,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Kind:
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {HOST}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        return cls(name, weight, expected, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    @classmethod
    def get(cls, name: str, weight: int, expected: int, path: str) -> Kind:
        return cls(name, weight, expected, f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def request_mix(seed: int = 0) -> list[Kind]:
    """Small, realistic requests: what a training loop's side-car would send, and some mistakes."""
    rng = random.Random(seed)

    def probs(rows: int, cols: int) -> list[list[float]]:
        out = []
        for _ in range(rows):
            row = [rng.uniform(0.05, 1.0) for _ in range(cols)]
            total = sum(row)
            out.append([v / total for v in row])
        return out

    def normal(rows: int, cols: int) -> list[list[float]]:
        return [[rng.gauss(0, 1) for _ in range(cols)] for _ in range(rows)]

    def one_hot(rows: int, cols: int) -> list[list[float]]:
        out = []
        for _ in range(rows):
            row = [0.0] * cols
            row[rng.randrange(cols)] = 1.0
            out.append(row)
        return out

    labels = [[float(rng.randrange(2)) for _ in range(8)] for _ in range(16)]
    binary_bytes = struct.pack("<32d", *[rng.random() for _ in range(32)]) + struct.pack(
        "<32d", *[rng.random() for _ in range(32)]
    )
    binary_header = _json(
        {
            "inputs": [
                {"name": "y_true", "shape": [8, 4], "datatype": "FP64", "parameters": {"binary_data_size": 256}},
                {"name": "y_pred", "shape": [8, 4], "datatype": "FP64", "parameters": {"binary_data_size": 256}},
            ],
            "parameters": {"return_grad": True, "binary_data_output": True},
        }
    )
    mse_body = {"y_true": normal(32, 4), "y_pred": normal(32, 4), "return_grad": True}
    return [
        Kind.post("mse", 14, 200, "/losses/mse", _json(mse_body)),
        Kind.post(
            "categorical_crossentropy",
            12,
            200,
            "/losses/categorical_crossentropy",
            _json(
                {
                    "y_true": one_hot(32, 10),
                    "y_pred": probs(32, 10),
                    "params": {"label_smoothing": 0.1},
                    "return_grad": True,
                }
            ),
        ),
        Kind.post(
            "sparse_categorical_crossentropy",
            10,
            200,
            "/losses/sparse_categorical_crossentropy",
            _json(
                {
                    "y_true": [rng.randrange(10) for _ in range(64)],
                    "y_pred": normal(64, 10),
                    "params": {"from_logits": True},
                    "reduction": "sum",
                }
            ),
        ),
        Kind.post(
            "binary_focal",
            8,
            200,
            "/losses/binary_focal",
            _json({"y_true": labels, "y_pred": normal(16, 8), "params": {"gamma": 2.0}, "return_grad": True}),
        ),
        Kind.post(
            "binary_crossentropy",
            8,
            200,
            "/losses/binary_crossentropy",
            _json({"y_true": labels, "y_pred": probs(16, 8), "sample_weight": [1.0] * 16, "dtype": "float32"}),
        ),
        Kind.post(
            "kl_divergence",
            6,
            200,
            "/losses/kl_divergence",
            _json({"y_true": probs(16, 6), "y_pred": probs(16, 6), "return_grad": True}),
        ),
        Kind.post(
            "cosine_similarity",
            6,
            200,
            "/losses/cosine_similarity",
            _json({"y_true": normal(16, 16), "y_pred": normal(16, 16), "reduction": "none"}),
        ),
        Kind.post(
            "hinge",
            4,
            200,
            "/losses/hinge",
            _json({"y_true": [[1.0, -1.0, 1.0, -1.0]] * 8, "y_pred": normal(8, 4), "return_grad": True}),
        ),
        Kind.post(
            "batch",
            6,
            200,
            "/batch",
            _json(
                {
                    "items": [
                        {"loss": "mse", "y_true": normal(8, 4), "y_pred": normal(8, 4)},
                        {"loss": "kl_divergence", "y_true": probs(8, 4), "y_pred": probs(8, 4), "return_grad": True},
                        {"loss": "hinge", "y_true": [[1.0, -1.0]] * 4, "y_pred": normal(4, 2)},
                    ]
                }
            ),
        ),
        Kind.post(
            "v2_json",
            6,
            200,
            "/v2/models/mse/infer",
            _json(
                {
                    "id": "soak",
                    "parameters": {"return_grad": True},
                    "inputs": [
                        {
                            "name": "y_true",
                            "shape": [4, 4],
                            "datatype": "FP64",
                            "data": [v for row in normal(4, 4) for v in row],
                        },
                        {
                            "name": "y_pred",
                            "shape": [4, 4],
                            "datatype": "FP64",
                            "data": [v for row in normal(4, 4) for v in row],
                        },
                    ],
                }
            ),
        ),
        Kind.post(
            "v2_binary",
            8,
            200,
            "/v2/models/mse/infer",
            binary_header + binary_bytes,
            content_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(len(binary_header))},
        ),
        Kind.post(
            "422_domain",
            4,
            422,
            "/losses/binary_crossentropy",
            _json({"y_true": [[0.0, 1.0]], "y_pred": [[0.5, 1.7]]}),
        ),
        Kind.post(
            "422_shapes",
            3,
            422,
            "/losses/mse",
            _json({"y_true": normal(4, 3), "y_pred": normal(4, 2)}),
        ),
        Kind.post("404_unknown_loss", 2, 404, "/losses/no_such_loss", _json({"y_true": [1.0], "y_pred": [1.0]})),
        Kind.get("catalog", 1, 200, "/losses/mse"),
    ]


# A minimal HTTP/1.1 client --------------------------------------------------------------------


class Connection:
    """One keep-alive connection; responses must carry Content-Length (this service's always do)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
            elif name == "transfer-encoding":
                raise ConnectionError(f"unexpected Transfer-Encoding: {value.strip()}")
        if length is None:
            raise ConnectionError("a response without Content-Length")
        await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class Tally:
    """What the clients saw."""

    latencies: dict[str, array] = field(default_factory=dict)  # seconds, per kind
    done_at: array = field(default_factory=lambda: array("d"))  # completion times, for req/s over time
    failures: dict[str, int] = field(default_factory=dict)  # "kind: status or error" -> count
    failure_examples: list[str] = field(default_factory=list)
    sent: int = 0

    def answered(self, kind: Kind, status: int, seconds: float) -> None:
        self.latencies.setdefault(kind.name, array("d")).append(seconds)
        self.done_at.append(time.perf_counter())
        if status != kind.expected:
            self.fail(f"{kind.name}: {status}", f"{kind.name}: got {status}, expected {kind.expected}")

    def fail(self, key: str, example: str) -> None:
        self.failures[key] = self.failures.get(key, 0) + 1
        if len(self.failure_examples) < 10:
            self.failure_examples.append(example)


class LoadProtocol(asyncio.Protocol):
    """One keep-alive connection sending requests back to back, driven by callbacks (no task per request).

    A response is complete when its headers and ``Content-Length`` bytes have arrived; then the
    next request goes out at once. A connection error is a failure; the connection is opened
    again after a short pause until the deadline.
    """

    def __init__(self, load: Load, rng: random.Random) -> None:
        self.load = load
        self.rng = rng
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.kind: Kind | None = None
        self.started = 0.0
        self.head: tuple[int, int, bool] | None = None  # status, header end, close after
        self.finished = False
        self.recycled = False
        self.sent_here = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send_next()

    def send_next(self) -> None:
        load = self.load
        if time.perf_counter() >= load.deadline or load.tally.sent >= load.max_requests:
            self.finished = True
            assert self.transport is not None
            self.transport.close()
            return
        if self.sent_here >= load.per_connection:
            # Like a client pool or a proxy recycling connections; it also spreads them over the
            # server's workers, which share the listening socket and keep whatever they accepted.
            self.recycled = True
            assert self.transport is not None
            self.transport.close()
            return
        self.kind = self.rng.choices(load.kinds, cum_weights=load.cum_weights)[0]
        self.sent_here += 1
        load.tally.sent += 1
        self.head = None
        self.started = time.perf_counter()
        assert self.transport is not None
        self.transport.write(self.kind.raw)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.kind is not None:
            if self.head is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                try:
                    self.head = self.parse_head(bytes(self.buffer[:end]), end + 4)
                except ValueError as error:
                    self.error(error)
                    return
            status, body_start, close = self.head
            length = self.content_length
            if len(self.buffer) < body_start + length:
                return
            del self.buffer[: body_start + length]
            self.load.tally.answered(self.kind, status, time.perf_counter() - self.started)
            self.kind = None
            if close:
                assert self.transport is not None
                self.transport.close()
                return
            self.send_next()

    def parse_head(self, head: bytes, body_start: int) -> tuple[int, int, bool]:
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        self.content_length = -1
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                self.content_length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
            elif name == "transfer-encoding":
                raise ValueError(f"unexpected Transfer-Encoding: {value.strip()}")
        if self.content_length < 0:
            raise ValueError("a response without Content-Length")
        return status, body_start, close

    def error(self, error: BaseException) -> None:
        if self.kind is not None:
            self.load.tally.fail(f"{self.kind.name}: {type(error).__name__}", f"{self.kind.name}: {error!r}")
            self.kind = None
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.kind is not None:  # a request was in flight
            self.error(exc or ConnectionResetError("the server closed the connection"))
        self.load.connection_closed(self, reopen=not self.finished, pause=0.0 if self.recycled else 0.05)


class Load:
    """``concurrency`` connections until ``deadline`` or ``max_requests``; reopens lost ones."""

    def __init__(
        self,
        port: int,
        kinds: list[Kind],
        concurrency: int,
        duration: float,
        max_requests: int,
        seed: int,
        per_connection: int,
    ) -> None:
        self.port = port
        self.per_connection = per_connection
        self.kinds = kinds
        self.cum_weights = list(itertools.accumulate(k.weight for k in kinds))
        self.concurrency = concurrency
        self.duration = duration
        self.max_requests = max_requests
        self.seed = seed
        self.tally = Tally()
        self.open = 0
        self.deadline = 0.0
        self.all_closed: asyncio.Event | None = None
        self.reconnecting: set[asyncio.Future[None]] = set()

    async def connect(self, rng: random.Random) -> None:
        loop = asyncio.get_running_loop()
        while time.perf_counter() < self.deadline:
            try:
                await loop.create_connection(lambda: LoadProtocol(self, rng), HOST, self.port)
                return
            except OSError as error:
                self.tally.fail(f"connect: {type(error).__name__}", f"connect: {error!r}")
                await asyncio.sleep(0.05)
        self.open -= 1
        self.maybe_done()

    def connection_closed(self, protocol: LoadProtocol, reopen: bool, pause: float) -> None:
        if reopen and time.perf_counter() < self.deadline:
            loop = asyncio.get_running_loop()
            loop.call_later(pause, lambda: self.reconnecting.add(asyncio.ensure_future(self.connect(protocol.rng))))
            return
        self.open -= 1
        self.maybe_done()

    def maybe_done(self) -> None:
        if self.open <= 0 and self.all_closed is not None:
            self.all_closed.set()

    async def run(self) -> tuple[Tally, float, float]:
        self.all_closed = asyncio.Event()
        start = time.perf_counter()
        self.deadline = start + self.duration
        self.open = self.concurrency
        connecting = []
        for index in range(self.concurrency):
            # A few ms apart, so that each worker gets to accept some of the first connections.
            connecting.append(asyncio.ensure_future(self.connect(random.Random(self.seed * 100_003 + index))))
            await asyncio.sleep(0.005)
        try:
            # The connections close themselves at the deadline; one stuck past it is abandoned.
            await asyncio.wait_for(self.all_closed.wait(), timeout=self.duration + 30)
        except TimeoutError:
            self.tally.fail("client: stuck past the deadline", "a request did not finish 30 s after the deadline")
        for task in connecting:
            task.cancel()
        return self.tally, start, time.perf_counter()


def run_load(
    port: int, kinds: list[Kind], concurrency: int, duration: float, max_requests: int, seed: int, per_connection: int
) -> tuple[Tally, float, float]:
    load = Load(port, kinds, concurrency, duration, max_requests, seed, per_connection)
    try:
        import uvloop  # installed with uvicorn[standard]; halves the client's CPU per request

        return uvloop.run(load.run())
    except ImportError:
        return asyncio.run(load.run())


# The server and its memory --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from /proc (uvicorn's workers are its children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    except OSError:
        return 0.0


def busy_seconds() -> float:
    """CPU time spent by the whole machine (all cores, all processes), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


@dataclass
class Sample:
    t: float  # seconds since the load started (negative before)
    rss_kib: int
    processes: int
    cpu_seconds: float  # the server's processes
    client_cpu_seconds: float = 0.0  # this process
    machine_cpu_seconds: float = 0.0  # everything


class Sampler(threading.Thread):
    """Every ``interval`` seconds: the server's summed RSS, process count and CPU time."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.origin = time.perf_counter()
        self.samples: list[Sample] = []
        self.stopped = threading.Event()
        self.cpu_dead = 0.0  # CPU time of processes that have gone (a respawned worker)
        self._last_cpu: dict[int, float] = {}
        self.per_process: list[tuple[float, dict[int, float]]] = []  # (t, CPU seconds by pid)

    def run(self) -> None:
        while not self.stopped.is_set():
            pids = descendants(self.pid)
            cpu = {pid: cpu_seconds(pid) for pid in pids}
            for gone in set(self._last_cpu) - set(cpu):
                self.cpu_dead += self._last_cpu[gone]
            self._last_cpu = cpu
            self.per_process.append((time.perf_counter() - self.origin, cpu))
            self.samples.append(
                Sample(
                    time.perf_counter() - self.origin,
                    sum(rss_kib(pid) for pid in pids),
                    len(pids),
                    self.cpu_dead + sum(cpu.values()),
                    time.process_time(),
                    busy_seconds(),
                )
            )
            self.stopped.wait(self.interval)


@contextlib.contextmanager
def serve(workers: int, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m service`` in its own process group; SIGTERM, then SIGKILL, whatever happens."""
    env = {**os.environ, "LOSS_SERVICE_ACCESS_LOG": "false", "LOSS_SERVICE_LOG_LEVEL": "warning"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "service", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=45)  # uvicorn's graceful timeout is 30 s
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {timeout} s")


async def preflight(port: int, kinds: list[Kind]) -> list[str]:
    """Each kind once: a request mix that does not get its expected status is a bug in the mix."""
    connection = Connection(port)
    problems = []
    try:
        for kind in kinds:
            status = await connection.request(kind.raw)
            if status != kind.expected:
                problems.append(f"{kind.name}: got {status}, expected {kind.expected}")
    finally:
        await connection.close()
    return problems


# The report -----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    versions = {}
    for package in ("uvicorn", "fastapi", "numpy", "orjson"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "memory": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "commit": commit,
    }


def mean_rss(samples: list[Sample], start: float, end: float) -> float:
    window = [s.rss_kib for s in samples if start <= s.t < end]
    return statistics.fmean(window) if window else float("nan")


def write_report(
    path: Path,
    args: argparse.Namespace,
    tally: Tally,
    load_start: float,
    load_end: float,
    sampler: Sampler,
    idle_rss: int,
    server_log_tail: str,
) -> tuple[bool, bool, str]:
    elapsed = load_end - load_start
    all_latencies = sorted(v for values in tally.latencies.values() for v in values)
    completed = len(all_latencies)
    failed = sum(tally.failures.values())
    rate = completed / elapsed if elapsed > 0 else float("nan")

    # Samples on the load's clock: the sampler's origin differs from the load's start.
    offset = load_start - sampler.origin
    samples = [
        Sample(s.t - offset, s.rss_kib, s.processes, s.cpu_seconds, s.client_cpu_seconds, s.machine_cpu_seconds)
        for s in sampler.samples
    ]
    during = [s for s in samples if 0 <= s.t <= elapsed]
    warmup = min(args.warmup, elapsed / 5)
    window = min(60.0, (elapsed - warmup) / 3)
    first = mean_rss(samples, warmup, warmup + window)
    last = mean_rss(samples, elapsed - window, elapsed + 0.001)
    growth = (last - first) / first * 100 if first else float("nan")
    peak = max((s.rss_kib for s in during), default=0)

    def cores(attribute: str) -> float:
        if len(during) < 2:
            return float("nan")
        used = getattr(during[-1], attribute) - getattr(during[0], attribute)
        return used / (during[-1].t - during[0].t)

    by_process = [(t - offset, cpu) for t, cpu in sampler.per_process if 0 <= t - offset <= elapsed]
    process_cores = []
    if len(by_process) > 1:
        (t0, cpu0), (t1, cpu1) = by_process[0], by_process[-1]
        process_cores = sorted(((cpu1[pid] - cpu0.get(pid, 0.0)) / (t1 - t0) for pid in cpu1), reverse=True)

    server_cores, client_cores, machine_cores = (
        cores("cpu_seconds"),
        cores("client_cpu_seconds"),
        cores("machine_cpu_seconds"),
    )

    no_failures = failed == 0 and completed > 0
    flat = abs(growth) <= args.rss_tolerance
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])

    lines = [
        "# Soak test: the service at saturation",
        "",
        f"Generated by `benchmarks/soak.py` on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "```sh",
        command,
        "```",
        "",
        f"**Result: {'PASS' if no_failures and flat else 'FAIL'}** — "
        f"{failed} failed requests ({'none' if not failed else 'see below'}); "
        f"server RSS {growth:+.1f} % from the first minute after warm-up to the last minute "
        f"(tolerance ±{args.rss_tolerance:g} %).",
        "",
        "## Setup",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in machine().items()),
        f"| server | `python -m service --workers {args.workers}`, access log off, on 127.0.0.1 |",
        f"| clients | {args.concurrency} keep-alive connections (asyncio, one process, same machine), "
        f"each reopened after {args.per_connection} requests |",
        f"| bounds | {args.duration:g} s, at most {args.max_requests} requests |",
        "",
        "The mix (weights; each kind is one fixed request, sent again and again):",
        "",
        "| kind | weight | must get | sent | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in request_mix(args.seed):
        values = sorted(tally.latencies.get(kind.name, []))
        lines.append(
            f"| {kind.name} | {kind.weight} | {kind.expected} | {len(values)} | "
            f"{percentile(values, 50) * 1000:.2f} | {percentile(values, 99) * 1000:.2f} |"
        )
    lines += [
        "",
        "## Results",
        "",
        "| | |",
        "| --- | --- |",
        f"| duration of the load | {elapsed:.1f} s |",
        f"| requests sent / answered | {tally.sent} / {completed} |",
        f"| throughput | {rate:.0f} req/s |",
        f"| failed requests (wrong status, connection error) | {failed} |",
        f"| latency p50 / p90 / p99 / max | {percentile(all_latencies, 50) * 1000:.2f} / "
        f"{percentile(all_latencies, 90) * 1000:.2f} / {percentile(all_latencies, 99) * 1000:.2f} / "
        f"{(all_latencies[-1] if all_latencies else float('nan')) * 1000:.1f} ms |",
        f"| CPU, cores on average (of {os.cpu_count()}) | server {server_cores:.2f}, load client {client_cores:.2f}, "
        f"other processes {max(0.0, machine_cores - server_cores - client_cores):.2f} |",
        f"| server CPU by process, cores | {', '.join(f'{c:.2f}' for c in process_cores)} "
        f"(the workers, then uvicorn's supervisor and helpers) |",
        f"| server RSS idle, before the load | {idle_rss / 1024:.1f} MiB |",
        f"| server RSS, first minute after warm-up ({warmup:.0f}–{warmup + window:.0f} s) | {first / 1024:.1f} MiB |",
        f"| server RSS, last minute ({elapsed - window:.0f}–{elapsed:.0f} s) | {last / 1024:.1f} MiB |",
        f"| RSS growth | {growth:+.2f} % |",
        f"| RSS peak | {peak / 1024:.1f} MiB |",
        "",
    ]
    if tally.failures:
        lines += ["Failures:", "", "| what | count |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in sorted(tally.failures.items())]
        lines += ["", "First examples:", "", *(f"- {e}" for e in tally.failure_examples), ""]

    # RSS over time: ~20 rows, each the mean of its slice (the server's processes summed).
    lines += [
        "## Server RSS and throughput over time",
        "",
        "All server processes summed (the uvicorn supervisor and its workers), sampled every second;",
        "each row is the mean over its interval.",
        "",
        "| interval (s) | RSS MiB | processes | req/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    rows = max(1, min(20, int(elapsed // 30) or 1))
    step = elapsed / rows
    done_at = sorted(t - load_start for t in tally.done_at)

    for i in range(rows):
        lo, hi = i * step, (i + 1) * step
        chunk = [s for s in during if lo <= s.t < hi]
        rss = statistics.fmean(s.rss_kib for s in chunk) / 1024 if chunk else float("nan")
        processes = max((s.processes for s in chunk), default=0)
        count = bisect.bisect_left(done_at, hi) - bisect.bisect_left(done_at, lo)
        lines.append(f"| {lo:.0f}–{hi:.0f} | {rss:.1f} | {processes} | {count / step:.0f} |")
    lines += [
        "",
        "## Acceptance",
        "",
        f"- zero failed requests: **{'yes' if no_failures else 'no'}** ({failed} failed of {tally.sent} sent)",
        f"- RSS flat within {args.rss_tolerance:g} % after warm-up: **{'yes' if flat else 'no'}** ({growth:+.2f} %)",
        "",
    ]
    if server_log_tail.strip():
        lines += ["Server log (last lines, warnings and errors only):", "", "```", server_log_tail.strip(), "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    summary = (
        f"{completed} requests in {elapsed:.0f} s ({rate:.0f} req/s), {failed} failed, "
        f"p50 {percentile(all_latencies, 50) * 1000:.2f} ms, p99 {percentile(all_latencies, 99) * 1000:.2f} ms, "
        f"RSS {first / 1024:.1f} -> {last / 1024:.1f} MiB ({growth:+.2f} %), peak {peak / 1024:.1f} MiB"
    )
    return no_failures, flat, summary


# Main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--max-requests", type=int, default=5_000_000, help="most requests sent (default 5e6)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=32, help="client connections (default 32)")
    parser.add_argument(
        "--per-connection", type=int, default=1000, help="requests per connection before it is reopened (default 1000)"
    )
    parser.add_argument("--warmup", type=float, default=60, help="seconds before RSS is compared (default 60)")
    parser.add_argument("--rss-tolerance", type=float, default=10.0, help="allowed RSS growth in %% (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "SOAK.md")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 3600:
        parser.error("--duration must be in (0, 3600] seconds")
    if args.max_requests < 1 or args.concurrency < 1:
        parser.error("--max-requests and --concurrency must be positive")

    kinds = request_mix(args.seed)
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="soak-server-", suffix=".log")[1])
    print(f"soak: server on {HOST}:{port}, {args.workers} workers; {args.concurrency} clients for {args.duration:g} s")
    with serve(args.workers, port, log) as process:
        wait_ready(port, process)
        problems = asyncio.run(preflight(port, kinds))
        if problems:
            print("soak: the request mix does not get the statuses it expects:", *problems, sep="\n  ")
            return 2
        time.sleep(2)  # let the workers settle before the idle reading
        idle_rss = sum(rss_kib(pid) for pid in descendants(process.pid))
        sampler = Sampler(process.pid)
        sampler.start()
        try:
            tally, load_start, load_end = run_load(
                port, kinds, args.concurrency, args.duration, args.max_requests, args.seed, args.per_connection
            )
        finally:
            sampler.stopped.set()
            sampler.join(timeout=5)
        alive = process.poll() is None
    if not alive:
        tally.fail("server: exited during the load", f"the server exited with {process.returncode}")
    log_lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    noteworthy = [line for line in log_lines if '"level":"info"' not in line and "INFO" not in line]
    log.unlink(missing_ok=True)
    no_failures, flat, summary = write_report(
        args.report, args, tally, load_start, load_end, sampler, idle_rss, "\n".join(noteworthy[-20:])
    )
    print(f"soak: {summary}")
    print(f"soak: report written to {os.path.relpath(args.report)}")
    return 0 if no_failures and flat else 1


if __name__ == "__main__":
    sys.exit(main())
