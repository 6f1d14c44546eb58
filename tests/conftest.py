"""Shared fixtures: the in-process clients and the reference libraries."""

from __future__ import annotations

import os

import pytest

from tests.support.http import make_checked_client

# In-process apps (TestClient) serve no gRPC unless a test gives them a port: with the default,
# 8001, every app alive at once would bind it. Real servers get a free one (tests/support/http.py).
os.environ["LOSS_SERVICE_GRPC_PORT"] = "0"


# The reference libraries as fixtures (jax, optax, keras, kornia, sentence_transformers, sklearn).
pytest_plugins = ["tests.support.references"]


# HTTP clients for the API tests: one app, its lifespan running, that fails the test on any 500.


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
