"""HTTP for the tests: the checked in-process client, the real server in a subprocess, one request
straight through the ASGI app, and one response read from a raw socket.

- ``make_checked_client``: a ``TestClient`` that fails the test on any 500 (``api_client`` in
  ``tests/conftest.py`` is one); ``post_loss`` and ``ok`` send to ``POST /losses/{name}`` and read a
  200 answer.
- ``ServerProcess``: ``python -m service`` on free loopback ports (HTTP and gRPC), with extra
  arguments and environment, its stdout log, bounded waits and a process-group stop;
  ``running_server`` is the same for tests that need only its URL, ``running_servers`` for tests
  that need its URL (``.url``) and its gRPC address (``.grpc``).
- ``asgi_request``: a path and header bytes exactly as a server passes them (no client normalises them).
- ``read_response``: one HTTP/1.1 response from a raw socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
JSON = {"content-type": "application/json"}
PROBLEM_JSON = "application/problem+json"


# In-process.


def make_checked_client(settings: Settings | None = None) -> TestClient:
    """A ``TestClient`` on a fresh app that fails the test on any 500 (API.md section 3: a 500 is a bug).

    Use it in a ``with`` block so that the lifespan runs (``/readyz`` is 200 only inside it).
    """
    from fastapi.testclient import TestClient

    from service.app import create_app

    class CheckedClient(TestClient):
        def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            response = super().request(method, url, *args, **kwargs)
            assert response.status_code != 500, f"{method} {url} answered 500 (a bug): {response.text}"
            return response

    return CheckedClient(create_app(settings))


def post_loss(client: TestClient, name: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    """``POST /losses/{name}``: ``body`` as JSON (bytes as they are), ``Content-Type: application/json`` unless
    ``headers`` are given."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"/losses/{name}", content=content, headers=JSON if headers is None else headers)


def ok(response: Any) -> dict[str, Any]:
    """The JSON document of a 200 ``application/json`` answer."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


async def asgi_request(
    app: Any, method: str, raw_path: bytes, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request straight through the ASGI app: the path and header bytes exactly as a server passes them.

    (httpx normalises ``..`` out of paths and re-encodes header values; uvicorn does neither.)
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-length", str(len(body)).encode()), *(headers or [])],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    delivered = False
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(30)  # not reached: the app has its whole body
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    try:
        await asyncio.wait_for(app(scope, receive, send), timeout=30)
    except Exception:  # Starlette re-raises an unhandled error after sending its 500
        if not messages:
            raise
    start = messages[0]
    response_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])}
    content = b"".join(m.get("body", b"") for m in messages[1:])
    return int(start["status"]), response_headers, content


# The real server.


def free_port() -> int:
    """A port the kernel has just handed out on 127.0.0.1 (free unless someone grabs it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_live(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/livez", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


class ServerProcess:
    """``python -m service`` on a free loopback port, its gRPC server on another, its stdout (the JSON log) in a file.

    ``args`` go to ``python -m service`` (``--workers 2``), ``env`` to its environment
    (``LOSS_SERVICE_*``), which otherwise has none of this process's ``LOSS_SERVICE_*`` settings.
    The process is in ``process`` (to signal it) and its log in ``log()``/``log_records()``. A
    start-up that loses its port to another process is retried on another; every wait is bounded;
    ``stop`` always ends the process and its process group (the workers of several). The log level
    must stay at ``info`` or below: start-up is confirmed by uvicorn's line naming the port.
    """

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, startup_seconds: float = 30.0, attempts: int = 3
    ) -> None:
        self.args = args
        self.env = env or {}
        self.startup_seconds = startup_seconds
        self.attempts = attempts
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.grpc_port = 0  # a free one, unless env gives LOSS_SERVICE_GRPC_PORT
        self._log_dir = Path(tempfile.mkdtemp(prefix="loss-service-test-"))
        self.log_path = self._log_dir / "stdout.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc(self) -> str:
        """The gRPC server's address, ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.grpc_port}"

    def __enter__(self) -> ServerProcess:
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOSS_SERVICE_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env.update(PYTHONPATH=path, PYTHONUNBUFFERED="1", **self.env)
        for _ in range(self.attempts):
            self.port = free_port()
            self.grpc_port = int(self.env.get("LOSS_SERVICE_GRPC_PORT", free_port()))
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "service", "--port", str(self.port), *self.args],
                    cwd=ROOT,
                    env={"LOSS_SERVICE_GRPC_PORT": str(self.grpc_port), **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: the workers go with it
                )
            deadline = time.monotonic() + self.startup_seconds
            # Live, and it is ours: its log says it bound this port (another server may hold it).
            while self.process.poll() is None and time.monotonic() < deadline:
                if f"127.0.0.1:{self.port}" in self.log() and is_live(self.url):
                    return
                time.sleep(0.05)
            state = self.process.poll()
            self.stop()
            if state is None or "address already in use" not in self.log().lower():  # uvicorn's, gRPC's
                raise AssertionError(f"the server did not start (exit {state}):\n{self.log()}")
        raise AssertionError(f"no free port after {self.attempts} attempts:\n{self.log()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and a bounded wait (then SIGKILL), and SIGKILL to its process group."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the group this test created: workers a killed supervisor left

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_records(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed: the log is JSON lines, so each must parse to an object."""
        records, log = [], self.log()
        for line in log.splitlines():
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise AssertionError(f"a log line is not JSON: {line!r}; the whole log:\n{log}") from None
                assert isinstance(record, dict), line
                records.append(record)
        return records

    def wait_for_log(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.log_records():
                if predicate(record):
                    return record
            time.sleep(0.05)
        raise AssertionError(f"no such log line within {timeout} s:\n{self.log()[-3000:]}")


@contextmanager
def running_servers(attempts: int = 3) -> Iterator[ServerProcess]:
    """A freshly started server, one worker and no access log, stopped when the block ends: its base URL
    (``.url``, ``http://127.0.0.1:PORT``) and its gRPC address (``.grpc``)."""
    env = {"LOSS_SERVICE_ACCESS_LOG": "false"}
    with ServerProcess("--host", "127.0.0.1", "--workers", "1", env=env, attempts=attempts) as server:
        yield server


@contextmanager
def running_server(attempts: int = 3) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT``) of a freshly started server (``running_servers``)."""
    with running_servers(attempts) as server:
        yield server.url


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP/1.1 response from a raw socket (``Content-Length`` framed), or None if it closed.

    The socket's own timeout bounds every wait.
    """
    buffer = b""
    try:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except ConnectionResetError:
        return None
    return int(lines[0].split()[1]), headers, body[:length]
