"""The real server in a subprocess, for tests that talk to it through real clients.

``python -m service --port <free port>`` with the repository on ``PYTHONPATH``; started when a
test module asks for it and stopped (terminate, then kill) when the module is done.
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


@contextmanager
def running_server(attempts: int = 3) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) of a freshly started server.

    A server that exits during start-up (say, its port was taken in the meantime) is retried on
    another port; one that is not live within ``STARTUP_SECONDS`` fails with its log.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "LOSS_SERVICE_LOG_LEVEL": "warning",
        "LOSS_SERVICE_ACCESS_LOG": "false",
    }
    problems: list[str] = []
    for _ in range(attempts):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryFile() as log:
            command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + STARTUP_SECONDS
                while process.poll() is None and time.monotonic() < deadline and not _is_live(url):
                    time.sleep(0.05)
                if process.poll() is None and _is_live(url):
                    yield url
                    return
                state = "exited" if process.poll() is not None else f"not live after {STARTUP_SECONDS:.0f} s"
                log.seek(0)
                problems.append(f"{' '.join(command)}: {state}\n{log.read().decode(errors='replace')}")
            finally:
                _stop(process)
    raise RuntimeError("the server did not start:\n" + "\n".join(problems))
