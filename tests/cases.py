"""Every test case of every loss, for the API tests that send them (until they take them from
``tests.support.engine.every_case`` themselves)."""

from __future__ import annotations

from tests.support.engine import Case, every_case, resolve_params

CASES: list[Case] = every_case()

__all__ = ["CASES", "Case", "resolve_params"]
