"""Operations: Prometheus metrics, request ids and JSON logs, settings, overload answers, gzip.

Most tests run the app in-process; the multiprocess metrics and the log line need the real
server (``python -m service``), started by ``tests.support.http.ServerProcess``.

Metrics live in prometheus-client's process-wide registry, which other tests also feed: every
in-process assertion is on the change a request makes (``tests.support.metrics.delta``), never on
an absolute count.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tracemalloc
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from service.app import create_app
from service.engine import CATALOG
from service.settings import Settings
from tests.support.http import JSON, PROBLEM_JSON, ROOT, ServerProcess, asgi_request, free_port, make_checked_client
from tests.support.metrics import counts_by_worker, delta, multiproc_dir, sample, scrape

INSTANCE = "urn:loss-service:request:"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
MSE = {"y_true": [[0.0, 1.0], [1.0, 0.0]], "y_pred": [[0.5, 1.0], [1.0, 0.0]]}  # loss 0.0625
V2_MSE = {
    "inputs": [
        {"name": "y_true", "shape": [2], "datatype": "FP64", "data": [0.0, 1.0]},
        {"name": "y_pred", "shape": [2], "datatype": "FP64", "data": [0.5, 1.0]},
    ]
}


# --- metrics, in-process ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with make_checked_client() as checked:
        yield checked


def test_metrics_are_prometheus_text_with_every_family(client: TestClient) -> None:
    assert client.post("/losses/mse", json=MSE).status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family.type for family in text_string_to_metric_families(response.text)}
    assert families["http_requests"] == "counter"  # http_requests_total: the parser drops _total
    assert families["http_request_duration_seconds"] == "histogram"
    assert families["loss_computations"] == "counter"
    assert families["loss_compute_seconds"] == "histogram"
    assert families["loss_request_elements"] == "histogram"
    assert families["loss_requests_in_flight"] == "gauge"
    in_flight = [
        s
        for f in text_string_to_metric_families(response.text)
        for s in f.samples
        if s.name == "loss_requests_in_flight"
    ]
    assert [s.value for s in in_flight] == [0.0]  # the POST above was answered


def test_http_requests_are_counted_by_route_template(client: TestClient) -> None:
    before = scrape(client)
    assert client.post("/losses/mse", json=MSE).status_code == 200
    assert client.post("/losses/mse", json={"y_true": [1.0], "y_pred": [1.0, 2.0]}).status_code == 422
    assert client.post("/v2/models/mse/infer", json=V2_MSE).status_code == 200
    assert client.get("/losses/mse").status_code == 200
    assert client.get(f"/no-such-{uuid.uuid4().hex}").status_code == 404
    after = scrape(client)

    total = "http_requests_total"
    assert delta(before, after, total, handler="/losses/{name}", method="POST", status="200") == 1
    assert delta(before, after, total, handler="/losses/{name}", method="POST", status="422") == 1
    assert delta(before, after, total, handler="/v2/models/{name}/infer", method="POST", status="200") == 1
    assert delta(before, after, total, handler="/losses/{name}", method="GET", status="200") == 1
    assert delta(before, after, total, handler="unmatched", method="GET", status="404") == 1
    count = "http_request_duration_seconds_count"
    assert delta(before, after, count, handler="/losses/{name}", method="POST") == 2
    assert delta(before, after, count, handler="/v2/models/{name}/infer", method="POST") == 1
    assert delta(before, after, count, handler="unmatched", method="GET") == 1
    # The histogram's buckets are cumulative and its +Inf bucket is its count.
    inf = delta(
        before, after, "http_request_duration_seconds_bucket", handler="/losses/{name}", method="POST", le="+Inf"
    )
    assert inf == 2
    assert delta(before, after, "http_request_duration_seconds_sum", handler="/losses/{name}", method="POST") > 0


def test_metric_labels_never_carry_raw_paths(client: TestClient) -> None:
    """Hostile and random paths are counted under their route template or "unmatched", never as such."""
    marker = uuid.uuid4().hex
    paths = [
        ("GET", f"/losses/../{marker}"),
        ("GET", f"/losses/%2e%2e/{marker}"),
        ("POST", f"/losses/mse/../../{marker}"),
        ("GET", f"/{marker}"),
        ("GET", f"/losses/{marker}"),  # GET /losses/{name}: an unknown loss
        ("POST", f"/losses/{marker}"),  # POST /losses/{name}: an unknown loss
        ("POST", f"/v2/models/{marker}/infer"),  # an unknown model
        ("GET", f"/v2/models/{marker}/versions/{marker}"),
        ("DELETE", f"/losses/mse?{marker}"),
        ("GET", "/" + marker * 40),
    ]
    app = client.app

    async def send_all() -> list[int]:
        answers = [
            await asgi_request(app, method, path.encode(), b"{}", [(b"content-type", b"application/json")])
            for method, path in paths
        ]
        return [status for status, _, _ in answers]

    statuses = asyncio.run(send_all())
    assert all(400 <= status < 500 for status in statuses), statuses
    # A batch item naming an unknown loss must not mint a loss label either.
    batch = client.post("/batch", json={"items": [{"loss": marker, "y_true": [1.0], "y_pred": [1.0]}]})
    assert batch.json()["results"][0]["status"] == 404

    text = client.get("/metrics").text
    assert marker not in text
    assert "/.." not in text and "%2e" not in text.lower()
    templates = {route.path for route in app.routes} | {"unmatched"}  # type: ignore[attr-defined]
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if "handler" in s.labels:
                assert s.labels["handler"] in templates, s
            if "loss" in s.labels:
                assert s.labels["loss"] in CATALOG, s


def test_loss_computations_counted_by_outcome(client: TestClient) -> None:
    before = scrape(client)
    assert client.post("/losses/mse", json=MSE).status_code == 200
    assert client.post("/losses/mse", json={"y_true": [1.0], "y_pred": [1.0, 2.0]}).status_code == 422
    out_of_domain = {"y_true": [1.0], "y_pred": [1.7]}  # not a probability
    assert client.post("/losses/binary_crossentropy", json=out_of_domain).status_code == 422
    batch = {"items": [{"loss": "mse", **MSE}, {"loss": "mse", "y_true": [1.0], "y_pred": [[1.0]]}]}
    assert [r["status"] for r in client.post("/batch", json=batch).json()["results"]] == [200, 422]
    assert client.post("/v2/models/mse/infer", json=V2_MSE).status_code == 200
    after = scrape(client)

    computations = "loss_computations_total"
    # Labelled by the protocol each came in: the codec's name for its wire format.
    assert delta(before, after, computations, loss="mse", status="200", protocol="losses") == 1
    assert delta(before, after, computations, loss="mse", status="200", protocol="batch") == 1
    assert delta(before, after, computations, loss="mse", status="200", protocol="v2") == 1
    assert delta(before, after, computations, loss="mse", status="422", protocol="losses") == 1
    assert delta(before, after, computations, loss="mse", status="422", protocol="batch") == 1
    assert delta(before, after, computations, loss="binary_crossentropy", status="422", protocol="losses") == 1
    assert delta(before, after, "loss_compute_seconds_count", loss="mse") >= 3
    assert delta(before, after, "loss_compute_seconds_sum", loss="mse") > 0


def test_loss_compute_seconds_and_elements_per_request(client: TestClient) -> None:
    body = {"y_true": [1.0, 2.0, 3.0], "y_pred": [1.0, 2.0, 5.0], "sample_weight": [1.0, 1.0, 1.0]}
    before = scrape(client)
    response = client.post("/losses/mse", json=body)
    after = scrape(client)
    assert response.json()["loss"] == pytest.approx(4 / 3)
    assert delta(before, after, "loss_compute_seconds_count", loss="mse") == 1
    assert delta(before, after, "loss_compute_seconds_bucket", loss="mse", le="+Inf") == 1
    assert delta(before, after, "loss_request_elements_count") == 1
    assert delta(before, after, "loss_request_elements_sum") == 9  # 3 + 3 + 3 sample weights
    buckets = {
        float(dict(labels)["le"]): after[(name, labels)] - before.get((name, labels), 0.0)
        for (name, labels) in after
        if name == "loss_request_elements_bucket"
    }
    assert buckets[10.0] == 1  # 9 elements fall in the first bucket (le=10) and every one above
    assert all(count == 1 for count in buckets.values())


# --- X-Request-ID -------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["abc-123", "client.42:trace@host/span+x=y", "x" * 128])
def test_request_id_is_echoed(client: TestClient, request_id: str) -> None:
    ok = client.post("/losses/mse", json=MSE, headers={"X-Request-ID": request_id})
    assert ok.status_code == 200
    assert ok.headers["x-request-id"] == request_id
    problem = client.post("/losses/mse", json={"y_true": [1.0]}, headers={"X-Request-ID": request_id})
    assert problem.status_code == 422
    assert problem.headers["x-request-id"] == request_id
    assert problem.json()["instance"] == INSTANCE + request_id


@pytest.mark.parametrize(
    "incoming",
    [None, "", "x" * 129, "has spaces", " padded", "a,b", 'quote"d', b"caf\xe9"],
    ids=["absent", "empty", "too-long", "spaces", "leading-space", "comma", "quote", "latin-1"],
)
def test_request_id_is_generated_when_absent_or_invalid(client: TestClient, incoming: str | bytes | None) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    response = client.get("/no-such-path", headers=headers)  # type: ignore[arg-type]
    assert response.status_code == 404
    generated = response.headers["x-request-id"]
    assert GENERATED_ID.fullmatch(generated), generated
    assert response.json()["instance"] == INSTANCE + generated
    again = client.get("/no-such-path", headers=headers)  # type: ignore[arg-type]
    assert again.headers["x-request-id"] != generated  # fresh for every request


def test_every_kind_of_problem_carries_the_request_id(client: TestClient) -> None:
    cases = [
        client.get("/nowhere"),  # 404 from the router
        client.delete("/losses/mse"),  # 405
        client.post("/losses/mse", content=b"{", headers=JSON),  # 400 malformed JSON
        client.post("/losses/mse", content=b"{}", headers={"content-type": "text/plain"}),  # 415
        client.post("/losses/mse", json={"y_true": [1.0]}),  # 422
        client.post("/losses/nope", json=MSE),  # 404 unknown loss
        client.post("/losses/mse", content=b"{}", headers={**JSON, "content-encoding": "br"}),  # 415 in middleware
    ]
    for response in cases:
        assert response.headers["content-type"] == PROBLEM_JSON, response.text
        assert response.json()["instance"] == INSTANCE + response.headers["x-request-id"]
    assert [r.status_code for r in cases] == [404, 405, 400, 415, 422, 404, 415]


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_BODY_BYTES", "-1"),
        ("MAX_BODY_BYTES", "lots"),
        ("MAX_ELEMENTS", "0"),
        ("MAX_CONCURRENCY", "0"),
        ("REQUEST_TIMEOUT_SECONDS", "0"),
        ("REQUEST_TIMEOUT_SECONDS", "soon"),
        ("WORKERS", "abc"),
        ("WORKERS", "0"),
        ("LOG_LEVEL", "verbose"),
        ("BATCH_MAX_ITEMS", "0"),
        ("GZIP_LEVEL", "10"),
        ("PORT", "70000"),
        ("RETRY_AFTER_SECONDS", "-1"),
    ],
)
def test_settings_refuse_bad_values(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(f"LOSS_SERVICE_{variable}", value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert variable.lower() in str(error.value)


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "MAX_BODY_BYTES": "4096",
        "MAX_ELEMENTS": "1000",
        "MAX_CONCURRENCY": "3",
        "REQUEST_TIMEOUT_SECONDS": "2.5",
        "WORKERS": "4",
        "LOG_LEVEL": "debug",
        "BATCH_MAX_ITEMS": "7",
    }
    for name, value in values.items():
        monkeypatch.setenv(f"LOSS_SERVICE_{name}", value)
    settings = Settings()
    assert (settings.max_body_bytes, settings.max_elements, settings.max_concurrency) == (4096, 1000, 3)
    assert (settings.request_timeout_seconds, settings.workers) == (2.5, 4)
    assert (settings.log_level, settings.batch_max_items) == ("debug", 7)


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({"LOSS_SERVICE_MAX_BODY_BYTES": "-1"}, [], "max_body_bytes"),
        ({"LOSS_SERVICE_WORKERS": "abc"}, [], "workers"),
        ({"LOSS_SERVICE_LOG_LEVEL": "loud"}, [], "log_level"),
        ({}, ["--port", "70000"], "port"),
    ],
    ids=["max-body-bytes", "workers", "log-level", "port-option"],
)
def test_the_server_fails_fast_on_a_bad_setting(env: dict[str, str], args: list[str], named: str) -> None:
    """``python -m service`` exits non-zero before serving, naming the bad setting."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOSS_SERVICE_")}
    # A port no test server uses: were the setting accepted, the server would start and time out here.
    result = subprocess.run(
        [sys.executable, "-m", "service", "--port", str(free_port()), *args],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        timeout=30,
    )
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert named in stderr.lower(), stderr
    assert "LOSS_SERVICE_" in stderr or named == "port", stderr
    assert "Traceback" not in stderr, stderr
    assert b"Uvicorn running" not in result.stdout


# --- overload -----------------------------------------------------------------------------------


async def _overload_scenario(app: Any) -> dict[str, httpx.Response]:
    """Hold one computation in flight (its body arrives only when released) and probe the server meanwhile."""
    body = json.dumps({"y_true": [0.0, 1.0, 2.0], "y_pred": [1.0, 1.0, 4.0], "reduction": "sum"}).encode()
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield body[:10]
        await asyncio.wait_for(release.wait(), timeout=20)
        yield body[10:]

    transport = httpx.ASGITransport(app=app)
    answers: dict[str, httpx.Response] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
        held = asyncio.create_task(http.post("/losses/mse", content=held_body(), headers=JSON))
        try:
            for _ in range(2000):  # until the first request has its computation slot
                if app.state.service.admission.in_flight == 1:
                    break
                await asyncio.sleep(0.005)
            assert app.state.service.admission.in_flight == 1
            answers["second"] = await http.post("/losses/mse", json=MSE, headers={"X-Request-ID": "second-one"})
            answers["v2"] = await http.post("/v2/models/mse/infer", json=V2_MSE)
            answers["batch"] = await http.post("/batch", json={"items": [{"loss": "mse", **MSE}]})
            answers["livez"] = await http.get("/livez")
            answers["metrics"] = await http.get("/metrics")
            answers["catalog"] = await http.get("/losses")
        finally:
            release.set()
        answers["held"] = await asyncio.wait_for(held, timeout=20)
        assert app.state.service.admission.in_flight == 0
        answers["after"] = await http.post("/losses/mse", json=MSE)
    return answers


def test_overload_answers_503_with_retry_after() -> None:
    app = create_app(Settings(max_concurrency=1, retry_after_seconds=2))
    answers = asyncio.run(_overload_scenario(app))

    refused = answers["second"]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert refused.headers["content-type"] == PROBLEM_JSON
    problem = refused.json()
    assert problem["type"] == "urn:loss-service:problem:overloaded"
    assert problem["status"] == 503
    assert problem["instance"] == INSTANCE + "second-one"
    assert refused.headers["x-request-id"] == "second-one"
    for name in ("v2", "batch"):  # every computation shares the limit
        assert answers[name].status_code == 503
        assert answers[name].headers["retry-after"] == "2"
    for name in ("livez", "metrics", "catalog"):  # reads are never refused
        assert answers[name].status_code == 200, name
    # The held request was computed, and its slot freed.
    assert answers["held"].status_code == 200
    assert answers["held"].json()["loss"] == 5.0  # 1 + 0 + 4
    assert answers["after"].status_code == 200


def test_overload_503_is_counted_as_refused_before_routing() -> None:
    """Admission refuses before the router has matched a route: the label says so (``unmatched``)."""
    app = create_app(Settings(max_concurrency=1))
    before = scrape(TestClient(app))
    asyncio.run(_overload_scenario(app))
    after = scrape(TestClient(app))
    total = "http_requests_total"
    assert delta(before, after, total, handler="unmatched", method="POST", status="503") == 3  # /losses, /v2, /batch
    assert delta(before, after, total, handler="/losses/{name}", method="POST", status="503") == 0


# --- gzip ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_limit_client() -> Iterator[TestClient]:
    with make_checked_client(Settings(max_body_bytes=2**20)) as checked:
        yield checked


@pytest.mark.parametrize(
    ("path", "document"),
    [
        ("/losses/mse", {**MSE, "return_grad": True, "reduction": "sum"}),
        ("/v2/models/mse/infer", V2_MSE),
        ("/batch", {"items": [{"loss": "mse", **MSE}, {"loss": "hinge", "y_true": [[1, -1]], "y_pred": [[0.3, 2]]}]}),
    ],
)
def test_gzip_request_body_computes_the_same_result(client: TestClient, path: str, document: Any) -> None:
    raw = json.dumps(document).encode()
    plain = client.post(path, content=raw, headers=JSON)
    zipped = client.post(path, content=gzip.compress(raw), headers={**JSON, "Content-Encoding": "gzip"})
    assert plain.status_code == zipped.status_code == 200
    assert zipped.json() == plain.json()
    upper = client.post(path, content=gzip.compress(raw), headers={**JSON, "Content-Encoding": "GZIP"})
    assert upper.json() == plain.json()


def test_gzip_bomb_gets_413_with_bounded_memory(small_limit_client: TestClient) -> None:
    bomb = gzip.compress(b"0" * 50_000_000, compresslevel=9)  # 50 MB of zeros
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        response = small_limit_client.post("/losses/mse", content=bomb, headers={**JSON, "Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    problem = response.json()
    assert problem["type"] == "urn:loss-service:problem:body-too-large"
    assert str(2**20) in problem["detail"]
    assert peak < 20_000_000, f"{peak} bytes at peak: the bomb was inflated"  # 1 MiB limit, 50 MB bomb
    # The server keeps serving, its computation slot given back.
    assert small_limit_client.post("/losses/mse", json=MSE).json()["loss"] == 0.0625
    assert small_limit_client.app.state.service.admission.in_flight == 0  # type: ignore[attr-defined]


def test_gzip_within_the_limit_is_accepted(small_limit_client: TestClient) -> None:
    """The cap is on the decompressed size: a body just under it (compressing to almost nothing) is fine."""
    values = [0.5] * 100_000  # ~1,000,000 bytes of JSON: just under 1 MiB
    raw = json.dumps({"y_true": values, "y_pred": values}).encode()
    assert len(raw) < 2**20
    headers = {**JSON, "Content-Encoding": "gzip"}
    response = small_limit_client.post("/losses/mse", content=gzip.compress(raw), headers=headers)
    assert response.status_code == 200
    assert response.json()["loss"] == 0.0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"\x1f\x8b\x08\x00garbage-not-deflate" * 3, "corrupt"),
        (b"plain text, not gzip at all", "corrupt"),
        (gzip.compress(json.dumps(MSE).encode())[:20], "truncated"),
        (gzip.compress(json.dumps(MSE).encode())[:-4], "truncated"),  # the length trailer missing
        (b"", "truncated"),
    ],
    ids=["bad-deflate", "not-gzip", "cut-in-half", "no-trailer", "empty"],
)
def test_corrupt_or_truncated_gzip_gets_400(client: TestClient, body: bytes, detail: str) -> None:
    response = client.post("/losses/mse", content=body, headers={**JSON, "Content-Encoding": "gzip"})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == "urn:loss-service:problem:malformed-body"
    assert detail in problem["detail"]
    assert client.post("/losses/mse", json=MSE).status_code == 200


@pytest.mark.parametrize("encoding", ["br", "deflate", "compress", "zstd", "gzip, br", "x-gzip"])
def test_unknown_content_encoding_gets_415(client: TestClient, encoding: str) -> None:
    body = json.dumps(MSE).encode()
    response = client.post("/losses/mse", content=body, headers={**JSON, "Content-Encoding": encoding})
    assert response.status_code == 415
    assert response.json()["type"] == "urn:loss-service:problem:unsupported-media-type"


def test_identity_content_encoding_is_accepted(client: TestClient) -> None:
    response = client.post("/losses/mse", json=MSE, headers={"Content-Encoding": "identity"})
    assert response.json()["loss"] == 0.0625


def test_responses_are_gzipped_when_the_client_accepts_gzip(client: TestClient) -> None:
    body = {"y_true": [[0.25 * i, 1.0] for i in range(400)], "y_pred": [[0.5, 0.5]] * 400, "reduction": "none"}
    with client.stream("POST", "/losses/mse", json=body, headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in response.headers.get("vary", "").lower()
        compressed = b"".join(response.iter_raw())
    identity = client.post("/losses/mse", json=body, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers
    assert len(compressed) < len(identity.content)
    assert json.loads(zlib.decompress(compressed, wbits=31)) == identity.json()
    assert len(identity.json()["loss"]) == 400


def test_small_responses_are_not_gzipped(client: TestClient) -> None:
    response = client.post("/losses/mse", json=MSE, headers={"Accept-Encoding": "gzip"})
    assert response.json()["loss"] == 0.0625
    assert "content-encoding" not in response.headers


# --- the real server: several workers, JSON logs ------------------------------------------------


@pytest.fixture(scope="module")
def two_workers() -> Iterator[ServerProcess]:
    with ServerProcess("--workers", "2") as server:
        directory = multiproc_dir(server) if Path("/proc/self/environ").exists() else None
        try:
            yield server
        finally:
            server.stop()
            if directory is not None:  # python -m service makes it and leaves it behind
                shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads worker environments from /proc")
def test_multiprocess_metrics_add_up_across_workers(two_workers: ServerProcess) -> None:
    directory = multiproc_dir(two_workers)
    sent = 0

    def one_request() -> None:
        with httpx.Client(base_url=two_workers.url, timeout=10) as fresh:  # a new connection each time
            assert fresh.post("/losses/mse", json=MSE).status_code == 200

    # Keep sending, on fresh concurrent connections, until both workers have answered some (bounded).
    while sent < 400:
        threads = [threading.Thread(target=one_request) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        sent += len(threads)
        by_worker = counts_by_worker(directory, "http_requests_total", handler="/losses/{name}")
        if sum(1 for count in by_worker.values() if count > 0) >= 2:
            break
    by_worker = counts_by_worker(directory, "http_requests_total", handler="/losses/{name}")
    assert sum(1 for count in by_worker.values() if count > 0) == 2, by_worker
    assert sum(by_worker.values()) == sent

    # GET /metrics in any worker reports every worker's requests.
    for _ in range(6):
        with httpx.Client(base_url=two_workers.url, timeout=10) as fresh:
            samples = scrape(fresh)
        total = sample(samples, "http_requests_total", handler="/losses/{name}", method="POST", status="200")
        assert total == sent
        assert sample(samples, "loss_computations_total", loss="mse", status="200", protocol="losses") == sent
        assert sample(samples, "http_request_duration_seconds_count", handler="/losses/{name}", method="POST") == sent
        assert sample(samples, "loss_request_elements_count") == sent


def test_json_log_line_per_request_with_the_request_id(two_workers: ServerProcess) -> None:
    request_id = f"log-test-{uuid.uuid4().hex}"
    with httpx.Client(base_url=two_workers.url, timeout=10) as http:
        given = http.post("/losses/mse", json=MSE, headers={"X-Request-ID": request_id})
        failed = http.post("/losses/mse", json={"y_true": [1.0]})
        generated = failed.headers["x-request-id"]
    assert given.headers["x-request-id"] == request_id
    assert failed.json()["instance"] == INSTANCE + generated

    line = two_workers.wait_for_log(lambda record: record.get("request_id") == request_id)
    assert line["method"] == "POST"
    assert line["path"] == "/losses/mse"
    assert line["handler"] == "/losses/{name}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    assert line["logger"] == "service.access"
    problem_line = two_workers.wait_for_log(lambda record: record.get("request_id") == generated)
    assert problem_line["status"] == 422
    # One line per request: each id appears once, and every stdout line is a JSON object.
    records = two_workers.log_records()
    assert sum(record.get("request_id") == request_id for record in records) == 1
    assert sum(record.get("request_id") == generated for record in records) == 1


def test_an_app_started_again_serves_again() -> None:
    """Shutdown marks the app draining; starting its lifespan again (a second TestClient) clears that."""
    app = create_app()
    body = {"y_true": [[1.0, 2.0]], "y_pred": [[1.5, 2.5]]}
    for _ in range(2):
        with TestClient(app) as client:
            assert client.post("/losses/mse", json=body).status_code == 200
            assert client.get("/readyz").status_code == 200
