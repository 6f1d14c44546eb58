"""The distribution losses (``service/engine/losses/distribution.py``): ``kl_divergence``.

PyTorch (``kl_div``) is the reference where the input is a log-probability (``log_input``); Keras
where both are probabilities (it clips both to [eps, 1]). The Keras number was produced with
Keras 3.15.1 on the JAX backend in float64.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from tests.support.engine import Case, Inputs, LossTests, TorchParity, distribution, values

T = dict[str, Any]

KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")


def kl_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": distribution(rng, shape), "y_pred": distribution(rng, shape)}


def kl_log_input(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    t = distribution(rng, shape)
    t[..., 0] = 0.0  # a zero target exercises xlogy(0, 0) = 0
    return {"y_true": t, "y_pred": np.log(distribution(rng, shape))}


def kl_log_both(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": np.log(distribution(rng, shape)), "y_pred": np.log(distribution(rng, shape))}


def kl_log_target(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": np.log(distribution(rng, shape)), "y_pred": distribution(rng, shape)}


def torch_kl_div(torch: Any, t: T, p: T, reduction: str) -> Any:
    with warnings.catch_warnings():  # torch warns that its elementwise "mean" may change some day
        warnings.simplefilter("ignore", UserWarning)
        return torch.nn.functional.kl_div(
            t["y_pred"], t["y_true"], reduction=reduction, log_target=p.get("log_target", False)
        )


class TestKlDivergence(LossTests, TorchParity):
    cases = (
        Case("kl_divergence", kl_probabilities, {}),
        Case(
            "kl_divergence",
            kl_log_input,
            {"log_input": True},
            torch_reference=torch_kl_div,
            torch_reductions=KL_REDUCTIONS,
        ),
        Case(
            "kl_divergence",
            kl_log_both,
            {"log_input": True, "log_target": True},
            torch_reference=torch_kl_div,
            torch_reductions=KL_REDUCTIONS,
        ),
        Case("kl_divergence", kl_log_target, {"log_target": True}),
    )

    def test_log_input_by_hand(self) -> None:
        # t = [0.5, 0.5], log q = log [0.25, 0.75]: sum t log(t / q) = 0.5 log 2 + 0.5 log(2/3)
        t, log_q = [[0.5, 0.5]], [[math.log(0.25), math.log(0.75)]]
        expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
        assert values("kl_divergence", {"log_input": True}, "batchmean", y_true=t, y_pred=log_q) == pytest.approx(
            expected, rel=1e-14
        )
        # xlogy: a zero target contributes 0
        assert values("kl_divergence", {"log_input": True}, "sum", y_true=[[0.0, 1.0]], y_pred=[[-5.0, 0.0]]) == 0.0

    def test_matches_keras_which_clips_both_sides(self) -> None:
        assert values(
            "kl_divergence", y_true=[[0, 0.3, 0.7]], y_pred=[[0.2, 0, 0.8]], reduction="batchmean"
        ) == pytest.approx(4.380763428286775, rel=1e-13)
