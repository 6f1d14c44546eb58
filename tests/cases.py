"""Every test case, one module per loss family: the gradient, property and parity suites run them all."""

from __future__ import annotations

from . import cases_margin, cases_multiclass, cases_seed, cases_sequence
from .casekit import Case, resolve_params

CASES: list[Case] = [
    *cases_seed.CASES,
    *cases_margin.CASES,
    *cases_multiclass.CASES,
    *cases_sequence.CASES,
]

__all__ = ["CASES", "Case", "resolve_params"]
