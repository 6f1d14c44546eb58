"""The benchmark suite's tools: servers as subprocesses, a raw HTTP client, wrk, statistics, the machine.

Everything here talks to 127.0.0.1 only. Every server is a subprocess in its own process
group, ended (SIGTERM, then SIGKILL) when its ``with`` block exits, whatever happened in it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
HOST = "127.0.0.1"


# Statistics ---------------------------------------------------------------------------------


@dataclass
class Samples:
    """Repeated measurements of one quantity; reported as median and min-max."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")

    def fmt(self, scale: float = 1.0, digits: int | None = None, unit: str = "") -> str:
        """``median (min–max)`` with ``scale`` applied, e.g. seconds to milliseconds."""
        if not self.values:
            return "n/a"
        m, lo, hi = (v * scale for v in (self.median, self.low, self.high))
        if digits is None:
            digits = 0 if abs(m) >= 100 else 1 if abs(m) >= 10 else 2
        if len(self.values) == 1:
            return f"{m:.{digits}f}{unit}"
        return f"{m:.{digits}f}{unit} ({lo:.{digits}f}–{hi:.{digits}f})"


def ratios(numerators: Samples, denominators: Samples) -> Samples:
    """Per-round ratios: round i's numerator over round i's denominator (both from the same round)."""
    return Samples([a / b for a, b in zip(numerators.values, denominators.values, strict=True) if b])


# Servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server subprocess on 127.0.0.1, in its own process group, with its log in a temp file."""

    def __init__(self, name: str, argv: Sequence[str], port: int, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def launch(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, ready_path: str, ready_status: int | None = None, timeout: float = 60.0) -> None:
        """Wait until ``GET ready_path`` answers ``ready_status`` (any status below 500 if None)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start-up:\n{self.tail()}")
            with contextlib.suppress(OSError):
                status, _, _ = request(self.port, ready_path, None, timeout=2)
                if (status == ready_status) if ready_status is not None else (status < 500):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {ready_path} within {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        """End the server's process group (SIGTERM, then SIGKILL after 15 s) and delete its log."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group is this server's own (start_new_session)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)

    def tail(self, lines: int = 30) -> str:
        try:
            text = Path(self.log.name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) of the server process, in bytes, from /proc/<pid>/status; and the
        same summed over the process and all its descendants (``tree VmRSS``, ``tree VmHWM``), which
        counts the service's offload processes (the sum of peaks bounds the peak of the sum)."""
        found = _status(self.pid)
        tree = [found, *(_status(pid) for pid in _descendants(self.pid))]
        found["tree VmRSS"] = sum(item.get("VmRSS", 0) for item in tree)
        found["tree VmHWM"] = sum(item.get("VmHWM", 0) for item in tree)
        return found


def _status(pid: int) -> dict[str, int]:
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) * 1024
    return found


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc/<pid>/task/<tid>/children)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                stack += children
    return found


@contextlib.contextmanager
def serving(server: Server, ready_path: str, ready_status: int | None = None) -> Iterator[Server]:
    with serving_all([(server, ready_path, ready_status)]):
        yield server


@contextlib.contextmanager
def serving_all(servers: Sequence[tuple[Server, str, int | None]]) -> Iterator[None]:
    """Start the servers together, wait until each is ready, and always end them all."""
    try:
        for server, _, _ in servers:
            server.launch()
        for server, ready_path, ready_status in servers:
            server.wait_ready(ready_path, ready_status)
        yield
    finally:
        for server, _, _ in servers:
            server.stop()


def uvicorn_argv(app: str, port: int, workers: int = 1) -> list[str]:
    """uvicorn as the service runs it (``python -m service``): same loop and HTTP parser, no access log."""
    return [
        sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def service(port: int, workers: int = 1) -> Server:
    argv = [sys.executable, "-m", "service", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    env = {"LOSS_SERVICE_ACCESS_LOG": "false", "LOSS_SERVICE_LOG_LEVEL": "warning"}
    return Server(f"service-w{workers}", argv, port, env)


def app_server(name: str, app: str, port: int, workers: int = 1, env: dict[str, str] | None = None) -> Server:
    return Server(f"{name}-w{workers}", uvicorn_argv(app, port, workers), port, env)


# A raw HTTP/1.1 client: one connection per request, the whole exchange timed by the caller.


def request(
    port: int,
    path: str,
    body: bytes | None,
    headers: dict[str, str] | None = None,
    timeout: float = 300.0,
) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` (GET when None) to 127.0.0.1:``port``; the status, headers and the whole answer."""
    method = "GET" if body is None else "POST"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close"]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
        if not any(k.lower() == "content-type" for k in headers or {}):
            lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head)
        if body:
            sock.sendall(body)
        buffer = bytearray()
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed before the response headers ({len(buffer)} bytes)")
            buffer += chunk
        end = buffer.index(b"\r\n\r\n")
        status_line, *header_lines = buffer[:end].decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        response_headers = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            response_headers[key.strip().lower()] = value.strip()
        rest = bytes(buffer[end + 4 :])
        if "content-length" not in response_headers:
            raise ConnectionError(f"no Content-Length in the answer ({status_line})")
        length = int(response_headers["content-length"])
        content = bytearray(length)
        view = memoryview(content)
        view[: len(rest)] = rest
        got = len(rest)
        while got < length:
            n = sock.recv_into(view[got:], min(length - got, 1 << 22))
            if n == 0:
                raise ConnectionError(f"connection closed after {got} of {length} body bytes")
            got += n
    return status, response_headers, bytes(content)


def timed_request(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[float, int, dict[str, str], bytes]:
    start = time.perf_counter()
    status, response_headers, content = request(port, path, body, headers)
    return time.perf_counter() - start, status, response_headers, content


# wrk ------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: str


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk_lua(body: bytes, headers: dict[str, str] | None = None) -> Path:
    """A wrk script that POSTs ``body`` (JSON) with ``headers``; the caller deletes the file."""
    text = body.decode()
    if "]==]" in text:
        raise ValueError("the body cannot be written as a Lua long string")
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    script = ['wrk.method = "POST"']
    script += [f'wrk.headers["{k}"] = "{v}"' for k, v in all_headers.items()]
    script.append(f"wrk.body = [==[{text}]==]")
    handle = tempfile.NamedTemporaryFile("w", prefix="bench-", suffix=".lua", delete=False)  # noqa: SIM115
    with handle:
        handle.write("\n".join(script) + "\n")
    return Path(handle.name)


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "not installed"
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).splitlines()[0]
    return first.split("Copyright")[0].removeprefix("wrk").strip()


def run_wrk(port: int, path: str, script: Path, seconds: float, connections: int = 32, threads: int = 1) -> WrkResult:
    """``wrk --latency`` against 127.0.0.1 for ``seconds`` (whole seconds; bounded by a hard timeout)."""
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "--latency",
        "-s", str(script), f"http://{HOST}:{port}{path}",
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout
    if out.returncode != 0 or "Requests/sec" not in text:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", text, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return WrkResult(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=requests,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else "",
    )


# The machine and the versions ---------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    os_name = platform.system()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical, {affinity} usable by this process",
        "memory": memory,
        "OS": f"{os_name}, kernel {platform.release()} ({platform.machine()})",
    }


def versions(mlserver_version: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("numpy", "orjson", "fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools", "torch"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    found["mlserver"] = mlserver_version
    found["wrk"] = wrk_version()
    return found


# Other processes on the machine ------------------------------------------------------------------------


def _system_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and all its descendants, running or finished (servers, wrk).

    Finished children that were waited for are in ``os.times()``; running descendants are read from
    ``/proc/<pid>/stat`` (their own time and that of their own finished children).
    """
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    stack, ticks = list(children.get(os.getpid(), [])), 0
    while stack:
        pid = stack.pop()
        ticks += times.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total + ticks / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """The share of the machine's CPU used by processes that are not this benchmark (and by the hypervisor's
    steal), over an interval.

    Machine busy time (``/proc/stat``) less the CPU time of this process and all its descendants.
    """

    def __init__(self) -> None:
        self.start_wall = time.monotonic()
        self.start_busy = _system_busy_seconds()
        self.start_own = _own_cpu_seconds()

    def fraction(self) -> float:
        wall = time.monotonic() - self.start_wall
        others = (_system_busy_seconds() - self.start_busy) - (_own_cpu_seconds() - self.start_own)
        return max(others, 0.0) / (wall * (os.cpu_count() or 1)) if wall > 0 else 0.0


def wait_for_quiet(limit: float, max_wait: float, sample: float) -> tuple[float, float]:
    """Sample other processes' CPU share for ``sample`` s until it is at most ``limit`` or ``max_wait`` s pass.

    Returns the last share seen and the seconds waited (no sample at all when ``sample`` is 0).
    """
    if sample <= 0:
        return float("nan"), 0.0
    started = time.monotonic()
    while True:
        load = OtherLoad()
        time.sleep(sample)
        share = load.fraction()
        waited = time.monotonic() - started
        if share <= limit or waited >= max_wait:
            return share, waited


def source_state() -> str:
    """Which service code was measured: the commit, and whether service/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "service"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.splitlines()
    except (subprocess.SubprocessError, OSError):
        return "not a git checkout (commit unknown)"
    state = f"{len(changed)} uncommitted change(s) in service/" if changed else "no uncommitted changes in service/"
    return f"commit {commit}; {state}"
