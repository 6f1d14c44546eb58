"""A short mixed-load check for the helper process: small and large JSON requests at once.

``python benchmarks/mixed_soak.py --duration 90`` starts ``python -m service`` (1 worker) on
127.0.0.1, then for the duration runs four clients sending 32x4 MSE requests, one sending
(20000, 10) arrays (a 7.4 MiB body: above the 4 MiB threshold, so with small requests in flight
it goes to the helper process) and one sending the same body truncated (malformed JSON: 400).
It prints the open file descriptors and RSS of the worker and of its children (the helper,
multiprocessing's resource tracker) after 10 seconds and at the end, the request counts and any
unexpected status: leaked memory files or descriptors would show as growth. Not a test: nothing
here is collected by pytest.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson

PORT = 8779


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of load (default 90)")
    args = parser.parse_args()
    env = {**os.environ, "LOSS_SERVICE_ACCESS_LOG": "false", "LOSS_SERVICE_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, "-m", "service", "--port", str(PORT)], env=env)
    try:
        return run(server, args.duration)
    finally:
        server.terminate()
        print("server exit status", server.wait(30))


def post(body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    try:
        connection.request("POST", "/losses/mse", body, {"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def state(pid: int) -> dict[int, tuple[int, int]]:
    """(open descriptors, RSS MiB) of the server and each of its children."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found: dict[int, tuple[int, int]] = {}
    for each in [pid, *map(int, children)]:
        try:
            status = Path(f"/proc/{each}/status").read_text().splitlines()
            rss = next(line for line in status if line.startswith("VmRSS")).split()[1]
            found[each] = (len(os.listdir(f"/proc/{each}/fd")), int(rss) // 1024)
        except (OSError, StopIteration):
            pass
    return found


def run(server: subprocess.Popen[bytes], duration: float) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    rng = np.random.default_rng(0)
    option = orjson.OPT_SERIALIZE_NUMPY
    small = orjson.dumps(
        {"y_true": rng.random((32, 4)), "y_pred": rng.random((32, 4)), "return_grad": True}, option=option
    )
    large = orjson.dumps(
        {"y_true": rng.random((20000, 10)), "y_pred": rng.random((20000, 10)), "return_grad": True}, option=option
    )
    malformed = large[:-200] + b"]]]}"
    stop = time.monotonic() + duration
    counts = {"small": 0, "large": 0}
    unexpected: list[tuple[str, int]] = []

    def client(kind: str, body: bytes, expected: int) -> None:
        while time.monotonic() < stop:
            status = post(body)
            counts[kind] += 1
            if status != expected:
                unexpected.append((kind, status))

    clients = [threading.Thread(target=client, args=("small", small, 200)) for _ in range(4)]
    clients += [
        threading.Thread(target=client, args=("large", large, 200)),
        threading.Thread(target=client, args=("large", malformed, 400)),
    ]
    for thread in clients:
        thread.start()
    time.sleep(min(10.0, duration))
    print("after 10 s, pid: (descriptors, RSS MiB):", state(server.pid), flush=True)
    for thread in clients:
        thread.join()
    print("at the end:", state(server.pid))
    print(f"requests: {counts}; unexpected statuses: {len(unexpected)} {unexpected[:5]}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
