"""gRPC against HTTP binary, and against MLServer's gRPC: python benchmarks/grpc_bench.py [--mlserver PATH] ...

large: MSE + gradient of 1e6-element FP64 arrays, one request at a time, alternating ModelInfer (raw contents)
and /v2 binary tensors; medians, per-round ratio. small: 32x4, 32 calls at once for --seconds: req/s, p50, p99,
server CPU per request. --mlserver (a venv's, mlserver==1.7.1 uvloop==0.21.0) adds MLServer (parallel_workers=0)
serving benchmarks/mlserver_model the same gRPC bytes. Servers on 127.0.0.1; the client is this script.
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from service.rpc import protocol as pb  # noqa: E402

INFER = "/inference.GRPCInferenceService/ModelInfer"
OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
Send = Callable[[], Awaitable[Any]]


def free_port() -> int:
    with socket.socket() as sock:
        return sock.bind(("127.0.0.1", 0)) or int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], ready_url: str) -> Iterator[int]:
    """The server's session id once ``ready_url`` answers 200 (within 90 s); SIGTERM, then SIGKILL, after."""
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while process.poll() is None:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(ready_url, timeout=1).status == 200:
                    break
            assert time.monotonic() < deadline, f"{command[0]} did not become ready within 90 s"
            time.sleep(0.2)
        yield process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def session_cpu(sid: int) -> float:
    """CPU seconds of every process in session ``sid`` (a server and its children)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12]) if int(fields[3]) == sid else 0
    return ticks / os.sysconf("SC_CLK_TCK")


def requests(shape: tuple[int, int]) -> tuple[bytes, bytes]:
    """The same MSE + gradient request as ModelInfer bytes and as an HTTP/1.1 POST of /v2 binary tensors."""
    n, arrays = shape[0] * shape[1], [np.random.default_rng(seed).normal(size=shape).tobytes() for seed in (0, 1)]
    message = pb.ModelInferRequest(model_name="mse", id="bench", raw_input_contents=arrays)
    message.parameters["return_grad"].bool_param = True
    inputs = []
    for name in ("y_true", "y_pred"):
        message.inputs.add(name=name, datatype="FP64", shape=shape)
        inputs.append({"name": name, "datatype": "FP64", "shape": shape, "parameters": {"binary_data_size": 8 * n}})
    parameters = {"return_grad": True, "binary_data_output": True}
    header = json.dumps({"id": "bench", "inputs": inputs, "parameters": parameters}).encode()
    body = header + b"".join(arrays)
    head = f"POST /v2/models/mse/infer HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
    head += f"Host: bench\r\nInference-Header-Content-Length: {len(header)}\r\n\r\n"
    return bytes(message.SerializeToString()), head.encode() + body


async def grpc_sender(port: int, shape: tuple[int, int]) -> tuple[Any, Send]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=OPTIONS)
    call, message = channel.unary_unary(INFER), requests(shape)[0]
    outputs = pb.ModelInferResponse.FromString(await call(message, timeout=120)).outputs  # an error raises
    assert [o.name for o in outputs] == ["loss", "grad_y_pred"], outputs
    return channel, lambda: call(message, timeout=120)


async def http_sender(port: int, shape: tuple[int, int]) -> Send:
    raw, (reader, writer) = requests(shape)[1], await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        await reader.readexactly(int(head.lower().split(b"\r\ncontent-length:")[1].split(b"\r\n")[0]))

    return send


async def large(grpc_port: int, http_port: int | None, rounds: int) -> dict[str, float]:
    """Milliseconds per 1e6-element request over gRPC, and over HTTP binary when ``http_port`` is given."""
    channel, over_grpc = await grpc_sender(grpc_port, (1000, 1000))
    sends = [over_grpc] + ([await http_sender(http_port, (1000, 1000))] if http_port else [])
    times: list[list[float]] = [[] for _ in sends]
    for r in range(rounds + 1):  # round 0 warms up; the order alternates
        for i in range(len(sends)) if r % 2 else reversed(range(len(sends))):
            start = time.perf_counter()
            await sends[i]()
            times[i] += [(time.perf_counter() - start) * 1000] if r else []
    await channel.close()
    figures = {"grpc_ms": statistics.median(times[0]), "rounds": rounds, "loadavg_1m": os.getloadavg()[0]}
    if http_port:
        figures["http_binary_ms"] = statistics.median(times[1])
        figures["http_time_over_grpc_time"] = statistics.median(h / g for g, h in zip(*times, strict=True))
    return figures


async def small(port: int, protocol: str, seconds: float) -> dict[str, float]:
    """32 calls at once: on one gRPC channel, as gRPC clients do, or on 32 HTTP keep-alive connections."""
    channel, send = await grpc_sender(port, (32, 4)) if protocol == "grpc" else (None, None)
    senders = [send] * 32 if send else [await http_sender(port, (32, 4)) for _ in range(32)]
    latencies: list[float] = []

    async def worker(send: Send, until: float, record: bool) -> None:
        while time.monotonic() < until:
            start = time.perf_counter()
            await send()
            latencies.extend([time.perf_counter() - start] if record else [])

    await asyncio.gather(*(worker(send, time.monotonic() + 1.0, False) for send in senders))  # warm-up
    start = time.monotonic()
    await asyncio.gather(*(worker(send, start + seconds, True) for send in senders))
    rate, cut = len(latencies) / (time.monotonic() - start), statistics.quantiles(latencies, n=100)
    if channel is not None:
        await channel.close()
    return {"requests": len(latencies), "req_per_s": rate, "p50_ms": cut[49] * 1000, "p99_ms": cut[98] * 1000}


def measured(name: str, sid: int, run: Awaitable[dict[str, float]]) -> dict[str, float]:
    cpu, figures = session_cpu(sid), asyncio.run(run)  # type: ignore[arg-type]
    if "requests" in figures:
        figures["server_cpu_us_per_req"] = (session_cpu(sid) - cpu) / figures["requests"] * 1e6
    print(f"{name}: {json.dumps({k: round(v, 3) for k, v in figures.items()})}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="large requests per protocol (MLServer: at most 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each small-request run")
    parser.add_argument("--mlserver", type=Path, help="the mlserver executable of its own venv")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    http, rpc = free_port(), free_port()
    env = {"PYTHONPATH": str(ROOT), "LOSS_SERVICE_ACCESS_LOG": "false", "LOSS_SERVICE_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "service", "--port", str(http), "--grpc-port", str(rpc)]
    servers = [("service", command, env, f"http://127.0.0.1:{http}/readyz", rpc, http, args.rounds)]
    if args.mlserver is not None:
        ports = {"HTTP": free_port(), "GRPC": free_port(), "METRICS": free_port()}
        peer_env = {f"MLSERVER_{name}_PORT": str(port) for name, port in ports.items()}
        peer_env.update(MLSERVER_PARALLEL_WORKERS="0", MLSERVER_GRPC_MAX_MESSAGE_LENGTH=str(64 * 2**20))  # as ours
        peer = [str(args.mlserver), "start", str(ROOT / "benchmarks" / "mlserver_model")]
        peer_ready = f"http://127.0.0.1:{ports['HTTP']}/v2/health/ready"
        servers.append(("mlserver", peer, peer_env, peer_ready, ports["GRPC"], None, min(args.rounds, 3)))
    large_, small_ = dict[str, Any](), dict[str, Any]()
    for name, server, server_env, ready_url, grpc_port, http_port, rounds in servers:
        with serving(server, server_env, ready_url) as sid:
            large_[name] = measured(f"large {name}", sid, large(grpc_port, http_port, rounds))
            for protocol, port in (("grpc", grpc_port), ("http_binary", http_port)):
                if port is not None:
                    key = f"{name} {protocol}"
                    small_[key] = measured(f"small {key}", sid, small(port, protocol, args.seconds))
    ratios = {"large: HTTP binary time / gRPC time": large_["service"]["http_time_over_grpc_time"]}
    if "mlserver" in large_:
        ratios["large: MLServer gRPC / service gRPC time"] = (
            large_["mlserver"]["grpc_ms"] / large_["service"]["grpc_ms"]
        )
    for other in [key for key in small_ if key != "service grpc"]:
        for figure in ("req_per_s", "p99_ms", "server_cpu_us_per_req"):
            ratios[f"small {figure}: service grpc / {other}"] = small_["service grpc"][figure] / small_[other][figure]
    text = json.dumps({"cores": os.cpu_count(), "large": large_, "small": small_, "ratios": ratios}, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
