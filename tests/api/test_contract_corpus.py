"""Every request of the recorded corpus gets the answer it got when it was recorded.

``tests/contract/corpus.jsonl.gz`` holds ~5,000 requests over every operation (good ones for
every loss and protocol, and the error rows the API tests send) with the answers the service
gave when they were recorded (``python -m tests.contract.record``): status, the headers a
client relies on, and the body byte for byte. Replaying them against the current app proves
that a change underneath (routing, middleware, where the work runs) changed nothing a client
sees. Request ids the server generated are the one thing allowed to differ.
"""

from __future__ import annotations

import base64
import gzip
import re
from collections import defaultdict
from typing import Any

import orjson
import pytest

from service.settings import Settings
from tests.contract.record import CORPUS
from tests.support.http import make_checked_client

GENERATED_INSTANCE = re.compile(rb"urn:loss-service:request:[0-9a-f]{32}")


def _load() -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in gzip.decompress(CORPUS.read_bytes()).splitlines():
        entry = orjson.loads(line)
        groups[orjson.dumps(entry["settings"], option=orjson.OPT_SORT_KEYS).decode()].append(entry)
    return dict(groups)


def _bytes(field: dict[str, str]) -> bytes:
    return field["text"].encode() if "text" in field else base64.b64decode(field["base64"])


GROUPS = _load()


def _difference(entry: dict[str, Any], response: Any) -> str | None:
    sent = [v for k, v in entry["headers"] if k.lower() == "x-request-id"]
    kept_id = bool(sent) and entry["response_headers"].get("x-request-id") == sent[-1]
    expected_body = GENERATED_INSTANCE.sub(b"<id>", _bytes(entry["response"]))
    body = GENERATED_INSTANCE.sub(b"<id>", response.content)
    if response.status_code != entry["status"]:
        return f"status {response.status_code}, recorded {entry['status']}: {body[:300]!r}"
    for name, value in entry["response_headers"].items():
        if name == "x-request-id" and not kept_id:
            continue
        if response.headers.get(name) != value:
            return f"header {name}: {response.headers.get(name)!r}, recorded {value!r}"
    for name in ("allow", "retry-after", "inference-header-content-length", "location"):
        if name in response.headers and name not in entry["response_headers"]:
            return f"header {name}: {response.headers[name]!r}, recorded none"
    if body != expected_body:
        return f"body {body[:400]!r}\n  recorded {expected_body[:400]!r}"
    return None


@pytest.mark.parametrize("settings", sorted(GROUPS), ids=lambda s: s if len(s) < 60 else s[:57] + "...")
def test_recorded_answers_are_unchanged(settings: str) -> None:
    entries = GROUPS[settings]
    failures = []
    with make_checked_client(Settings(**orjson.loads(settings))) as client:
        for entry in entries:
            response = client.request(
                entry["method"],
                entry["url"],
                content=_bytes(entry["body"]),
                headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["headers"]],
                follow_redirects=False,
            )
            difference = _difference(entry, response)
            if difference is not None:
                failures.append(f"{entry['method']} {entry['url']}: {difference}")
    assert not failures, f"{len(failures)} of {len(entries)} answers changed:\n" + "\n".join(failures[:15])
