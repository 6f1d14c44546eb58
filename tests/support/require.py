"""Optional tools (torch, podman, node, tritonclient): a test that needs one skips where it is missing,
except in a run that requires it (``LOSS_SERVICE_TEST_REQUIRE``, set by ``.ci/run``), where it fails."""

from __future__ import annotations

import os

import pytest


def required_in_this_run(tool: str) -> bool:
    """Whether ``LOSS_SERVICE_TEST_REQUIRE`` (comma-separated) names ``tool``."""
    return tool in os.environ.get("LOSS_SERVICE_TEST_REQUIRE", "").split(",")


def skip_unless_available(tool: str, reason: str) -> None:
    """Skip with ``reason`` (the whole module, where called at import), or fail when this run requires ``tool``."""
    if required_in_this_run(tool):
        pytest.fail(f"{tool} is required in this run (LOSS_SERVICE_TEST_REQUIRE) but {reason}")
    pytest.skip(reason, allow_module_level=True)
