"""The similarity losses (``service/engine/losses/similarity.py``): ``cosine_similarity``.

Keras is the reference (it returns the negated cosine). The Keras numbers were produced with
Keras 3.15.1 on the JAX backend in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.engine import Case, Inputs, LossTests, grad, values


def vectors(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {"y_true": rng.normal(size=shape), "y_pred": rng.normal(size=shape)}


class TestCosineSimilarity(LossTests):
    cases = (Case("cosine_similarity", vectors, {}),)

    def test_matches_keras_with_zero_and_tiny_vectors(self) -> None:
        a = [[1, 2, 3], [0, 0, 0], [1e-9, 0, 0], [3, -4, 0]]
        b = [[2, 1, 0], [1, 1, 1], [1, 0, 0], [0, 0, 0]]
        keras = [-0.4780914437337575, -0.0, -0.01, -0.0]  # Keras's eps is 1e-7, on the norm
        np.testing.assert_allclose(values("cosine_similarity", {"eps": 1e-7}, y_true=a, y_pred=b), keras, rtol=1e-15)
        # With this service's default eps = 1e-8 the tiny vector is normalised further: -0.1
        np.testing.assert_allclose(values("cosine_similarity", y_true=a, y_pred=b)[2], -0.1, rtol=1e-12)
        # A zero y_pred: the floor acts, b = y_pred / eps is linear and the gradient is -a / eps (finite)
        g = grad("cosine_similarity", y_true=[[3.0, 4.0]], y_pred=[[0.0, 0.0]])
        np.testing.assert_allclose(g, [[-0.6 / 1e-8, -0.8 / 1e-8]], rtol=1e-15)
        # Parallel vectors: -1, and no gradient along the vector
        assert values("cosine_similarity", y_true=[[1.0, 2.0]], y_pred=[[2.0, 4.0]])[0] == pytest.approx(
            -1.0, rel=1e-15
        )
        np.testing.assert_allclose(
            grad("cosine_similarity", y_true=[[1.0, 2.0]], y_pred=[[2.0, 4.0]]), [[0.0, 0.0]], atol=1e-16
        )

    def test_huge_vectors_do_not_overflow(self) -> None:
        assert values("cosine_similarity", y_true=[[1e200, 1e200]], y_pred=[[1e200, -1e200]])[0] == pytest.approx(
            0.0, abs=1e-15
        )
        assert values("cosine_similarity", y_true=[[1e300, 0.0]], y_pred=[[1e300, 0.0]])[0] == pytest.approx(
            -1.0, rel=1e-15
        )
