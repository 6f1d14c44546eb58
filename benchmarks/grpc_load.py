"""The gRPC section's load: ModelInfer on a grpc.aio channel, and the same request as /v2 binary tensors over HTTP.

large: MSE + gradient of 1e6-element FP64 arrays, one request at a time, alternating the protocols; small: 32x4,
32 calls at once (on one gRPC channel, as gRPC clients do, or on 32 HTTP keep-alive connections). The section that
runs them, against the service and MLServer, is ``section_grpc`` in benchmarks/run.py.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import numpy as np

from service.rpc import protocol as pb

INFER = "/inference.GRPCInferenceService/ModelInfer"
OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
Send = Callable[[], Awaitable[Any]]
WARM_UP_ROUNDS = 3


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


async def large(grpc_port: int, http_port: int | None, rounds: int) -> dict[str, list[float]]:
    """Milliseconds per 1e6-element request, per round: over gRPC, and over HTTP binary when ``http_port`` is given."""
    channel, over_grpc = await grpc_sender(grpc_port, (1000, 1000))
    sends = [over_grpc] + ([await http_sender(http_port, (1000, 1000))] if http_port else [])
    times: list[list[float]] = [[] for _ in sends]
    for r in range(-WARM_UP_ROUNDS, rounds):  # a new server's first large requests are slower; the order alternates
        for i in range(len(sends)) if r % 2 else reversed(range(len(sends))):
            start = time.perf_counter()
            await sends[i]()
            times[i] += [(time.perf_counter() - start) * 1000] if r >= 0 else []
    await channel.close()
    return {"grpc_ms": times[0], **({"http_binary_ms": times[1]} if http_port else {})}


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
