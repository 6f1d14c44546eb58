"""``/livez`` and ``/readyz`` (API.md section 1): live while the process is, ready only inside the lifespan."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.app import create_app
from tests.support.http import ok


def test_livez(api_client: TestClient) -> None:
    assert ok(api_client.get("/livez")) == {"status": "ok"}


def test_readyz_inside_the_lifespan(api_client: TestClient) -> None:
    assert ok(api_client.get("/readyz")) == {"status": "ready"}


def test_readyz_is_503_before_start_and_after_shutdown() -> None:
    app = create_app()
    starting = TestClient(app).get("/readyz")  # no `with`: the lifespan has not run
    assert starting.status_code == 503
    assert starting.headers["retry-after"] == "1"
    assert starting.json() == {"status": "unavailable"}
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
    draining = TestClient(app).get("/readyz")  # the lifespan has shut down
    assert draining.status_code == 503
    assert "retry-after" in draining.headers
    assert TestClient(app).get("/livez").status_code == 200  # the process is still up
