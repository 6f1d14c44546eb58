"""Shared fixtures and the CI switch that turns missing-tool skips into failures."""

from __future__ import annotations

import os

import pytest

# In-process apps (TestClient) serve no gRPC unless a test gives them a port: with the default,
# 8001, every app alive at once would bind it. Real servers get a free one (tests/live_server.py).
os.environ["LOSS_SERVICE_GRPC_PORT"] = "0"


def required_in_this_run(tool: str) -> bool:
    """Whether ``LOSS_SERVICE_TEST_REQUIRE`` (set by ``.ci/run``) names ``tool``."""
    return tool in os.environ.get("LOSS_SERVICE_TEST_REQUIRE", "").split(",")


def skip_unless_available(tool: str, reason: str) -> None:
    """Skip with ``reason``, or fail when this run requires ``tool``."""
    if required_in_this_run(tool):
        pytest.fail(f"{tool} is required in this run (LOSS_SERVICE_TEST_REQUIRE) but {reason}")
    pytest.skip(reason, allow_module_level=True)


# HTTP clients for the API tests (test_api_errors.py, test_api_endpoints.py).


def make_checked_client(settings=None):  # type: ignore[no-untyped-def]
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


@pytest.fixture(scope="module")
def api_client():  # type: ignore[no-untyped-def]
    """One app with the default settings, shared by a module's tests, its lifespan running."""
    with make_checked_client() as client:
        yield client


@pytest.fixture(scope="module")
def small_body_client():  # type: ignore[no-untyped-def]
    """An app whose body limit is 2048 bytes (``Settings(max_body_bytes=2048)``)."""
    from service.settings import Settings

    with make_checked_client(Settings(max_body_bytes=2048)) as client:
        yield client
