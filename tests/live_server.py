"""The real server in a subprocess, for tests that talk to it through real clients.

``python -m service --port <free port>`` with the repository on ``PYTHONPATH`` and its gRPC
server on another free port; started when a test module asks for it and stopped (terminate,
then kill) when the module is done.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30.0


def free_port() -> int:
    """A port the kernel has just handed out on 127.0.0.1 (free unless someone grabs it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_live(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/livez", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    grpc: str  # 127.0.0.1:PORT, the gRPC server's address


@contextmanager
def running_server(attempts: int = 3) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) of a freshly started server."""
    with running_servers(attempts) as server:
        yield server.url


@contextmanager
def running_servers(attempts: int = 3) -> Iterator[LiveServer]:
    """A freshly started server: its HTTP URL and its gRPC address.

    A server that exits during start-up (say, a port was taken in the meantime) is retried on
    other ports; one that is not live within ``STARTUP_SECONDS`` fails with its log.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "LOSS_SERVICE_LOG_LEVEL": "warning",
        "LOSS_SERVICE_ACCESS_LOG": "false",
    }
    problems: list[str] = []
    for _ in range(attempts):
        port, grpc_port = free_port(), free_port()
        url, grpc = f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"
        with tempfile.TemporaryFile() as log:
            command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
            env["LOSS_SERVICE_GRPC_PORT"] = str(grpc_port)
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + STARTUP_SECONDS
                while process.poll() is None and time.monotonic() < deadline and not _is_live(url):
                    time.sleep(0.05)
                # The gRPC server starts before the app does: live HTTP means it serves too.
                if process.poll() is None and _is_live(url):
                    yield LiveServer(url, grpc)
                    return
                state = "exited" if process.poll() is not None else f"not live after {STARTUP_SECONDS:.0f} s"
                log.seek(0)
                problems.append(f"{' '.join(command)}: {state}\n{log.read().decode(errors='replace')}")
            finally:
                _stop(process)
    raise RuntimeError("the server did not start:\n" + "\n".join(problems))
