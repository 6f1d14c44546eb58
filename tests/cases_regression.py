"""Cases for the regression losses added by the catalog issue."""

from __future__ import annotations

from .casekit import Case

CASES: list[Case] = []
