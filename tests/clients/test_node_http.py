"""``tests/clients/node_client.mjs``, a dependency-free Node.js client, against the real server.

It checks JSON ``POST /losses/mse`` and binary FP64/FP32 ``/v2`` inference against its own maths;
here it must exit 0 against the live server, and 1 (with a message) when the server is wrong.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.http import free_port, running_server
from tests.support.require import skip_unless_available

NODE = shutil.which("node")
if NODE is None:
    skip_unless_available("node", "node (Node.js 20) is not on PATH")

CLIENT = Path(__file__).resolve().parent / "node_client.mjs"
TIMEOUT = 60


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with running_server() as url:
        yield url


def run_client(*args: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, str(CLIENT), *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_node_is_recent_enough() -> None:
    assert NODE is not None
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= 18, f"built-in fetch needs Node 18+, got {version}"


def test_node_client_against_the_live_server(server_url: str) -> None:
    done = run_client(server_url)
    report = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, report
    for mark in ("ok (a)", "ok (b)", "ok (c)", "ok (d)", "all checks passed"):
        assert mark in done.stdout, report
    assert "binary FP64" in done.stdout and "binary FP32" in done.stdout


def test_node_client_without_a_url_exits_1() -> None:
    done = run_client()
    assert done.returncode == 1
    assert "usage" in done.stderr


class WrongLossHandler(BaseHTTPRequestHandler):
    """A server that answers ``POST /losses/mse`` with a plausible but wrong loss."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps(
            {"name": "mse", "reduction": "mean", "dtype": "float64", "loss": 0.5, "grad": {"y_pred": [[0.0] * 3] * 2}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def test_node_client_fails_on_a_wrong_answer() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), WrongLossHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = run_client(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stderr and "loss" in done.stderr


def test_node_client_fails_when_nothing_listens() -> None:
    done = run_client(f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "FAILED" in done.stderr
