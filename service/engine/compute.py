"""Run one loss: inputs to arrays of the computation dtype, shapes, the loss, reduction, gradients."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .errors import InvalidInput, Issue, NonFiniteResult
from .reduction import expand_sample_weight, reduce
from .spec import Array, Grads, LossSpec, Reduction, Unreduced
from .validate import issues_where, require

DType = Literal["float64", "float32"]

# Integers beyond 2**53 cannot be told apart in float64: they are not trustworthy indices.
_MAX_EXACT_INTEGER = 2.0**53


@dataclass(frozen=True)
class Result:
    """A computed loss: a scalar for mean/sum/batchmean, an array for ``none``."""

    name: str
    reduction: Reduction
    dtype: DType
    loss: float | Array
    grads: Grads | None


def compute(
    spec: LossSpec,
    inputs: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    *,
    sample_weight: Any = None,
    reduction: Reduction | None = None,
    return_grad: bool = False,
    dtype: DType = "float64",
) -> Result:
    """Compute ``spec``'s loss on ``inputs`` (array-likes by input name).

    ``params`` must already be valid for the loss (the API validates them against
    ``spec.params``); omitted ones take the function's defaults. An optional input
    (``InputSpec.required`` false) may be omitted or None: the function then takes its default
    and no gradient is returned for it. Raises ``InvalidInput``
    for shapes, domains and non-finite results.
    """
    real = np.dtype(dtype)
    reduction = reduction or spec.default_reduction
    if reduction not in spec.reductions:
        why = " (it is one value for the whole batch)" if spec.scalar else ""
        raise InvalidInput(
            f"{spec.name} does not support reduction {reduction!r}{why}",
            [Issue(("reduction",), f"expected one of {list(spec.reductions)}", "argument")],
        )
    unknown = sorted(set(inputs) - {i.name for i in spec.inputs})
    if unknown:
        raise InvalidInput(f"{spec.name} has no inputs {unknown}", [Issue((n,), "unknown input") for n in unknown])

    arrays: dict[str, Array] = {}
    for item in spec.inputs:
        if item.name not in inputs or (not item.required and inputs[item.name] is None):
            if not item.required:  # omitted: the loss function takes its default
                continue
            raise InvalidInput(f"{spec.name} needs the input {item.name}", [Issue((item.name,), "missing input")])
        raw = np.asarray(inputs[item.name])
        arrays[item.name] = _as_integers(item.name, raw) if item.integer else _as_real(item.name, raw, real)
        if raw.ndim == 0 or raw.size == 0:
            raise InvalidInput(
                f"{item.name} is empty" if raw.ndim else f"{item.name} must be an array",
                [Issue((item.name,), f"expected a non-empty array with a batch axis, got shape {list(raw.shape)}")],
            )
    shape = spec.shape_rule.unreduced_shape({name: a.shape for name, a in arrays.items()})
    weight = None
    if sample_weight is not None and spec.scalar:
        raise InvalidInput(
            f"{spec.name} takes no sample_weight",
            [Issue(("sample_weight",), f"{spec.name} is one value for the whole batch: there is no value to weight")],
        )
    if sample_weight is not None:
        weight = expand_sample_weight(_as_real("sample_weight", np.asarray(sample_weight), real), shape)

    kwargs = {**spec.defaults, **(params or {})}
    with np.errstate(all="ignore"):  # overflow and 0/0 are caught below as non-finite results
        unreduced = _in_dtype(spec.fn(**arrays, **kwargs), real)
        loss, cotangent = reduce(unreduced, weight, reduction)
        grads = None
        if return_grad:  # the gradients in the computation's dtype too, whatever a loss's arithmetic made
            grads = {name: g.astype(real, copy=False) for name, g in unreduced.vjp(cotangent).items()}
    _require_finite(spec, loss, grads, unreduced.values, arrays)
    return Result(
        name=spec.name,
        reduction=reduction,
        dtype=dtype,
        loss=loss if reduction == "none" else float(loss),
        grads=grads,
    )


def _in_dtype(unreduced: Unreduced, dtype: np.dtype) -> Unreduced:
    """The loss's values in the computation's dtype (the one place that keeps it; losses need not)."""
    if unreduced.values.dtype == dtype:
        return unreduced
    return replace(unreduced, values=unreduced.values.astype(dtype))


def _as_real(name: str, raw: Array, dtype: np.dtype) -> Array:
    if raw.dtype.kind not in "iuf":
        raise InvalidInput(f"{name} must hold numbers", [Issue((name,), f"got an array of {raw.dtype}")])
    if raw.dtype == dtype:
        values = raw
    else:
        with np.errstate(over="ignore"):
            values = raw.astype(dtype)
    finite = np.isfinite(values)
    if not finite.all():  # JSON numbers are finite, so this is float32 overflow
        raise InvalidInput(
            f"{name} has values that overflow {dtype}", issues_where(name, ~finite, raw, f"finite in {dtype}")
        )
    return values


def _as_integers(name: str, raw: Array) -> Array:
    if raw.dtype.kind in "iu":
        return raw.astype(np.int64, copy=False)
    if raw.dtype.kind != "f":
        raise InvalidInput(f"{name} must hold integers", [Issue((name,), f"got an array of {raw.dtype}")])
    integral = (raw == np.round(raw)) & (np.abs(raw) <= _MAX_EXACT_INTEGER)
    if not integral.all():
        require(name, integral, raw, "an integer")
    return raw.astype(np.int64)


def _require_finite(
    spec: LossSpec, loss: Array | float, grads: Grads | None, values: Array, arrays: Mapping[str, Array]
) -> None:
    if np.isfinite(loss).all() and (grads is None or all(np.isfinite(g).all() for g in grads.values())):
        return
    bad_values = ~np.isfinite(values)
    # Point at the sample in the first input whose leading axes are the loss's own.
    candidates = [*(name for name in spec.differentiable if name in arrays), *arrays]
    owner = next((name for name in candidates if arrays[name].shape[: values.ndim] == values.shape), None)
    if bad_values.any() and owner is not None and values.ndim:  # a scalar loss has no sample to point at
        first = np.unravel_index(int(np.flatnonzero(bad_values)[0]), values.shape)
        issue = Issue((owner, *(int(i) for i in first)), "the loss is not finite for this sample")
    else:
        issue = Issue((), "the reduced loss or its gradient is not finite")
    raise NonFiniteResult(f"the result of {spec.name} is not finite", [issue])
