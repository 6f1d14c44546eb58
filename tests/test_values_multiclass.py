"""Values of the multiclass losses added by the catalog issue (nll, categorical_hinge, multi_margin,
poly1_crossentropy, generalized_crossentropy) and of the segmentation losses (dice, tversky):
small cases worked out by hand, golden values from the reference libraries, saturated and
degenerate inputs, and domains.

Golden values were produced in /tmp/refvenv with Keras 3.15.1 on the JAX 0.10.2 backend
(``KERAS_BACKEND=jax``, ``JAX_ENABLE_X64=1``, ``keras.config.set_floatx("float64")``) and optax
0.2.8, e.g. ``keras.losses.dice(y, p, axis=(1, 2))`` and
``optax.losses.poly_loss_cross_entropy(logits, labels, epsilon=2.0)``; these losses reduce with
``ops.sum``/``ops.max`` (no float32 ``ops.mean``), so the numbers are float64-exact. Gradients
marked "JAX" are ``jax.grad`` of the same calls.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute

from .cases_multiclass import margin_scores, torch_multi_margin
from .numerics import central_difference, total

RTOL = 1e-13


def values(name: str, params: dict | None = None, reduction: Any = "none", **inputs: Any) -> np.ndarray:
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    return np.asarray(compute(CATALOG[name], arrays, params or {}, reduction=reduction).loss)


def grad(name: str, params: dict | None = None, reduction: Any = "sum", **inputs: Any) -> np.ndarray:
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    result = compute(CATALOG[name], arrays, params or {}, reduction=reduction, return_grad=True)
    assert result.grads is not None
    return result.grads["y_pred"]


def refused(name: str, params: dict | None = None, **inputs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as error:
        compute(CATALOG[name], {k: np.asarray(v) for k, v in inputs.items()}, params or {}, return_grad=True)
    return error.value


# nll


def test_nll_by_hand() -> None:
    # log-probabilities of [0.2, 0.3, 0.5] and [0.6, 0.4, 0.0...]: l = -y_pred[t]
    lp = [[math.log(0.2), math.log(0.3), math.log(0.5)], [math.log(0.6), math.log(0.1), math.log(0.3)]]
    np.testing.assert_allclose(values("nll", y_true=[2, 0], y_pred=lp), [-math.log(0.5), -math.log(0.6)], rtol=1e-15)
    # mean over 2 samples: gradient -1/2 on each target
    np.testing.assert_array_equal(grad("nll", reduction="mean", y_true=[2, 0], y_pred=lp), [[0, 0, -0.5], [-0.5, 0, 0]])


def test_nll_weighted_mean_by_hand() -> None:
    # targets [2, 0, 1], weights [1, 2, 4], ignore 1: none = [-4 x_2, -1 x_0, 0]
    # y_pred = -1 everywhere: none = [4, 1, 0], sum 5, mean 5 / (4 + 1) = 1
    params = {"class_weight": [1.0, 2.0, 4.0], "ignore_index": 1}
    lp = [[-1.0, -1.0, -1.0]] * 3
    np.testing.assert_array_equal(values("nll", params, y_true=[2, 0, 1], y_pred=lp), [4.0, 1.0, 0.0])
    assert values("nll", params, "mean", y_true=[2, 0, 1], y_pred=lp) == 1.0
    # d mean / d y_pred = -w_t / 5 on kept targets
    np.testing.assert_allclose(
        grad("nll", params, "mean", y_true=[2, 0, 1], y_pred=lp),
        [[0.0, 0.0, -0.8], [-0.2, 0.0, 0.0], [0.0, 0.0, 0.0]],
        rtol=1e-15,
    )
    # class weights alone: denominator 4 + 1 + 2 = 7
    assert values("nll", {"class_weight": [1.0, 2.0, 4.0]}, "mean", y_true=[2, 0, 1], y_pred=lp) == pytest.approx(1.0)


def test_nll_is_sparse_crossentropy_on_log_softmax() -> None:
    """The shared NLL core: nll(log_softmax(x)) = sparse_categorical_crossentropy(x, from_logits)."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, (4, 3, 5))
    t = rng.integers(0, 5, (4, 3))
    t[0, 0] = 2
    log_q = x - np.max(x, axis=-1, keepdims=True)
    log_q = log_q - np.log(np.sum(np.exp(log_q), axis=-1, keepdims=True))
    for params in ({}, {"class_weight": [0.5, 1.0, 2.0, 1.5, 0.7], "ignore_index": 2}, {"ignore_index": -100}):
        for reduction in ("none", "sum", "mean"):
            ours = values("nll", params, reduction, y_true=t, y_pred=log_q)
            sparse = values(
                "sparse_categorical_crossentropy", {**params, "from_logits": True}, reduction, y_true=t, y_pred=x
            )
            np.testing.assert_allclose(ours, sparse, rtol=1e-13)


def test_nll_takes_any_finite_score_as_torch() -> None:
    # PyTorch does not check that y_pred are log-probabilities: nll_loss([[5, 2]], [0]) = -5
    assert values("nll", y_true=[0], y_pred=[[5.0, 2.0]])[0] == -5.0
    assert values("nll", y_true=[1], y_pred=[[1000.0, -1000.0]])[0] == 1000.0


def test_nll_all_targets_ignored() -> None:
    # mean: 0/0 (NaN in PyTorch) -> a non-finite result; sum: 0
    with pytest.raises(InvalidInput, match="not finite"):
        values("nll", {"ignore_index": 1}, "mean", y_true=[1, 1], y_pred=[[-1.0, -2.0]] * 2)
    assert values("nll", {"ignore_index": 1}, "sum", y_true=[1, 1], y_pred=[[-1.0, -2.0]] * 2) == 0.0


def test_nll_domain() -> None:
    error = refused("nll", y_true=[0, 3], y_pred=[[-1.0, -2.0, -3.0]] * 2)
    assert error.issues[0].location == ("y_true", 1)
    error = refused("nll", {"class_weight": [1.0, 2.0]}, y_true=[0], y_pred=[[-1.0, -2.0, -3.0]])
    assert error.issues[0].location == ("class_weight",)
    assert error.issues[0].argument == "param"


# categorical_hinge


def test_categorical_hinge_keras_golden() -> None:
    y = [[0, 1, 0], [1, 0, 0], [0.2, 0.5, 0.3], [0, 0, 1]]
    f = [[0.5, 0.2, -1.0], [0.5, -3.0, -2.0], [1.5, -0.7, 0.9], [-0.3, -1.2, -2.5]]
    # keras.losses.categorical_hinge(y, f); gradient: JAX
    np.testing.assert_allclose(values("categorical_hinge", y_true=y, y_pred=f), [1.3, 0.5, 1.98, 3.5], rtol=RTOL)
    np.testing.assert_allclose(
        grad("categorical_hinge", y_true=y, y_pred=f),
        [[1.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.6000000000000001, -0.5, -0.3], [0.0, 0.0, -1.0]],
        rtol=RTOL,
    )


def test_categorical_hinge_by_hand() -> None:
    # y = [0, 1, 0], f = [0.5, 0.2, -1]: pos = 0.2, neg = max(0.5, 0 (the target's own (1-1) f), -1) = 0.5,
    # l = 0.5 - 0.2 + 1 = 1.3; gradient d neg - y = [1, 0, 0] - [0, 1, 0]
    assert values("categorical_hinge", y_true=[[0, 1, 0]], y_pred=[[0.5, 0.2, -1.0]])[0] == pytest.approx(1.3)
    np.testing.assert_array_equal(
        grad("categorical_hinge", y_true=[[0, 1, 0]], y_pred=[[0.5, 0.2, -1.0]]), [[1, -1, 0]]
    )
    # Keras's max includes the target's zero: f = [0.5, -3, -2] on class 0 gives neg = 0, not -2:
    # l = 0 - 0.5 + 1 = 0.5, and no gradient reaches the other classes
    assert values("categorical_hinge", y_true=[[1, 0, 0]], y_pred=[[0.5, -3.0, -2.0]])[0] == 0.5
    # Separated by more than 1: 0, gradient 0
    assert values("categorical_hinge", y_true=[[1, 0]], y_pred=[[2.5, 1.0]])[0] == 0.0
    np.testing.assert_array_equal(grad("categorical_hinge", y_true=[[1, 0]], y_pred=[[2.5, 1.0]]), [[0, 0]])


def test_categorical_hinge_ties_and_kink() -> None:
    # A tie in the max over classes: f = [0.3, 0.3, 0] on class 2, neg = 0.3 shared: [0.5, 0.5, -1]
    # (PyTorch amax and JAX max under Keras both split evenly; JAX gives the same)
    y, f = [[0, 0, 1.0]], [[0.3, 0.3, 0.0]]
    assert values("categorical_hinge", y_true=y, y_pred=f)[0] == pytest.approx(1.3)
    np.testing.assert_array_equal(grad("categorical_hinge", y_true=y, y_pred=f), [[0.5, 0.5, -1.0]])
    # At the kink m = neg - pos + 1 = 0.5 - 1.5 + 1 = 0: PyTorch's clamp_min passes the gradient,
    # [1, -1, 0]; Keras on JAX (jnp.maximum) would pass half, [0.5, -0.5, 0]
    y, f = [[0, 1.0, 0]], [[0.5, 1.5, 0.2]]
    assert values("categorical_hinge", y_true=y, y_pred=f)[0] == 0.0
    np.testing.assert_array_equal(grad("categorical_hinge", y_true=y, y_pred=f), [[1.0, -1.0, 0.0]])


def test_categorical_hinge_saturated_and_domain() -> None:
    v = values("categorical_hinge", y_true=[[1, 0], [0, 1]], y_pred=[[-1000.0, 1000.0], [-1000.0, 1000.0]])
    np.testing.assert_array_equal(v, [2001.0, 0.0])
    error = refused("categorical_hinge", y_true=[[-1.0, 1.0]], y_pred=[[0.0, 1.0]])  # Keras's -1/1 form: refused
    assert error.issues[0].location == ("y_true", 0, 0)


# multi_margin


def test_multi_margin_by_hand() -> None:
    # x = [0.1, 0.2, 0.4, 0.8], t = 3: z = 1 - 0.8 + [0.1, 0.2, 0.4] = [0.3, 0.4, 0.6] -> 1.3 / 4 = 0.325
    # p = 2: (0.09 + 0.16 + 0.36) / 4 = 0.1525; with w_3 = 1.5: 0.4875 and 0.22875 (as torch)
    x = [[0.1, 0.2, 0.4, 0.8]]
    assert values("multi_margin", y_true=[3], y_pred=x)[0] == pytest.approx(0.325, rel=1e-15)
    assert values("multi_margin", {"p": 2}, y_true=[3], y_pred=x)[0] == pytest.approx(0.1525, rel=1e-15)
    w = [0.5, 1.0, 2.0, 1.5]
    assert values("multi_margin", {"class_weight": w}, y_true=[3], y_pred=x)[0] == pytest.approx(0.4875, rel=1e-15)
    assert values("multi_margin", {"p": 2, "class_weight": w}, y_true=[3], y_pred=x)[0] == pytest.approx(0.22875)
    # p = 1: each active class +1/4, the target -3/4; p = 2: 2 z / 4 = [0.15, 0.2, 0.3], target -0.65
    np.testing.assert_allclose(grad("multi_margin", y_true=[3], y_pred=x), [[0.25, 0.25, 0.25, -0.75]], rtol=1e-15)
    np.testing.assert_allclose(grad("multi_margin", {"p": 2}, y_true=[3], y_pred=x), [[0.15, 0.2, 0.3, -0.65]])
    # margin 0.5: z = [-0.2, -0.1, 0.1]: only class 2 counts, 0.1 / 4
    assert values("multi_margin", {"margin": 0.5}, y_true=[3], y_pred=x)[0] == pytest.approx(0.025)


def test_multi_margin_kink_gives_zero_as_torch() -> None:
    # z = 1 - 1 + 0 = 0 exactly for class 0: torch's kernel tests z > 0, so no loss and no gradient
    for p in (1, 2):
        assert values("multi_margin", {"p": p}, y_true=[1], y_pred=[[0.0, 1.0, -5.0]])[0] == 0.0
        np.testing.assert_array_equal(
            grad("multi_margin", {"p": p}, y_true=[1], y_pred=[[0.0, 1.0, -5.0]]), [[0, 0, 0]]
        )


def test_multi_margin_mean_ignores_the_class_weights() -> None:
    # torch: mean = sum / N even with weights (unlike nll): [0.4875, 0.0375] -> 0.2625
    x = [[0.1, 0.2, 0.4, 0.8], [1.0, -0.5, 0.3, 0.0]]
    w = [0.5, 1.0, 2.0, 1.5]
    assert values("multi_margin", {"class_weight": w}, "mean", y_true=[3, 0], y_pred=x) == pytest.approx(
        0.26249999999999996, rel=1e-15
    )


def test_multi_margin_extra_axes_are_per_sample() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4))
    t = rng.integers(0, 4, (2, 3))
    flat = values("multi_margin", {"p": 2}, y_true=t.reshape(-1), y_pred=x.reshape(-1, 4))
    np.testing.assert_array_equal(values("multi_margin", {"p": 2}, y_true=t, y_pred=x), flat.reshape(2, 3))


def test_multi_margin_saturated_and_single_class() -> None:
    v = values("multi_margin", y_true=[0, 1], y_pred=[[1000.0, -1000.0], [1000.0, -1000.0]])
    np.testing.assert_array_equal(v, [0.0, 2001.0 / 2])
    assert values("multi_margin", y_true=[0], y_pred=[[3.0]])[0] == 0.0  # C = 1: no other class


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 4)])
@pytest.mark.parametrize("params", [{"p": 1}, {"p": 2, "margin": 0.7}])
def test_multi_margin_class_weight_matches_torch(params: dict, shape: tuple[int, ...]) -> None:
    """multi_margin with class_weight, against PyTorch (values, autograd, sample weights) and central
    differences; kept out of the shared cases, whose weighted-mean rule does not apply to this loss."""
    torch = pytest.importorskip("torch")
    seed = zlib.crc32(f"{params}{shape}".encode())
    rng = np.random.default_rng(seed)
    inputs = margin_scores(params.get("margin", 1.0))(rng, shape)
    params = {**params, "class_weight": rng.uniform(0.5, 2.0, shape[-1]).tolist()}
    spec = CATALOG["multi_margin"]
    sample_weight = rng.uniform(0.2, 2.0, shape[:1])
    for weight in (None, sample_weight):
        for reduction in ("none", "mean", "sum"):
            x = torch.tensor(inputs["y_pred"], requires_grad=True)
            tensors = {"y_true": torch.tensor(inputs["y_true"]), "y_pred": x}
            if weight is None:
                expected = torch_multi_margin(torch, tensors, params, reduction)
            else:
                unreduced = torch_multi_margin(torch, tensors, params, "none")
                weighted = unreduced * torch.tensor(weight).reshape((-1,) + (1,) * (len(shape) - 2))
                expected = {"none": weighted, "sum": weighted.sum(), "mean": weighted.sum() / unreduced.numel()}[
                    reduction
                ]
            expected.sum().backward()
            result = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
            assert result.grads is not None
            np.testing.assert_allclose(result.loss, expected.detach().numpy(), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(result.grads["y_pred"], x.grad.numpy(), rtol=1e-9, atol=1e-12)

            def loss_at(value: np.ndarray, weight: Any = weight, reduction: Any = reduction) -> float:
                return total(
                    compute(spec, {**inputs, "y_pred": value}, params, sample_weight=weight, reduction=reduction).loss
                )

            numeric = central_difference(loss_at, inputs["y_pred"])
            np.testing.assert_allclose(result.grads["y_pred"], numeric, rtol=1e-6, atol=1e-7)


def test_multi_margin_params_are_validated_by_the_api(api_client: Any) -> None:
    body = {"y_true": [0], "y_pred": [[0.5, 0.2]], "params": {"p": 3}}
    response = api_client.post("/losses/multi_margin", json=body)
    assert response.status_code == 422
    assert any(e["pointer"] == "/params/p" for e in response.json()["errors"])
    body["params"] = {"p": 2, "margin": 0.5}
    response = api_client.post("/losses/multi_margin", json=body)
    assert response.status_code == 200
    # z = 0.5 - 0.5 + 0.2 = 0.2 -> 0.04 / 2
    assert response.json()["loss"] == pytest.approx(0.02)


# poly1_crossentropy


def test_poly1_by_hand() -> None:
    # logits [0, 0], y = [1, 0]: CE = log 2, 1 - p_t = 1/2, epsilon 2: log 2 + 1
    assert values("poly1_crossentropy", y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]])[0] == pytest.approx(
        math.log(2) + 1, rel=1e-15
    )
    # q sum(y) - y + eps (q sum(y q) - y q) = [-0.5, 0.5] + 2 [0.25 - 0.5, 0.25] = [-1, 1]
    np.testing.assert_allclose(grad("poly1_crossentropy", y_true=[[1.0, 0.0]], y_pred=[[0.0, 0.0]]), [[-1.0, 1.0]])
    # epsilon = 0 is the cross-entropy with probability targets
    y, x = [[0.1, 0.6, 0.3]], [[0.9, -1.2, 1.1]]
    np.testing.assert_allclose(
        values("poly1_crossentropy", {"epsilon": 0.0}, y_true=y, y_pred=x),
        values("categorical_crossentropy", {"from_logits": True}, y_true=y, y_pred=x),
        rtol=1e-15,
    )


def test_poly1_optax_golden() -> None:
    y = [[0.0, 1.0, 0.0], [0.1, 0.6, 0.3], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    x = [[1.2, -0.8, -0.5], [0.9, -1.2, 1.1], [1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0]]
    # optax.losses.poly_loss_cross_entropy(x, y, epsilon=e); saturated rows: 0 and 1000 + e
    golden = {
        2.0: [4.070768018006428, 3.5911101269023877, 0.0, 1002.0],
        -1.0: [1.3788105493150926, 1.282143130330444, -0.0, 999.0],
        5.5: [7.211385064812985, 6.284904956236321, 0.0, 1005.5],
    }
    for epsilon, expected in golden.items():
        np.testing.assert_allclose(
            values("poly1_crossentropy", {"epsilon": epsilon}, y_true=y, y_pred=x), expected, rtol=RTOL
        )
    # JAX gradient for epsilon = 2; the saturated rows get exactly 0 and [1, 0, -1]
    np.testing.assert_allclose(
        grad("poly1_crossentropy", y_true=y, y_pred=x),
        [
            [0.9145254080388052, -1.0815941324150995, 0.16706872437629405],
            [0.43786877482230113, -0.586380153094972, 0.14851137827267097],
            [0.0, 0.0, 0.0],
            [1.0, 0.0, -1.0],
        ],
        rtol=RTOL,
        atol=1e-300,
    )


def test_poly1_domain() -> None:
    error = refused("poly1_crossentropy", y_true=[[1.5, 0.0]], y_pred=[[0.0, 0.0]])
    assert error.issues[0].location == ("y_true", 0, 0)


# generalized_crossentropy


def test_generalized_crossentropy_by_hand() -> None:
    # p_t = 0.25, q = 0.5: (1 - 0.5) / 0.5 = 1; gradient -p_t^(q - 1) = -0.25^-0.5 = -2
    p = [[0.25, 0.5, 0.25]]
    assert values("generalized_crossentropy", y_true=[0], y_pred=p)[0] == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(grad("generalized_crossentropy", y_true=[0], y_pred=p), [[-2.0, 0.0, 0.0]], rtol=1e-15)
    # q = 1: 1 - p_t, gradient -1
    assert values("generalized_crossentropy", {"q": 1.0}, y_true=[1], y_pred=p)[0] == pytest.approx(0.5)
    np.testing.assert_array_equal(grad("generalized_crossentropy", {"q": 1.0}, y_true=[1], y_pred=p), [[0, -1, 0]])


def test_generalized_crossentropy_keras_golden() -> None:
    t = [0, 2, 1, 1]
    p = [[0.25, 0.5, 0.25], [0.1, 0.2, 0.3], [0.05, 0.9, 0.05], [0.7, 0.0, 0.3]]  # rows used as given
    # keras.losses.categorical_generalized_cross_entropy(t, p, q); the last row's p_t = 0 gives 1 / q.
    # -expm1(q log p_t) is more accurate than Keras's 1 - p_t^q near p_t = 1: rtol 1e-13.
    golden = {
        0.5: [1.0, 0.9045548849896679, 0.10263340389897246, 2.0],
        0.1: [1.2944943670387588, 1.1343184943478668, 0.10480741793785553, 10.0],
        1.0: [0.75, 0.7, 0.09999999999999998, 1.0],
    }
    for q, expected in golden.items():
        np.testing.assert_allclose(
            values("generalized_crossentropy", {"q": q}, y_true=t, y_pred=p), expected, rtol=1e-13
        )
    # JAX gradient (q = 0.5) of the first three rows
    np.testing.assert_allclose(
        grad("generalized_crossentropy", y_true=t[:3], y_pred=p[:3]),
        [[-2.0, 0.0, 0.0], [0.0, 0.0, -1.8257418583505538], [0.0, -1.0540925533894598, 0.0]],
        rtol=RTOL,
    )


def test_generalized_crossentropy_zero_probability() -> None:
    # p_t = 0: the loss is 1 / q (finite), but its gradient -p_t^(q - 1) is infinite for q < 1
    # (JAX gives -inf): asking for it is a non-finite result (422). For q = 1 it is -1.
    p = [[0.7, 0.0, 0.3]]
    assert values("generalized_crossentropy", y_true=[1], y_pred=p)[0] == 2.0
    with pytest.raises(InvalidInput, match="not finite") as error:
        grad("generalized_crossentropy", y_true=[0, 1], y_pred=[[0.5, 0.3, 0.2], *p])
    assert error.value.issues[0].location == ("y_pred", 1, 1)
    np.testing.assert_array_equal(grad("generalized_crossentropy", {"q": 1.0}, y_true=[1], y_pred=p), [[0, -1, 0]])
    # p_t = 1: loss 0, gradient -1
    assert values("generalized_crossentropy", y_true=[0], y_pred=[[1.0, 0.0]])[0] == 0.0
    np.testing.assert_array_equal(grad("generalized_crossentropy", y_true=[0], y_pred=[[1.0, 0.0]]), [[-1.0, 0.0]])


def test_generalized_crossentropy_domain() -> None:
    error = refused("generalized_crossentropy", y_true=[0], y_pred=[[1.2, -0.2]])
    assert {i.location for i in error.issues} == {("y_pred", 0, 0), ("y_pred", 0, 1)}
    error = refused("generalized_crossentropy", y_true=[2], y_pred=[[0.5, 0.5]])
    assert error.issues[0].location == ("y_true", 0)


# dice and tversky

Y_SEG = np.array([[0.0, 0.3, 1.0, 0.8, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0, 0.5, 0.2], [0, 0, 0, 0, 0, 0]]).reshape(3, 2, 3)
P_SEG = np.array([[0.1, 0.2, 0.9, 0.7, 0.05, 0.6], [0.3, 0.8, 0.4, 0.0, 1.0, 0.5], [0, 0, 0, 0, 0, 0]]).reshape(3, 2, 3)


def test_dice_by_hand() -> None:
    # y = [1, 1, 0, 0], p = [0, 1, 0, 1]: I = 1, D = 2 + 2 + 1e-7: 1 - 2 / (4 + 1e-7)
    v = values("dice", y_true=[[1.0, 1.0, 0.0, 0.0]], y_pred=[[0.0, 1.0, 0.0, 1.0]])
    assert v[0] == pytest.approx(1 - 2 / (4 + 1e-7), rel=1e-15)
    # gradient -2 (y - I / D) / D; with eps = 1 for round numbers, D = 5 and I / D = 0.2:
    # -2 ([1, 1, 0, 0] - 0.2) / 5 = [-0.32, -0.32, 0.08, 0.08]
    g = grad("dice", {"eps": 1.0}, y_true=[[1.0, 1.0, 0.0, 0.0]], y_pred=[[0.0, 1.0, 0.0, 1.0]])
    np.testing.assert_allclose(g, [[-0.32, -0.32, 0.08, 0.08]], rtol=1e-15)


def test_dice_keras_golden() -> None:
    # The keras.losses.dice docstring example, (2, 2, 2, 1) with axis=(1, 2, 3), in float64
    y = [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]]
    p = [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]]
    np.testing.assert_allclose(values("dice", y_true=y, y_pred=p), [0.5000000124999997, 0.7575757649219464], rtol=RTOL)
    # keras.losses.dice(Y_SEG, P_SEG, axis=(1, 2)); the all-zero example: 1 - 0 / eps = 1
    np.testing.assert_allclose(
        values("dice", y_true=Y_SEG, y_pred=P_SEG), [0.2495575354060614, 0.40350878239458277, 1.0], rtol=RTOL
    )
    # JAX gradient
    np.testing.assert_allclose(
        grad("dice", y_true=Y_SEG, y_pred=P_SEG),
        [
            [
                [0.1328216727985436, 0.026626984412608884, -0.22116062182123877],
                [-0.1503641628972823, 0.1328216727985436, -0.22116062182123877],
            ],
            [
                [-0.24622960662660034, -0.24622960662660034, 0.10464758020011564],
                [0.10464758020011564, -0.07079101321324235, 0.03447214283477244],
            ],
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        ],
        rtol=RTOL,
    )


def test_tversky_keras_golden() -> None:
    # keras.losses.tversky(Y_SEG, P_SEG, alpha=b, beta=a, axis=(1, 2)) with Keras 3.15.1, whose naming is
    # swapped: it is this service's (Keras >= 3.16 naming) tversky with alpha=a, beta=b
    golden = {
        (0.5, 0.5): [0.24955754868822833, 0.4035087928593405, 1.0],
        (0.3, 0.7): [0.27768315919307796, 0.39068102542361904, 1.0],
        (2.0, 0.0): [0.2885906278996433, 0.6046511719848565, 1.0],
    }
    for (alpha, beta), expected in golden.items():
        np.testing.assert_allclose(
            values("tversky", {"alpha": alpha, "beta": beta}, y_true=Y_SEG, y_pred=P_SEG), expected, rtol=RTOL
        )
    # JAX gradient of Keras 3.15.1 with alpha 0.7, beta 0.3: here (Keras >= 3.16 naming) alpha 0.3, beta 0.7
    np.testing.assert_allclose(
        grad("tversky", {"alpha": 0.3, "beta": 0.7}, y_true=Y_SEG, y_pred=P_SEG),
        [
            [
                [0.07383136111037156, -0.028383286173626836, -0.26688412983628973],
                [-0.1987410316469575, 0.07383136111037156, -0.26688412983628973],
            ],
            [
                [-0.2929047592604336, -0.2929047592604336, 0.06551816696096688],
                [0.06551816696096688, -0.11369329614973336, -0.0061664182833132165],
            ],
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        ],
        rtol=RTOL,
    )


def test_tversky_argument_naming_and_dice() -> None:
    # y = [1, 1, 0, 0], p = [1, 0, 0, 0]: I = 1, false negatives sum(y (1 - p)) = 1, false positives
    # sum(p (1 - y)) = 0. beta weighs the false negatives (Keras >= 3.16 naming):
    # alpha 0, beta 1 -> 1 - 1 / (2 + eps); alpha 1, beta 0 -> 1 - 1 / (1 + eps)
    y, p = [[1.0, 1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0, 0.0]]
    assert values("tversky", {"alpha": 0.0, "beta": 1.0}, y_true=y, y_pred=p)[0] == pytest.approx(0.5, rel=1e-6)
    assert values("tversky", {"alpha": 1.0, "beta": 0.0}, y_true=y, y_pred=p)[0] == pytest.approx(1e-7, rel=1e-6)
    # alpha = beta = 0.5 is the Dice loss (I + (A + B) / 2 = (sum y + sum p) / 2)
    np.testing.assert_allclose(
        values("tversky", y_true=Y_SEG, y_pred=P_SEG), values("dice", y_true=Y_SEG, y_pred=P_SEG), rtol=1e-7
    )


def test_segmentation_degenerate_masks() -> None:
    zeros, ones = np.zeros((1, 2, 2)), np.ones((1, 2, 2))
    for name in ("dice", "tversky"):
        # empty target and prediction: 1 - 0 / eps = 1, gradient 0 (y = 0, I = 0), and +0, not -0
        assert values(name, y_true=zeros, y_pred=zeros)[0] == 1.0
        g = grad(name, y_true=zeros, y_pred=zeros)
        np.testing.assert_array_equal(g, np.zeros((1, 2, 2)))
        assert not np.signbit(g).any()
        # perfect prediction: dice 1 - 8 / (8 + eps) = eps / (8 + eps); tversky 1 - 4 / (4 + eps)
        expected = 1e-7 / 8 if name == "dice" else 1e-7 / 4
        assert values(name, y_true=ones, y_pred=ones)[0] == pytest.approx(expected, rel=1e-6)
        assert np.isfinite(grad(name, y_true=ones, y_pred=ones)).all()


def test_segmentation_domain_and_shape() -> None:
    for name in ("dice", "tversky"):
        error = refused(name, y_true=[[0.0, 1.0]], y_pred=[[0.5, 1.5]])
        assert error.issues[0].location == ("y_pred", 0, 1)
        error = refused(name, y_true=[[-0.1, 1.0]], y_pred=[[0.5, 0.5]])
        assert error.issues[0].location == ("y_true", 0, 0)
        with pytest.raises(InvalidInput, match="rank"):
            values(name, y_true=[0.0, 1.0], y_pred=[0.5, 0.5])
        with pytest.raises(InvalidInput, match="shapes do not match"):
            values(name, y_true=[[0.0, 1.0]], y_pred=[[0.5, 0.5, 0.5]])


def test_new_losses_keep_float32() -> None:
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
