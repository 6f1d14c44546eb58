"""Record the service's answers to a corpus of requests, for ``tests/api/test_contract_corpus.py``.

``python -m tests.contract.record`` runs the in-process API test modules with every request the
test client sends to the app recorded (method, path, headers, body, and the app's settings)
together with the answer (status, the headers a client relies on, body), adds one good request
per test case of every loss over every protocol, and writes ``tests/contract/corpus.jsonl.gz``.
The replay test sends each request to the current app and compares the answers: a layer
rewritten underneath must not change what a client sees.

When a change of the contract is intended, update only the answers it changes, keeping every
request: ``python -m tests.contract.record --update 'GET /losses(/[^/]*)?$'`` answers again the
entries whose ``METHOD /path`` matches the pattern, and says how many changed; say so in the
commit.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette import testclient

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.jsonl.gz"

#: Modules whose requests go in-process through the test client.
MODULES = [
    "tests/api/test_losses.py",
    "tests/api/test_health.py",
    "tests/api/test_errors.py",
    "tests/api/test_batch.py",
    "tests/api/test_hostile_input.py",
    "tests/api/test_v2.py",
    "tests/api/test_operations.py",
]
#: Answers that depend on time or on what else the process did: not part of the corpus.
SKIP_PATHS = {"/metrics", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"}
SKIP_STATUSES = {408, 500, 503}
#: The response headers a client may rely on (x-request-id is compared when the request sent one).
KEPT_HEADERS = (
    "content-type",
    "allow",
    "retry-after",
    "content-encoding",
    "inference-header-content-length",
    "vary",
    "location",
    "x-request-id",
)
MAX_BYTES = 256 * 1024
KEPT_REQUEST_HEADERS = (
    "content-type",
    "content-encoding",
    "accept-encoding",
    "inference-header-content-length",
    "x-request-id",
    "content-length",
)


def _bytes(data: bytes) -> dict[str, str]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}


def _settings_of(app: Any) -> dict[str, Any] | None:
    state = getattr(app, "state", None)
    settings = getattr(state, "settings", None)
    return None if settings is None else settings.model_dump()


class Recorder:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def record(self, app: Any, request: httpx.Request, response: httpx.Response, raw: bytes) -> None:
        settings = _settings_of(app)
        if settings is None or request.url.path in SKIP_PATHS or response.status_code in SKIP_STATUSES:
            return
        body = request.content
        # gzip output carries a time stamp: the corpus keeps what the client reads after decoding.
        content = gzip.decompress(raw) if response.headers.get("content-encoding") == "gzip" else raw
        if len(body) > MAX_BYTES or len(content) > MAX_BYTES:
            return
        headers = [
            [k.decode("latin-1"), v.decode("latin-1")]
            for k, v in request.headers.raw
            if k.decode("latin-1").lower() in KEPT_REQUEST_HEADERS
        ]
        entry = {
            "settings": {k: v for k, v in settings.items() if v != _DEFAULTS.get(k)},
            "method": request.method,
            "url": str(request.url.raw_path, "latin-1"),
            "headers": headers,
            "body": _bytes(body),
            "status": response.status_code,
            "response_headers": {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers},
            "response": _bytes(content),
        }
        key = hashlib.sha256(
            orjson.dumps([entry["settings"], entry["method"], entry["url"], entry["headers"], entry["body"]])
        ).hexdigest()
        self.entries.setdefault(key, entry)


_DEFAULTS: dict[str, Any] = {}


def _content(field: dict[str, str]) -> bytes:
    return base64.b64decode(field["base64"]) if "base64" in field else field["text"].encode()


def _generic(field: dict[str, str]) -> bytes:
    """A recorded body with the request ids the server generated blanked out."""
    return re.sub(rb"urn:loss-service:request:[0-9a-f]{32}", b"<id>", _content(field))


def update(pattern: str) -> None:
    """Answer again, with the current app, the corpus entries whose ``METHOD /path`` matches ``pattern``."""
    from service.settings import Settings
    from tests.support.http import make_checked_client

    matcher = re.compile(pattern)
    entries = [orjson.loads(line) for line in gzip.decompress(CORPUS.read_bytes()).splitlines()]
    changed = matched = 0
    for entry in entries:
        if not matcher.fullmatch(f"{entry['method']} {entry['url']}"):
            continue
        matched += 1
        with make_checked_client(Settings(**entry["settings"])) as client:
            response = client.request(
                entry["method"],
                entry["url"],
                content=base64.b64decode(entry["body"]["base64"])
                if "base64" in entry["body"]
                else entry["body"]["text"],
                headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["headers"]],
                follow_redirects=False,
            )
        answer = {
            "status": response.status_code,
            "response_headers": {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers},
            "response": _bytes(response.content),
        }
        if entry["status"] != answer["status"] or _generic(entry["response"]) != _generic(answer["response"]):
            changed += 1
        entry.update(answer)
    lines = [orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) for entry in entries]
    CORPUS.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
    print(f"{matched} entries matched {pattern!r}; {changed} answers changed")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.contract.record")
    parser.add_argument("--update", metavar="PATTERN", help="answer again the entries whose 'METHOD /path' matches")
    arguments = parser.parse_args()
    if arguments.update:
        update(arguments.update)
        return
    from service.settings import Settings

    _DEFAULTS.update(Settings().model_dump())
    recorder = Recorder()
    original = testclient._TestClientTransport.handle_request

    def handle_request(self: Any, request: httpx.Request) -> httpx.Response:
        response = original(self, request)
        raw = b"".join(response.stream)  # type: ignore[union-attr]
        recorder.record(self.app, request, response, raw)
        http = testclient.httpx  # the client library the TestClient runs on (httpx, or httpx2 under Starlette 1.x)
        return http.Response(
            response.status_code, headers=response.headers, stream=http.ByteStream(raw), extensions=response.extensions
        )

    testclient._TestClientTransport.handle_request = handle_request  # type: ignore[method-assign]
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-x", *MODULES, "tests/contract/good_requests.py"])
    if code != 0:
        sys.exit(f"the recorded tests failed ({code}); nothing written")
    lines = [orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) for _, entry in sorted(recorder.entries.items())]
    CORPUS.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
    print(f"wrote {len(lines)} requests to {CORPUS}")


if __name__ == "__main__":
    main()
