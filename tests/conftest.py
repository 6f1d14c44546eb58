"""Shared fixtures and the CI switch that turns missing-tool skips into failures."""

from __future__ import annotations

import os

import pytest

from tests.support.http import make_checked_client


def required_in_this_run(tool: str) -> bool:
    """Whether ``LOSS_SERVICE_TEST_REQUIRE`` (set by ``.ci/run``) names ``tool``."""
    return tool in os.environ.get("LOSS_SERVICE_TEST_REQUIRE", "").split(",")


def skip_unless_available(tool: str, reason: str) -> None:
    """Skip with ``reason``, or fail when this run requires ``tool``."""
    if required_in_this_run(tool):
        pytest.fail(f"{tool} is required in this run (LOSS_SERVICE_TEST_REQUIRE) but {reason}")
    pytest.skip(reason, allow_module_level=True)


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
