"""tversky's argument naming (API.md section 5): Keras >= 3.16's, shared by kornia, MONAI and optax.

``alpha`` weighs the false positives ``sum((1 - y_true) y_pred)``, ``beta`` the false negatives
``sum(y_true (1 - y_pred))``. Keras 3.15 and earlier (the installed 3.15.1) had the two swapped, so
it is compared with ``alpha`` and ``beta`` exchanged (and as is once Keras >= 3.16 is installed).
kornia's ``tversky_loss`` and optax's ``dice_loss`` (whose ``alpha``/``beta`` weigh the same terms)
are compared live too, values and gradients, and Keras 3.16's own TverskyTest numbers are ported
through ``POST /losses/tversky``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.engine import CATALOG, compute
from tests.support.api_parity import post
from tests.support.engine import ATOL, RTOL, grad, values

COEFFICIENTS = [(0.5, 0.5), (0.7, 0.3), (0.2, 0.8), (0.0, 2.0), (1.0, 1.0)]


def _masks(seed: int, shape: tuple[int, ...] = (3, 4, 5)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.where(rng.uniform(size=shape) < 0.5, rng.integers(0, 2, shape), rng.uniform(size=shape)).astype(float)
    return y, rng.uniform(0.05, 0.95, shape)


class TestTverskyKeras316Naming:
    def test_alpha_weighs_the_false_positives(self) -> None:
        # y = [1, 1, 0, 0], p = [1, 1, 1, 0]: I = 2, FP = sum((1 - y) p) = 1, FN = sum(y (1 - p)) = 0.
        # alpha 1, beta 0: 1 - 2 / (3 + eps); alpha 0, beta 1: 1 - 2 / (2 + eps) = eps / (2 + eps)
        y, p = [[1.0, 1.0, 0.0, 0.0]], [[1.0, 1.0, 1.0, 0.0]]
        assert values("tversky", {"alpha": 1.0, "beta": 0.0}, y_true=y, y_pred=p)[0] == pytest.approx(
            1 - 2 / (3 + 1e-7)
        )
        assert values("tversky", {"alpha": 0.0, "beta": 1.0}, y_true=y, y_pred=p)[0] == pytest.approx(
            1e-7 / (2 + 1e-7), rel=1e-8
        )
        # dT/dp = (1 - beta) y + alpha (1 - y): with alpha 1, beta 0 it is 1 everywhere, T = 3 + eps, I / T ~ 2/3:
        # dl/dp = (I/T - y) / T = [-1/9, -1/9, 2/9, 2/9] (to eps)
        np.testing.assert_allclose(
            grad("tversky", {"alpha": 1.0, "beta": 0.0}, y_true=y, y_pred=p),
            [[-1 / 9, -1 / 9, 2 / 9, 2 / 9]],
            rtol=1e-6,
        )

    def test_the_catalog_says_so(self, api_client: Any) -> None:
        entry = api_client.get("/losses/tversky").json()
        described = {p["name"]: p["description"] for p in entry["params"]}
        assert "false positives" in described["alpha"] and "(1 - y_true) * y_pred" in described["alpha"]
        assert "false negatives" in described["beta"] and "y_true * (1 - y_pred)" in described["beta"]
        assert "3.16" in entry["reference"]

    @pytest.mark.parametrize(("alpha", "beta"), COEFFICIENTS)
    def test_keras(self, keras: Any, jax: Any, alpha: float, beta: float) -> None:
        """Keras's tversky over all non-batch axes, its alpha and beta exchanged while it is older than 3.16."""
        major, minor = (int(part) for part in keras.version().split(".")[:2])
        swapped = (major, minor) < (3, 16)
        keras_alpha, keras_beta = (beta, alpha) if swapped else (alpha, beta)
        y, p = _masks(int(alpha * 10 + beta * 100))

        def loss(x: Any) -> Any:
            return keras.losses.tversky(y, x, alpha=keras_alpha, beta=keras_beta, axis=(1, 2))

        expected, expected_grad = loss(p), jax.grad(lambda x: jax.numpy.sum(loss(x)))(p)
        params = {"alpha": alpha, "beta": beta}
        result = compute(CATALOG["tversky"], {"y_true": y, "y_pred": p}, params, reduction="sum", return_grad=True)
        np.testing.assert_allclose(values("tversky", params, y_true=y, y_pred=p), expected, rtol=RTOL, atol=ATOL)
        assert result.grads is not None
        np.testing.assert_allclose(result.grads["y_pred"], expected_grad, rtol=RTOL, atol=ATOL)

    @pytest.mark.parametrize(("alpha", "beta"), COEFFICIENTS)
    def test_kornia(self, torch: Any, kornia: Any, alpha: float, beta: float) -> None:
        """kornia.losses.tversky_loss on two-class logits (B, 2, H, W) and index targets is the mean, over the
        samples and the two classes (both present in every sample here), of this tversky on each class's
        one-hot target and softmax probability, with kornia's eps. The gradient with respect to the logits
        is this one's with respect to the probabilities, pulled back through the softmax."""
        rng = np.random.default_rng(int(alpha * 10 + beta * 100))
        labels = rng.integers(0, 2, (3, 4, 5))
        labels[:, 0, 0], labels[:, 0, 1] = 0, 1
        logits = torch.tensor(rng.normal(0, 2, (3, 2, 4, 5)), requires_grad=True)
        expected = kornia.losses.tversky_loss(logits, torch.tensor(labels), alpha=alpha, beta=beta, eps=1e-8)
        expected.backward()
        probabilities = torch.softmax(logits.detach(), dim=1).numpy()
        one_hot = np.stack([labels == 0, labels == 1], axis=1).astype(float)
        inputs = {"y_true": one_hot.reshape(6, 4, 5), "y_pred": probabilities.reshape(6, 4, 5)}
        params = {"alpha": alpha, "beta": beta, "eps": 1e-8}
        result = compute(CATALOG["tversky"], inputs, params, reduction="mean", return_grad=True)
        assert result.loss == pytest.approx(expected.item(), rel=RTOL, abs=ATOL)
        assert result.grads is not None
        d_p = result.grads["y_pred"].reshape(3, 2, 4, 5)
        d_logits = probabilities * (d_p - np.sum(d_p * probabilities, axis=1, keepdims=True))
        np.testing.assert_allclose(d_logits, logits.grad.numpy(), rtol=RTOL, atol=ATOL)

    @pytest.mark.parametrize(("alpha", "beta"), COEFFICIENTS)
    def test_optax(self, jax: Any, optax: Any, alpha: float, beta: float) -> None:
        """optax.losses.dice_loss weighs P - I = FP by alpha and T - I = FN by beta; with smooth 0, on the two
        channels [1 - p, p] (rows summing to 1), its class-1 column is this tversky with eps -> 0 (1e-300)."""
        y, p = _masks(int(alpha * 10 + beta * 100) + 1)
        jnp = jax.numpy

        def loss(x: Any) -> Any:
            two = optax.losses.dice_loss(
                jnp.stack([1 - x, x], -1),
                jnp.stack([1 - y, y], -1),
                smooth=0.0,
                alpha=alpha,
                beta=beta,
                apply_softmax=False,
                reduction="none",
            )
            return two[..., 1]

        params = {"alpha": alpha, "beta": beta, "eps": 1e-300}
        np.testing.assert_allclose(values("tversky", params, y_true=y, y_pred=p), loss(p), rtol=RTOL, atol=ATOL)
        # the gradient through both channels is d/dp of the class-1 term (the class-0 column is not summed)
        expected_grad = jax.grad(lambda x: jnp.sum(loss(x)))(p)
        np.testing.assert_allclose(grad("tversky", params, y_true=y, y_pred=p), expected_grad, rtol=RTOL, atol=ATOL)

    def test_keras_316_suite(self, api_client: Any) -> None:
        """Keras 3.16's TverskyTest (keras/src/losses/losses_test.py), float32 numbers (its assertAllClose
        tolerance, 1e-6): test_binary_segmentation(_with_axis) and their custom_coefficients variants, through
        POST. axis=None there is one value over the whole array: one sample (1, 4, 4) here. test_correctness and
        its custom variant use targets 2 and predictions 4 and 6, outside [0, 1]: a 422 here (probabilities)."""
        y = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=float)[None]
        p = np.array([[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1]], dtype=float)[None]
        y_axis = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
        p_axis = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])
        for params, single, per_sample in (
            ({}, 0.77777779, [0.5, 0.75757575]),
            ({"alpha": 0.2, "beta": 0.8}, 0.76190472, [0.5, 0.78494626]),
        ):
            body = {"y_true": y, "y_pred": p, "params": params, "reduction": "none"}
            np.testing.assert_allclose(post(api_client, "tversky", body).json()["loss"], [single], rtol=1e-6)
            body = {"y_true": y_axis, "y_pred": p_axis, "params": params, "reduction": "none"}
            np.testing.assert_allclose(post(api_client, "tversky", body).json()["loss"], per_sample, rtol=1e-6)
        body = {"y_true": [[1.0, 2.0], [1.0, 2.0]], "y_pred": [[4.0, 1.0], [6.0, 1.0]]}
        assert post(api_client, "tversky", body).status_code == 422
