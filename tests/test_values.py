"""Loss values against small cases worked out by hand, and the Keras conventions.

The Keras numbers were produced with Keras 3.15.1 on the JAX backend in float64 (with its
float32 ``ops.mean`` patched to float64, since Keras reduces ``mean(axis=-1)`` in float32
even under float64) and agree with the formulas to ~1e-16; each is also derived here.
This service returns elementwise values where Keras averages the last axis, so those
comparisons average ``none`` over the last axis.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute

EPS = 1e-7


def values(name: str, params: dict | None = None, reduction: str = "none", **inputs: list) -> np.ndarray:
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    return np.asarray(compute(CATALOG[name], arrays, params or {}, reduction=reduction).loss)


def grad(name: str, params: dict | None = None, reduction: str = "sum", **inputs: list) -> np.ndarray:
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    result = compute(CATALOG[name], arrays, params or {}, reduction=reduction, return_grad=True)
    assert result.grads is not None
    return result.grads["y_pred"]


# Hand-worked small cases.


def test_binary_crossentropy_logits_by_hand() -> None:
    # x = 0: log 2 for either label; x = 2, y = 1: log(1 + e^-2); x = -1, y = 0: log(1 + e^-1)
    v = values(
        "binary_crossentropy", {"from_logits": True}, y_true=[[1.0, 0.0, 1.0, 0.0]], y_pred=[[0.0, 0.0, 2.0, -1.0]]
    )
    np.testing.assert_allclose(
        v, [[math.log(2), math.log(2), math.log1p(math.exp(-2)), math.log1p(math.exp(-1))]], rtol=1e-15
    )
    # pos_weight 3 on y = 1, x = 0: 3 log 2; gradient 3 * (sigmoid(0) - 1) = -1.5
    v = values("binary_crossentropy", {"from_logits": True, "pos_weight": 3.0}, y_true=[[1.0]], y_pred=[[0.0]])
    np.testing.assert_allclose(v, [[3 * math.log(2)]], rtol=1e-15)
    g = grad("binary_crossentropy", {"from_logits": True, "pos_weight": 3.0}, y_true=[[1.0]], y_pred=[[0.0]])
    np.testing.assert_allclose(g, [[-1.5]], rtol=1e-15)


def test_binary_crossentropy_logits_saturated_are_finite_and_exact() -> None:
    x = [[1000.0, -1000.0, 1000.0, -1000.0, -30.0]]
    y = [[1.0, 0.0, 0.0, 1.0, 0.0]]
    v = values("binary_crossentropy", {"from_logits": True}, y_true=y, y_pred=x)
    np.testing.assert_allclose(v, [[0.0, 0.0, 1000.0, 1000.0, math.log1p(math.exp(-30))]], rtol=1e-15)
    np.testing.assert_allclose(
        grad("binary_crossentropy", {"from_logits": True}, y_true=y, y_pred=x), [[0, 0, 1, -1, 1 / (1 + math.exp(30))]]
    )


def test_categorical_crossentropy_logits_by_hand() -> None:
    # logits [0, 0]: softmax 1/2 each, loss log 2; gradient softmax - y = [0.5, -0.5]
    assert values(
        "categorical_crossentropy", {"from_logits": True}, y_true=[[0.0, 1.0]], y_pred=[[0.0, 0.0]]
    ) == pytest.approx(math.log(2), rel=1e-15)
    np.testing.assert_allclose(
        grad("categorical_crossentropy", {"from_logits": True}, y_true=[[0.0, 1.0]], y_pred=[[0.0, 0.0]]), [[0.5, -0.5]]
    )


def test_sparse_categorical_crossentropy_weighted_mean_by_hand() -> None:
    # logits [0, 0, 0] -> every class log 3. Targets [0, 2, 1] with weights [1, 2, 4], ignore 1:
    # sum = 1 log 3 + 4 log 3 = 5 log 3, divided by the kept weights 1 + 4 = 5 -> log 3.
    params = {"from_logits": True, "class_weight": [1.0, 2.0, 4.0], "ignore_index": 1}
    logits = [[0.0, 0.0, 0.0]] * 3
    assert values("sparse_categorical_crossentropy", params, "mean", y_true=[0, 2, 1], y_pred=logits) == pytest.approx(
        math.log(3), rel=1e-15
    )
    np.testing.assert_allclose(
        values("sparse_categorical_crossentropy", params, "none", y_true=[0, 2, 1], y_pred=logits),
        [math.log(3), 4 * math.log(3), 0],
    )


def test_class_indices_may_be_integral_floats_but_not_fractions() -> None:
    logits = [[0.0, 0.0]]
    assert values(
        "sparse_categorical_crossentropy", {"from_logits": True}, "sum", y_true=[1.0], y_pred=logits
    ) == pytest.approx(math.log(2))
    with pytest.raises(InvalidInput, match="integer"):
        values("sparse_categorical_crossentropy", {"from_logits": True}, y_true=[0.5], y_pred=logits)
    with pytest.raises(InvalidInput, match="class index"):
        values("sparse_categorical_crossentropy", {"from_logits": True}, y_true=[2], y_pred=logits)


def test_perceptron_by_hand() -> None:
    # max(0, -y f): y = 1, f = -2 -> 2; y = -1, f = -2 -> 0; 0/1 labels map to -1/1
    np.testing.assert_array_equal(values("perceptron", y_true=[[1.0, -1.0]], y_pred=[[-2.0, -2.0]]), [[2.0, 0.0]])
    np.testing.assert_array_equal(values("perceptron", y_true=[[1.0, 0.0]], y_pred=[[-2.0, 3.0]]), [[2.0, 3.0]])


def test_kl_divergence_log_input_by_hand() -> None:
    # t = [0.5, 0.5], log q = log [0.25, 0.75]: sum t log(t / q) = 0.5 log 2 + 0.5 log(2/3)
    t, log_q = [[0.5, 0.5]], [[math.log(0.25), math.log(0.75)]]
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert values("kl_divergence", {"log_input": True}, "batchmean", y_true=t, y_pred=log_q) == pytest.approx(
        expected, rel=1e-14
    )
    # xlogy: a zero target contributes 0
    assert values("kl_divergence", {"log_input": True}, "sum", y_true=[[0.0, 1.0]], y_pred=[[-5.0, 0.0]]) == 0.0


# The Keras conventions.


def test_probability_clipping_and_its_zero_gradient() -> None:
    """Keras clips probabilities to [eps, 1 - eps]; the gradient is 0 where the clip acted."""
    y, p = [[1.0, 0.0, 1.0, 0.0]], [[0.0, 1.0, 1.0, 0.5]]
    v = values("binary_crossentropy", y_true=y, y_pred=p)
    # log of the clipped value: -log(1e-7) and -log(1 - (1 - 1e-7)) for the two wrong certainties
    # (1 - 1e-7 rounds in float64, as in Keras), -log(1 - 1e-7) for the right one
    expected = [-math.log(EPS), -math.log(1 - (1 - EPS)), -math.log(1 - EPS), math.log(2)]
    np.testing.assert_allclose(v, [expected], rtol=1e-14)
    g = grad("binary_crossentropy", y_true=y, y_pred=p)
    np.testing.assert_array_equal(g[0, :3], [0.0, 0.0, 0.0])
    assert g[0, 3] == pytest.approx(1 / 0.5, rel=1e-15)  # (1 - y) / (1 - p)


def test_keras_binary_crossentropy_with_label_smoothing() -> None:
    y, p = [[0, 1, 1], [1, 0, 0]], [[0.1, 0.8, 1.0], [0.6, 0.0, 0.3]]
    keras = [0.43786163048969295, 0.5786811978924709]
    v = values("binary_crossentropy", {"label_smoothing": 0.1}, y_true=y, y_pred=p).mean(axis=-1)
    np.testing.assert_allclose(v, keras, rtol=1e-13)


def test_keras_categorical_crossentropy_renormalises_then_clips() -> None:
    y, p = [[0, 1, 0], [0, 0, 1]], [[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]  # rows do not sum to 1
    np.testing.assert_allclose(
        values("categorical_crossentropy", y_true=y, y_pred=p), [0.4700036292457356, 0.5108256237659907], rtol=1e-14
    )
    smoothed = values("categorical_crossentropy", {"label_smoothing": 0.2}, y_true=y, y_pred=p)
    np.testing.assert_allclose(smoothed, [0.6383855388662859, 0.6573072622550721], rtol=1e-14)
    # A zero probability on the target class is clipped: -log(1e-7)
    assert values("categorical_crossentropy", y_true=[[1.0, 0.0]], y_pred=[[0.0, 1.0]])[0] == pytest.approx(
        -math.log(EPS), rel=1e-12
    )


def test_keras_sparse_categorical_crossentropy() -> None:
    p = [[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]
    np.testing.assert_allclose(
        values("sparse_categorical_crossentropy", y_true=[1, 2], y_pred=p),
        [0.4700036292457356, 0.5108256237659907],
        rtol=1e-14,
    )


def test_keras_hinge_label_mapping() -> None:
    p = [[0.3, -0.2], [1.5, 0.4]]
    # 0/1 labels are mapped to -1/1 (Keras: [1.25, 0.7] after its mean over the last axis)
    np.testing.assert_allclose(
        values("hinge", y_true=[[0, 1], [1, 0]], y_pred=p).mean(axis=-1), [1.25, 0.7], rtol=1e-15
    )
    np.testing.assert_allclose(
        values("hinge", y_true=[[-1, 1], [1, -1]], y_pred=p).mean(axis=-1), [1.25, 0.7], rtol=1e-15
    )
    # An all-ones tensor counts as binary (1 -> 1), as in Keras
    np.testing.assert_allclose(values("hinge", y_true=[[1, 1]], y_pred=[[0.5, 2.0]]), [[0.5, 0.0]])
    # Keras would leave a 0 among -1/1 labels as a 0 label; this service refuses the mix
    with pytest.raises(InvalidInput) as error:
        values("hinge", y_true=[[0, 1], [1, -1]], y_pred=p)
    assert error.value.issues[0].location == ("y_true", 0, 0)


def test_keras_binary_focal_probabilities() -> None:
    y, p = [[0, 1, 1], [1, 0, 0]], [[0.1, 0.8, 1.0], [0.6, 0.0, 0.3]]
    unbalanced = values("binary_focal", {"from_logits": False, "alpha": None}, y_true=y, y_pred=p).mean(axis=-1)
    np.testing.assert_allclose(unbalanced, [0.00332644906971555, 0.03794428158568149], rtol=1e-13)
    balanced = values(
        "binary_focal", {"from_logits": False, "alpha": 0.3, "gamma": 1.5, "label_smoothing": 0.2}, y_true=y, y_pred=p
    ).mean(axis=-1)
    np.testing.assert_allclose(balanced, [0.01667394010793015, 0.04747438137023673], rtol=1e-13)


def test_keras_categorical_focal() -> None:
    y, p = [[0, 1, 0], [0, 0, 1]], [[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]
    np.testing.assert_allclose(
        values("categorical_focal", y_true=y, y_pred=p), [0.01652356509067039, 0.02043302495063963], rtol=1e-13
    )
    tuned = values("categorical_focal", {"alpha": 0.4, "gamma": 3.0, "label_smoothing": 0.1}, y_true=y, y_pred=p)
    np.testing.assert_allclose(tuned, [0.03562528058614209, 0.03417951920161567], rtol=1e-13)
    # Worked by hand: one-hot on class 0, p = [0.5, 0.5]: -0.25 * (1 - 0.5)^2 * log 0.5
    by_hand = 0.25 * 0.25 * math.log(2)
    assert values("categorical_focal", y_true=[[1.0, 0.0]], y_pred=[[0.5, 0.5]])[0] == pytest.approx(by_hand, rel=1e-15)


def test_keras_cosine_similarity_with_zero_and_tiny_vectors() -> None:
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
    assert values("cosine_similarity", y_true=[[1.0, 2.0]], y_pred=[[2.0, 4.0]])[0] == pytest.approx(-1.0, rel=1e-15)
    np.testing.assert_allclose(
        grad("cosine_similarity", y_true=[[1.0, 2.0]], y_pred=[[2.0, 4.0]]), [[0.0, 0.0]], atol=1e-16
    )


def test_cosine_similarity_of_huge_vectors_does_not_overflow() -> None:
    assert values("cosine_similarity", y_true=[[1e200, 1e200]], y_pred=[[1e200, -1e200]])[0] == pytest.approx(
        0.0, abs=1e-15
    )
    assert values("cosine_similarity", y_true=[[1e300, 0.0]], y_pred=[[1e300, 0.0]])[0] == pytest.approx(
        -1.0, rel=1e-15
    )


def test_keras_kl_divergence_clips_both_sides() -> None:
    assert values(
        "kl_divergence", y_true=[[0, 0.3, 0.7]], y_pred=[[0.2, 0, 0.8]], reduction="batchmean"
    ) == pytest.approx(4.380763428286775, rel=1e-13)


def test_binary_focal_saturated_logits_stay_finite_for_small_gamma() -> None:
    """PyTorch's autograd gives NaN here ((1 - p_t)^(gamma - 1) overflows); the log-space form does not."""
    x = [[1000.0, -1000.0, 1000.0, -1000.0, 40.0]]
    y = [[1.0, 0.0, 0.0, 1.0, 1.0]]
    for gamma in (0.0, 0.25, 0.5, 2.0):
        result = compute(
            CATALOG["binary_focal"],
            {"y_true": np.array(y), "y_pred": np.array(x)},
            {"gamma": gamma},
            reduction="none",
            return_grad=True,
        )
        assert result.grads is not None
        assert np.isfinite(result.loss).all() and np.isfinite(result.grads["y_pred"]).all()
        # Confidently right: loss 0 and gradient 0. Confidently wrong: alpha_t * 1000 and gradient ±alpha_t.
        np.testing.assert_allclose(result.loss[0, :2], [0.0, 0.0], atol=1e-300)
        np.testing.assert_allclose(result.loss[0, 2:4], [0.75 * 1000, 0.25 * 1000], rtol=1e-15)
        np.testing.assert_allclose(result.grads["y_pred"][0, 2:4], [0.75, -0.25], rtol=1e-12)
