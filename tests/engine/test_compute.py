"""``service/engine/compute.py`` across losses: what holds for every loss rather than for one.

Reductions, sample weights and dtype are checked case by case by each loss's class
(``tests.support.engine.LossTests``); here, float32 end to end and the stable forms of the logit
losses of two families.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.engine import CATALOG, compute

finite = {"allow_nan": False, "allow_infinity": False}


def test_float32_inputs_give_float32_values_and_gradients() -> None:
    rng = np.random.default_rng(0)
    cases: dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]] = {
        "nll": ({"y_true": rng.integers(0, 3, 4), "y_pred": -rng.uniform(0.1, 3, (4, 3))}, {}),
        "categorical_hinge": ({"y_true": np.eye(3)[[0, 1, 2, 0]], "y_pred": rng.normal(size=(4, 3))}, {}),
        "multi_margin": (
            {"y_true": rng.integers(0, 3, 4), "y_pred": rng.normal(size=(4, 3))},
            {"class_weight": [1, 2, 3]},
        ),
        "poly1_crossentropy": ({"y_true": np.eye(3)[[0, 1, 2, 0]], "y_pred": rng.normal(size=(4, 3))}, {}),
        "generalized_crossentropy": ({"y_true": rng.integers(0, 3, 4), "y_pred": rng.uniform(0.1, 0.9, (4, 3))}, {}),
        "dice": ({"y_true": rng.uniform(size=(2, 3, 3)), "y_pred": rng.uniform(size=(2, 3, 3))}, {}),
        "tversky": ({"y_true": rng.uniform(size=(2, 3, 3)), "y_pred": rng.uniform(size=(2, 3, 3))}, {"alpha": 0.3}),
    }
    for name, (inputs, params) in cases.items():
        result = compute(CATALOG[name], inputs, params, reduction="none", return_grad=True, dtype="float32")
        assert result.grads is not None
        assert np.asarray(result.loss).dtype == np.float32, name
        assert result.grads["y_pred"].dtype == np.float32, name


@settings(max_examples=100, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 4), st.integers(2, 5)))
def test_logit_losses_stay_finite_for_any_logits(data: st.DataObject, shape: tuple[int, ...]) -> None:
    """Stable forms: logits anywhere in [-1e4, 1e4] give finite values and gradients (binary and multiclass)."""
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
