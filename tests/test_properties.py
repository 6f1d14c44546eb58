"""Hypothesis properties of the reductions and dtypes, over every loss."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.engine import CATALOG, compute

from .casekit import mean_scale, uses_weighted_mean
from .cases import CASES, Case, resolve_params

shapes = st.tuples(st.integers(1, 5), st.integers(2, 5)) | st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(2, 4)
)
seeds = st.integers(0, 2**32 - 1)
cases = st.sampled_from(CASES)


def _draw(case: Case, seed: int, shape: tuple[int, ...]) -> tuple[dict[str, np.ndarray], dict]:
    inputs = case.inputs(seed, shape)
    return inputs, resolve_params(case, inputs, seed)


@settings(max_examples=150, deadline=None)
@given(case=cases, seed=seeds, shape=shapes, weighted=st.booleans())
def test_none_values_sum_to_the_sum_reduction(case: Case, seed: int, shape: tuple[int, ...], weighted: bool) -> None:
    spec = CATALOG[case.loss]
    inputs, params = _draw(case, seed, shape)
    out_shape = spec.shape_rule.unreduced_shape({k: v.shape for k, v in inputs.items()})
    weight = np.random.default_rng(seed).uniform(0, 2, out_shape[:1]) if weighted else None
    none = compute(spec, inputs, params, sample_weight=weight, reduction="none")
    total = compute(spec, inputs, params, sample_weight=weight, reduction="sum")
    assert isinstance(none.loss, np.ndarray) and none.loss.shape == out_shape
    assert np.sum(none.loss) == pytest.approx(total.loss, rel=1e-12, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(case=cases, seed=seeds, shape=shapes)
def test_mean_is_the_sum_over_the_count(case: Case, seed: int, shape: tuple[int, ...]) -> None:
    spec = CATALOG[case.loss]
    inputs, params = _draw(case, seed, shape)
    values = compute(spec, inputs, params, reduction="none").loss
    mean = compute(spec, inputs, params, reduction="mean").loss
    total = compute(spec, inputs, params, reduction="sum").loss
    if uses_weighted_mean(case.loss, params):  # PyTorch: divide by the class weights of the targets not ignored
        target = inputs["y_true"]
        kept = (
            target != params["ignore_index"] if params.get("ignore_index") is not None else np.ones(target.shape, bool)
        )
        w = np.asarray(params["class_weight"]) if params.get("class_weight") is not None else np.ones(shape[-1])
        count = float(np.sum(w[np.where(kept, target, 0)] * kept))
    else:
        count = np.size(values)
    scaled_total = np.sum(values * mean_scale(case.loss, inputs))  # CTC: each value over its target length
    assert mean == pytest.approx(scaled_total / count, rel=1e-12, abs=1e-15)
    if case.loss == "kl_divergence":
        batchmean = compute(spec, inputs, params, reduction="batchmean").loss
        assert batchmean == pytest.approx(total / shape[0], rel=1e-12, abs=1e-15)


@settings(max_examples=100, deadline=None)
@given(case=cases, seed=seeds, shape=shapes)
def test_float32_is_close_to_float64(case: Case, seed: int, shape: tuple[int, ...]) -> None:
    spec = CATALOG[case.loss]
    inputs, params = _draw(case, seed, shape)
    wide = compute(spec, inputs, params, reduction="none", return_grad=True)
    narrow = compute(spec, inputs, params, reduction="none", return_grad=True, dtype="float32")
    assert isinstance(narrow.loss, np.ndarray) and narrow.loss.dtype == np.float32
    np.testing.assert_allclose(narrow.loss, wide.loss, rtol=1e-4, atol=1e-5)
    assert narrow.grads is not None and wide.grads is not None
    for name in spec.differentiable:
        np.testing.assert_allclose(narrow.grads[name], wide.grads[name], rtol=1e-3, atol=1e-4)


finite = {"allow_nan": False, "allow_infinity": False}


@settings(max_examples=100, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 4), st.integers(2, 5)))
def test_logit_losses_stay_finite_for_any_logits(data: st.DataObject, shape: tuple[int, ...]) -> None:
    """Stable forms: logits anywhere in [-1e4, 1e4] give finite values and gradients."""
    logits = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e4, 1e4, **finite)))
    targets = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0, 0.3])))
    gamma = data.draw(st.sampled_from([0.0, 0.5, 2.0]))
    for name, params in [
        ("binary_crossentropy", {"from_logits": True}),
        ("binary_focal", {"gamma": gamma}),
        ("categorical_crossentropy", {"from_logits": True}),
        ("categorical_focal", {"from_logits": True, "gamma": gamma}),
    ]:
        result = compute(CATALOG[name], {"y_true": targets, "y_pred": logits}, params, return_grad=True)
        assert np.isfinite(result.loss)
        assert result.grads is not None and np.isfinite(result.grads["y_pred"]).all()
