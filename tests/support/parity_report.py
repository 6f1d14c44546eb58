"""Largest relative error of each torch-referenced loss against PyTorch, over many random cases.

Not a test (the tests assert rtol 1e-9); a report for the record:
``python -m tests.support.parity_report [seeds]`` prints one line per loss, values and gradients, over the
cases of the loss test classes (``tests/engine/test_<family>.py``) that have a torch reference.
"""

from __future__ import annotations

import sys
import zlib
from collections import defaultdict

import numpy as np
import torch

from service.engine import CATALOG, compute
from tests.support.engine import every_case, resolve_params


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """max |ours - ref| / |ref| over the entries where |ref| > 1e-8 (else the absolute error)."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    scale = np.where(np.abs(reference) > 1e-8, np.abs(reference), 1.0)
    return float(np.max(np.abs(ours - reference) / scale, initial=0.0))


def main(seeds: int = 20) -> None:
    worst: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for case in every_case():
        if case.torch_reference is None:
            continue
        spec = CATALOG[case.loss]
        for seed in range(seeds):
            s = zlib.crc32(f"{case.id}/report/{seed}".encode())
            inputs = case.inputs(s)
            params = resolve_params(case, inputs, s)
            for reduction in case.torch_reductions:
                tensors = {
                    k: torch.tensor(v, dtype=torch.int64 if v.dtype.kind == "i" else torch.float64).requires_grad_(
                        k in spec.differentiable
                    )
                    for k, v in inputs.items()
                }
                expected = case.torch_reference(torch, tensors, params, reduction)
                expected.sum().backward()
                result = compute(spec, inputs, params, reduction=reduction, return_grad=True)
                w = worst[case.loss]
                w[0] = max(w[0], relative_error(result.loss, expected.detach().numpy()))
                for name in spec.differentiable:
                    w[1] = max(w[1], relative_error(result.grads[name], tensors[name].grad.numpy()))  # type: ignore[index]
    print(f"{'loss':34} {'values':>10} {'gradients':>10}   (max relative error vs torch, {seeds} seeds per case)")
    for loss, (value_error, grad_error) in sorted(worst.items()):
        print(f"{loss:34} {value_error:10.1e} {grad_error:10.1e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
