"""Largest relative error of each loss against its reference library, over many random cases.

Not a test (the tests assert rtol 1e-9); a report for the record:
``python -m tests.support.parity_report [seeds] [loss ...]`` prints one line per loss and reference (every loss,
or the ones named), values and gradients, over the cases of the loss test classes (``tests/engine/test_<family>.py``)
with the reference callables those classes give the parity mixins:

- ``torch``: a case's ``torch_reference`` (PyTorch, kornia, sentence-transformers; ``TorchParity``);
- ``jax``: a class's ``jax_cases`` (optax, Keras on JAX; ``JaxParity``), reduced by ``reference_result``;
- ``optax``: a class's ``optax_reference`` on its ``parity_shapes`` (``OptaxParity``), reduced alike.

float64, every reduction, no sample weight. A loss whose reference is called inside one test method only has no
line; the report names those losses.
"""

from __future__ import annotations

import importlib
import sys
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from service.engine import CATALOG, compute
from tests.support.engine import (
    ENGINE_TESTS,
    Case,
    Inputs,
    LossTests,
    given_differentiable,
    resolve_params,
    torch_tensors,
)
from tests.support.jax_reference import JaxParity, reference_result
from tests.support.optax_parity import OptaxParity
from tests.support.references import load  # sets JAX_ENABLE_X64 and KERAS_BACKEND before JAX is imported

#: (inputs, params, reduction) -> the reference's reduced loss and the gradient of every differentiable input given.
Expected = Callable[[Inputs, dict[str, Any], str], tuple[np.ndarray, dict[str, np.ndarray]]]


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """max |ours - ref| / |ref| over the entries where |ref| > 1e-8 (else the absolute error)."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    scale = np.where(np.abs(reference) > 1e-8, np.abs(reference), 1.0)
    return float(np.max(np.abs(ours - reference) / scale, initial=0.0))


def loss_test_classes() -> Iterator[type[LossTests]]:
    """Every loss's test class, read from every ``tests/engine/test_*.py`` as ``every_case`` reads them."""
    for path in sorted(ENGINE_TESTS.glob("test_*.py")):
        module = importlib.import_module(f"tests.engine.{path.stem}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, LossTests) and value.__module__ == module.__name__:
                yield value


def _name(reference: Callable[..., Any]) -> str:
    return reference.__qualname__.split(".<locals>")[0]


def torch_expected(case: Case) -> Expected:
    def expected(inputs: Inputs, params: dict[str, Any], reduction: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        tensors = torch_tensors(torch, case, inputs)
        value = case.torch_reference(torch, tensors, params, reduction)  # type: ignore[misc]
        value.sum().backward()
        return value.detach().numpy(), {k: tensors[k].grad.numpy() for k in given_differentiable(case.loss, inputs)}

    return expected


def jax_expected(jax: Any, loss: str, reference: Callable[..., Any], *leading: Any) -> Expected:
    """``reference(*leading, arrays, params)``'s unreduced values, reduced and differentiated as the contract says
    (``reference_result``)."""

    def expected(inputs: Inputs, params: dict[str, Any], reduction: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return reference_result(jax, loss, lambda **arrays: reference(*leading, arrays, params), inputs, reduction)

    return expected


def comparisons(
    names: set[str],
) -> Iterator[tuple[Case, str, Expected, tuple[str, ...], tuple[tuple[int, ...], ...] | None]]:
    """(case, reference, expected, reductions, shapes) for every reference the test classes of ``names`` give."""
    for cls in loss_test_classes():
        spec = CATALOG[cls.cases[0].loss]
        if spec.name not in names:
            continue
        reductions = tuple(r for r in spec.reductions if r in ("none", "sum", "mean"))
        for case in cls.cases:
            if case.torch_reference is not None:
                reference = f"torch {_name(case.torch_reference)}"
                yield case, reference, torch_expected(case), case.torch_reductions, None
        if issubclass(cls, JaxParity):
            jax = load("jax")
            for case, ref in cls.jax_cases:
                yield case, f"jax {_name(ref)}", jax_expected(jax, case.loss, ref, jax), reductions, None
        if issubclass(cls, OptaxParity):
            jax, optax = load("jax"), load("optax")
            for case in cls.cases:
                shapes = tuple(s for s in cls.parity_shapes if case.min_rank <= len(s) <= case.max_rank)
                expected = jax_expected(jax, case.loss, cls.optax_reference, optax, jax.numpy)
                yield case, f"optax {cls.__name__}.optax_reference", expected, reductions, shapes


def main(seeds: int = 20, losses: list[str] | None = None) -> None:
    names = set(losses or CATALOG)
    worst: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for case, reference, expected, reductions, shapes in comparisons(names):
        spec = CATALOG[case.loss]
        for seed in range(seeds):
            s = zlib.crc32(f"{case.id}/report/{seed}".encode())
            inputs = case.inputs(s, shapes[seed % len(shapes)] if shapes else None)
            params = resolve_params(case, inputs, s)
            w = worst[case.loss, reference]
            w[2] += 1
            for reduction in reductions:
                value, gradients = expected(inputs, params, reduction)
                result = compute(spec, inputs, params, reduction=reduction, return_grad=True)
                w[0] = max(w[0], relative_error(result.loss, value))
                for name, gradient in gradients.items():
                    w[1] = max(w[1], relative_error(result.grads[name], gradient))  # type: ignore[index]
    print(f"{'loss':30} {'reference':50} {'values':>8} {'gradients':>9}  cases x seeds   (max relative error, float64)")
    for (loss, reference), (value_error, grad_error, runs) in sorted(worst.items()):
        print(f"{loss:30} {reference:50} {value_error:8.1e} {grad_error:9.1e}  {runs // seeds} x {seeds}")
    missing = sorted(names & {case.loss for cls in loss_test_classes() for case in cls.cases} - {k[0] for k in worst})
    if missing:
        print(f"no parity-mixin reference (compared in their own test methods): {', '.join(missing)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20, sys.argv[2:])
