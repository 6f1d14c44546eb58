"""Parametrizes each loss's test class from its cases (``tests.support.engine.LossTests``)."""

from __future__ import annotations

import pytest

from service.engine import CATALOG
from tests.support.engine import WEIGHTINGS, Case
from tests.support.engine import torch as torch  # the fixture, for TorchParity

__all__ = ["torch"]


def _ids(case: Case) -> str:
    return case.id


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    cases: tuple[Case, ...] | None = getattr(metafunc.cls, "cases", None)
    if not cases:
        return
    spec = CATALOG[cases[0].loss]
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", cases, ids=_ids)
    if "torch_case" in metafunc.fixturenames:
        metafunc.parametrize("torch_case", [c for c in cases if c.torch_reference is not None], ids=_ids)
    if "reduction" in metafunc.fixturenames:
        metafunc.parametrize("reduction", spec.reductions)
    if "weighting" in metafunc.fixturenames:  # a scalar loss takes no sample_weight
        metafunc.parametrize("weighting", ("unweighted",) if spec.scalar else WEIGHTINGS)
