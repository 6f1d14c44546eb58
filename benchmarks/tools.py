"""The suite's tools, one of each: requests, the server starter, an HTTP client, the place that runs wrk, the reader
of a process tree (psutil), the machine's other load, pyperf and perf_analyzer runs, MLServer's venv. 127.0.0.1 only.

Run as a script, it is the pyperf script of the in-process timings:
``python benchmarks/tools.py --spec FILE -o OUT.json`` [pyperf options];
each benchmark in the spec runs in pyperf's worker processes (``build``)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import csv
import http.client
import importlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH, HOST, PY = ROOT / "benchmarks", "127.0.0.1", sys.executable


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: list[float], b: list[float]) -> list[float]:  # per round: round i's a over round i's b
    return [x / y for x, y in zip(a, b, strict=False) if y]


def loss_inputs(name: str, elements: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng, shape = np.random.default_rng(seed), (elements // 10, 10)
    if name == "mse":
        y_true = rng.normal(size=shape)
        return {"y_true": y_true, "y_pred": y_true + rng.normal(scale=0.5, size=shape)}
    y_pred = rng.normal(scale=2.0, size=shape)
    if name == "categorical_crossentropy":
        return {"y_true": np.eye(10)[rng.integers(10, size=shape[0])], "y_pred": y_pred}
    return {"y_true": (rng.random(shape) < 0.5).astype(np.float64), "y_pred": y_pred}  # binary losses


def loss_params(name: str) -> dict[str, Any]:
    return {"from_logits": True} if name != "mse" else {}


def json_body(name: str, arrays: dict[str, np.ndarray]) -> bytes:
    document = {**arrays, "reduction": "mean", "return_grad": True} | (
        {"params": loss_params(name)} if name != "mse" else {}
    )
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def small_arrays(seed: int = 1) -> dict[str, np.ndarray]:
    y_true = np.round((rng := np.random.default_rng(seed)).normal(size=(32, 4)), 6)
    return {"y_true": y_true, "y_pred": np.round(y_true + rng.normal(scale=0.5, size=(32, 4)), 6)}


def v2_json_body(arrays: dict[str, np.ndarray]) -> bytes:
    inputs = [
        {"name": k, "shape": list(a.shape), "datatype": "FP64", "data": a.ravel().tolist()} for k, a in arrays.items()
    ]
    return orjson.dumps({"id": "bench", "parameters": {"return_grad": True}, "inputs": inputs})


def v2_binary_body(arrays: dict[str, np.ndarray]) -> tuple[bytes, dict[str, str]]:
    inputs = [
        {"name": k, "shape": list(a.shape), "datatype": "FP64", "parameters": {"binary_data_size": a.nbytes}}
        for k, a in arrays.items()
    ]
    head = orjson.dumps(
        {"id": "bench", "parameters": {"return_grad": True, "binary_data_output": True}, "inputs": inputs}
    )
    body = b"".join([head, *(np.ascontiguousarray(a, dtype="<f8").tobytes() for a in arrays.values())])
    return body, {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}


def torch_loss(name: str, y_true: Any, y_pred: Any) -> Any:
    import torch

    f = torch.nn.functional
    if name == "binary_focal":  # as torchvision.ops.sigmoid_focal_loss computes it: alpha 0.25, gamma 2, mean
        p_t = torch.sigmoid(y_pred) * y_true + (1 - torch.sigmoid(y_pred)) * (1 - y_true)
        ce = f.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
        return ((0.25 * y_true + 0.75 * (1 - y_true)) * ce * (1 - p_t) ** 2).mean()
    functions = {
        "mse": f.mse_loss,
        "binary_crossentropy": f.binary_cross_entropy_with_logits,
        "categorical_crossentropy": f.cross_entropy,
    }
    return functions[name](y_pred, y_true)


def tree_stats(pid: int) -> dict[str, Any]:
    """RSS, peak RSS (VmHWM: psutil has none), CPU seconds and descriptors of ``pid`` and all below it,
    summed and each."""
    found: dict[str, Any] = {"rss": 0, "hwm": 0, "cpu": 0.0, "fds": 0, "processes": []}
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error, OSError, StopIteration), proc.oneshot():
                rss, cpu, fds, cmd = proc.memory_info().rss, proc.cpu_times(), proc.num_fds(), proc.cmdline()
                status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
                found.update(
                    rss=found["rss"] + rss,
                    hwm=found["hwm"] + hwm,
                    fds=found["fds"] + fds,
                    cpu=found["cpu"] + cpu.user + cpu.system,
                )
                found["processes"].append({"pid": proc.pid, "rss": rss, "hwm": hwm, "fds": fds, "cmd": cmd})
    return found


def free_port() -> int:
    with socket.create_server((HOST, 0)) as sock:
        return int(sock.getsockname()[1])


class Server:
    """A server in its own process group, output to a temp file; ready on 200 from ``GET ready`` (None: any answer)."""

    def __init__(
        self, name: str, argv: list[str], port: int, env: dict[str, str], cwd: Path = ROOT, ready: str | None = "/livez"
    ) -> None:
        self.name, self.argv, self.port, self.env, self.cwd, self.ready = name, argv, port, env, cwd, ready
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env={**os.environ, **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc and self.proc.poll() is None:
            with contextlib.suppress(OSError, http.client.HTTPException):
                status = request(self.port, self.ready or "/", timeout=2)[1]
                if status == 200 or (self.ready is None and status < 500):
                    return
            time.sleep(0.1)
        log = "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{self.name} did not get ready (exit status {self.proc and self.proc.poll()}):\n{log}")

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds (user + system) of each process the server started (its workers), by pid."""
        times: dict[int, float] = {}
        if self.proc is None:
            return times
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children():
                with contextlib.suppress(psutil.Error):
                    times[child.pid] = sum(child.cpu_times()[:2])
        return times

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            if self.proc is None or self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)  # the group is this server's own (start_new_session)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


@contextlib.contextmanager
def serving(*servers: Server, failed: list[str] | None = None):  # type: ignore[no-untyped-def]
    """Start the servers together, wait until each is ready, and always end them all; with ``failed``, a server that
    does not start is ended and said there, and the others go on."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            try:
                server.wait()
            except RuntimeError as error:
                if failed is None:
                    raise
                failed.append(f"{server.name} did not start: `{str(error).splitlines()[0]}`")
                server.stop()
        yield servers[0] if len(servers) == 1 else servers
    finally:
        for server in servers:
            server.stop()


def service(port: int, tree: Path = ROOT, workers: int = 1, access_log: bool = True, grpc_port: int = 0) -> Server:
    """``python -m service`` from ``tree`` (cwd, PYTHONPATH), shipped defaults (access log on) unless told, gRPC off."""
    env = {"PYTHONPATH": str(tree), "LOSS_SERVICE_GRPC_PORT": str(grpc_port), "LOSS_SERVICE_LOG_LEVEL": "warning"}
    env |= {} if access_log else {"LOSS_SERVICE_ACCESS_LOG": "false"}
    argv = [PY, "-m", "service", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    return Server(f"service-w{workers}", argv, port, env, cwd=tree)


def app_server(name: str, app: str, port: int, workers: int = 1, env: dict[str, str] | None = None) -> Server:
    """A benchmark app under uvicorn with the service's loop and parser, no access log."""
    argv = [
        PY,
        "-m",
        "uvicorn",
        app,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return Server(f"{name}-w{workers}", argv, port, {"PYTHONPATH": str(ROOT), **(env or {})}, ready=None)


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


def request(
    port: int, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 300.0
) -> tuple[float, int, dict[str, str], bytes]:
    """One request on a new connection (http.client): seconds for the whole exchange, status, headers, body."""
    start = time.perf_counter()
    with contextlib.closing(http.client.HTTPConnection(HOST, port, timeout=timeout)) as connection:
        sent = {"Content-Type": "application/json", **(headers or {})} if body is not None else {}
        connection.request("POST" if body is not None else "GET", path, body, sent)
        response = connection.getresponse()
        content = response.read()
    return time.perf_counter() - start, response.status, {k.lower(): v for k, v in response.getheaders()}, content


def expect_ok(what: str, answer: tuple[float, int, dict[str, str], bytes]) -> tuple[float, int, dict[str, str], bytes]:
    if answer[1] != 200:
        raise RuntimeError(f"{what} answered {answer[1]}: {answer[3][:300]!r}")
    return answer


class Wrk:
    """wrk in the background (``wrk.lua`` POSTing ``body``, or ``script``); ``result()``: its ``done()`` JSON."""

    def __init__(
        self,
        port: int,
        path: str,
        body: bytes | None,
        seconds: float,
        connections: int = 32,
        headers: dict[str, str] | None = None,
        expect: int | None = None,
        script: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-wrk-")
        self.out, self.seconds, env = Path(self.tmp.name, "out.json"), max(1, round(seconds)), dict(env or {})
        if body is not None:
            Path(self.tmp.name, "body").write_bytes(body)
            sent = {"Content-Type": "application/json", **(headers or {})}
            env |= {"WRK_BODY": f"{self.tmp.name}/body", "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in sent.items())}
        argv = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{self.seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(script or BENCH / "wrk.lua"),
            f"http://{HOST}:{port}{path}",
        ]
        env |= {"WRK_OUT": str(self.out)} | ({"WRK_EXPECT": str(expect)} if expect else {})
        self.proc = subprocess.Popen(
            argv, env=os.environ | env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def result(self) -> dict[str, Any]:
        try:
            output = self.proc.communicate(timeout=self.seconds + 90)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output = self.proc.communicate()[0]
        found = json.loads(self.out.read_text()) if self.out.exists() else None  # done() wrote it
        self.tmp.cleanup()
        if found is None:
            raise RuntimeError(f"wrk wrote no summary (exit {self.proc.returncode}): {output[-500:]}")
        found["rps"] = found["requests"] / found["seconds"] if found["seconds"] else 0.0
        return found | {f"{k}_ms": found[f"{k}_us"] / 1e3 for k in ("p50", "p90", "p99", "max")}


def wrk(port: int, path: str, body: bytes, seconds: float, **kw: Any) -> dict[str, Any]:
    return Wrk(port, path, body, seconds, **kw).result()


def wrk_workers(server: Server, path: str, body: bytes, seconds: float) -> dict[str, Any]:
    """``wrk`` against a server of several workers, with ``busiest_worker_share``: the busiest worker's share of the
    CPU the workers used meanwhile (1 / workers when even). wrk opens its connections at once, and whichever worker
    wakes first may accept them all: such a round measures one worker, and this tells it."""
    before = server.worker_cpu()
    result = wrk(server.port, path, body, seconds)
    used = [after - before.get(pid, 0.0) for pid, after in server.worker_cpu().items()]
    result["busiest_worker_share"] = max(used) / sum(used) if used and sum(used) > 0 else float("nan")
    return result


def _own_cpu() -> float:  # CPU seconds of this process and all below it, running or finished and waited for
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(proc.cpu_times()[:4])  # user, system, children_user, children_system
    return total


class OtherLoad:
    """The machine's CPU share (1 = all cores) others took since made: psutil's CPU less the suite's own tree's."""

    def __init__(self) -> None:
        self.wall, self.own, self.cores = time.monotonic(), _own_cpu(), psutil.cpu_count() or 1
        psutil.cpu_percent(None)

    def share(self) -> float:
        wall = time.monotonic() - self.wall
        machine_cpu = psutil.cpu_percent(None) / 100 * wall * self.cores
        return max(machine_cpu - (_own_cpu() - self.own), 0.0) / (wall * self.cores) if wall > 0 else 0.0


def wait_quiet(limit: float, max_wait: float, sample: float) -> tuple[float, float]:
    """Sample the others' share until it is at most ``limit`` or ``max_wait`` s passed: (last share, seconds)."""
    started, share = time.monotonic(), float("nan")
    while sample > 0:
        load = OtherLoad()
        time.sleep(sample)
        if (share := load.share()) <= limit or time.monotonic() - started >= max_wait:
            break
    return share, time.monotonic() - started


def pyperf(specs: list[dict[str, Any]], options: Any, scale: float = 1.0) -> dict[str, list[float]]:
    """``tools.py`` as a pyperf script on ``specs``: per benchmark the mean seconds of each worker process (a round)."""
    import pyperf as _pyperf

    with tempfile.TemporaryDirectory(prefix="bench-pyperf-") as tmp:
        for index, spec in enumerate(specs):
            if isinstance(spec.get("body"), bytes):
                Path(tmp, f"body{index}").write_bytes(spec.pop("body"))
                spec["body_file"] = f"{tmp}/body{index}"
        Path(tmp, "spec.json").write_text(json.dumps(specs))
        argv = [PY, str(BENCH / "tools.py"), "--spec", f"{tmp}/spec.json", "-o", f"{tmp}/out.json", "-q", *options]
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        if run.returncode != 0:
            raise RuntimeError(f"pyperf failed (exit {run.returncode}): {(run.stdout + run.stderr)[-1500:]}")
        benchmarks = _pyperf.BenchmarkSuite.load(f"{tmp}/out.json").get_benchmarks()
    return {b.get_name(): [statistics.fmean(r.values) * scale for r in b.get_runs() if r.values] for b in benchmarks}


def perf_analyzer_command() -> tuple[list[str] | None, str]:
    """The perf_analyzer command (``PERF_ANALYZER``, else on PATH) if it runs, and its version, or why not."""
    text = os.environ.get("PERF_ANALYZER") or shutil.which("perf_analyzer") or ""
    if not text:
        with contextlib.suppress(PackageNotFoundError):
            return None, f"perf-analyzer {version('perf-analyzer')} is installed but has no perf_analyzer command"
        return None, "no perf_analyzer command (`pip install perf-analyzer`, or set PERF_ANALYZER)"
    try:
        probe = subprocess.run([*shlex.split(text), "--version"], capture_output=True, text=True, timeout=60)
        out = (probe.stdout + probe.stderr).strip()
    except OSError as error:
        out = str(error)
    if "Perf Analyzer Version" in out:
        return shlex.split(text), out.splitlines()[0]
    return None, f"`{text}` does not run: " + " / ".join(out.splitlines()[-3:])


def perf_analyzer(
    argv: list[str], port: int, protocol: str, data: dict[str, Any], seconds: float, binary: bool = True
) -> dict[str, float]:
    """One perf_analyzer run on model ``mse`` at concurrency 32; its CSV file read."""
    with tempfile.TemporaryDirectory(prefix="bench-pa-") as tmp:
        Path(tmp, "input.json").write_text(json.dumps(data))
        cmd = [
            *argv,
            "-m",
            "mse",
            "-u",
            f"{HOST}:{port}",
            "-i",
            protocol,
            "--input-data",
            f"{tmp}/input.json",
            "--concurrency-range",
            "32",
            "--measurement-interval",
            str(int(seconds * 1000)),
            "-f",
            f"{tmp}/pa.csv",
        ]
        # perf_analyzer sends request parameters over gRPC only: over HTTP it asks for the loss alone.
        cmd += ["--request-parameter", "return_grad:true:bool"] if protocol == "grpc" else []
        cmd += [] if binary else ["--input-tensor-format", "json", "--output-tensor-format", "json"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 20 + 120)
        if run.returncode != 0 or not Path(tmp, "pa.csv").exists():
            lines = [line.strip() for line in (run.stdout + run.stderr).splitlines() if line.strip()] or ["no output"]
            raise RuntimeError(f"perf_analyzer exit {run.returncode}: {lines[-1]}")
        row = next(csv.DictReader(Path(tmp, "pa.csv").read_text().splitlines()))
    return {
        "rps": float(row["Inferences/Second"]),
        "p50_ms": float(row["p50 latency"]) / 1e3,
        "p99_ms": float(row["p99 latency"]) / 1e3,
    }


# MLServer in a venv of its own. uvloop pinned: with 0.23 (what pip picks for mlserver 1.7.1) MLServer's default
# parallel worker dies at start-up ("There is no current event loop in thread 'MainThread'").
MLSERVER_REQUIREMENTS, MLSERVER_VENV = ("mlserver==1.7.1", "uvloop==0.21.0"), BENCH / ".venv-mlserver"


def ensure_mlserver() -> tuple[Path | None, str]:
    """MLServer's executable in its venv (made with pip when needed), and its version or why not."""
    python, exe = MLSERVER_VENV / "bin" / "python", MLSERVER_VENV / "bin" / "mlserver"
    probe = [str(python), "-c", "import mlserver, uvloop; print(mlserver.__version__, uvloop.__version__)"]
    found = subprocess.run(probe, capture_output=True, text=True) if exe.exists() else None
    if found is None or found.stdout.split() != [r.split("==")[1] for r in MLSERVER_REQUIREMENTS]:
        print(f"installing {' '.join(MLSERVER_REQUIREMENTS)} into {MLSERVER_VENV} ...", flush=True)
        try:
            if not python.exists():
                subprocess.run([PY, "-m", "venv", str(MLSERVER_VENV)], check=True, timeout=300, capture_output=True)
            pip = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *MLSERVER_REQUIREMENTS],
                timeout=1800,
                capture_output=True,
                text=True,
            )
        except (subprocess.SubprocessError, OSError) as error:
            return None, f"could not create the venv or run pip: {error}"
        if pip.returncode != 0 or not exe.exists():
            return None, f"pip install failed (exit {pip.returncode}): {(pip.stdout + pip.stderr).strip()[-400:]}"
        found = subprocess.run(probe, capture_output=True, text=True)
    return (exe, found.stdout.split()[0]) if found.returncode == 0 else (None, found.stderr.strip()[-300:])


def mlserver(exe: Path, port: int, grpc_port: int, parallel_workers: int) -> Server:
    env = {
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(grpc_port),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_PARALLEL_WORKERS": str(parallel_workers),
    }
    argv = [str(exe), "start", str(BENCH / "mlserver_model")]
    return Server(f"mlserver-pw{parallel_workers}", argv, port, env, ready="/v2/models/mse/ready")


def machine() -> dict[str, str]:
    cpu = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ] or ["unknown"]
    distribution = platform.system()
    with contextlib.suppress(OSError):
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME", distribution)
    return {
        "CPU": cpu[0],
        "cores": f"{psutil.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": f"{distribution}, kernel {platform.release()} ({platform.machine()})",
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in (
        "numpy",
        "orjson",
        "pysimdjson",
        "fastapi",
        "starlette",
        "pydantic",
        "uvicorn",
        "uvloop",
        "httptools",
        "torch",
        "pyperf",
        "psutil",
    ):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    out = (
        subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout if shutil.which("wrk") else "not installed"
    )
    return found | {"wrk": out.split("Copyright")[0].removeprefix("wrk").strip()}


def source_state(tree: Path) -> str:
    """The commit of ``tree``, uncommitted changes in its service/, and what ``import service`` gives there."""

    def run(*argv: str) -> str:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        return subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=60).stdout.strip()

    changed = len(run("git", "status", "--porcelain", "--", "service").splitlines())
    return (
        f"commit {run('git', 'log', '-1', '--format=%h %s') or 'unknown'} ({changed or 'no'} uncommitted change(s) "
        f"in service/); `import service` there gives `{run(PY, '-c', 'import service; print(service.__file__)')}`"
    )


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
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": spec["path"],
                "raw_path": spec["path"].encode(),
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 8000),
                "state": dict(state),
            }
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                return messages.pop() if messages else {"type": "http.disconnect"}  # noqa: B023 (awaited at once)

            await app(scope, receive, send)
        return status[0]

    task = loop.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}, inbox.get, outbox.put)
    )
    loop.run_until_complete(lifespan("startup"))
    atexit.register(lambda: (loop.run_until_complete(lifespan("shutdown")), task.cancel()))
    if (status := loop.run_until_complete(many(1))) != 200:
        raise RuntimeError(f"{spec['path']} answered {status} in process")
    return lambda count: loop.run_until_complete(many(count))


def build(spec: dict[str, Any]) -> Callable[[int], Any]:
    """A spec's benchmark as a function running it ``count`` times, made in the worker process that runs it: ``asgi``
    (an ASGI app called in process, no HTTP, lifespan first; ``service`` from ``tree``, access log and gRPC off),
    ``engine`` (``compute`` with the gradient), ``torch`` (1 thread, ``backward()``), ``pass`` (``np.add``)."""
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
        y_true, y_pred = (
            torch.from_numpy(np.ascontiguousarray(v, dtype=spec["dtype"]))
            for v in loss_inputs(spec["loss"], spec["elements"], 3).values()
        )
        step = lambda: torch_loss(spec["loss"], y_true, y_pred.detach().requires_grad_()).backward()  # noqa: E731
    return lambda count: deque((step() for _ in range(count)), maxlen=0)


def time_func(loops: int, spec: dict[str, Any], built: dict[str, Callable[[int], Any]] = {}) -> float:  # noqa: B006
    run = built[spec["name"]] if spec["name"] in built else built.setdefault(spec["name"], build(spec))  # a cache
    start = time.perf_counter()
    run(loops * spec.get("inner", 1))
    return time.perf_counter() - start


if __name__ == "__main__":
    import pyperf as _pyperf

    runner = _pyperf.Runner(add_cmdline_args=lambda cmd, args: cmd.extend(["--spec", args.spec]))
    runner.argparser.add_argument("--spec", required=True, help="the JSON list of benchmarks")
    for item in json.loads(Path(runner.parse_args().spec).read_text()):
        runner.bench_time_func(item["name"], time_func, item, inner_loops=item.get("inner", 1))
