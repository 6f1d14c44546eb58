"""The losses on pairs and triplets of vectors (``service/engine/losses/pairs.py``), one test class per
loss, and the changed ``triplet_margin`` margin bound (API.md §5: ``margin > 0``).

References, run live (fixtures of ``tests/support/references.py``):
- sentence-transformers 6.3's ``CosineSimilarityLoss`` and ``ContrastiveLoss``, the real classes,
  given ``Echo`` for a model (it returns the embeddings it is handed, so the class's own cosine,
  distance and reduction run on our inputs);
- ``torch.nn.functional.triplet_margin_with_distance_loss`` with the callable each named distance
  stands for;
- ``optax.losses.cosine_distance`` and ``jax.grad`` of it (JAX in float64).
Ported reference tests: optax's ``CosineDistanceTest`` (``_regression_test.py``: batched, scalar
and axis cases), torch's ``test_cosine_similarity`` (``test/test_nn.py``: the zero-vector gradient
and the precision case of issue #18057) and the parity of ``triplet_margin_with_distance_loss``
with ``triplet_margin_loss`` under its default distance that torch's ``test_nn.py`` checks for
margins 0.5/1/1.5, both swaps and every reduction. sentence-transformers' own tests of these two
losses train real models and assert no numbers, so there is nothing numeric to port from them.

Every maker keeps its inputs away from kinks (the triplet hinge, the swap's tie, zero components of
a Manhattan difference) and from the cosine's norm clamp, where PyTorch's straight-through gradient
is not the derivative; those have tests of their own against torch's autograd.
"""

from __future__ import annotations

import importlib
import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.engine import CATALOG, InvalidInput, NonFiniteResult, compute
from service.engine.losses._vectors import torch_cosine_similarity
from service.engine.losses.pairs import distance_between
from tests.support.engine import (
    RTOL,
    Case,
    Inputs,
    LossTests,
    Maker,
    TorchParity,
    grads,
    redraw_until,
    torch_reduce,
    values,
)
from tests.support.references import load

T = dict[str, Any]
PAIRWISE_EPS, COSINE_EPS = 1e-6, 1e-8
NEW_LOSSES = ("cosine_similarity_mse", "cosine_distance", "triplet_margin_with_distance", "contrastive")


def _pairs(rng: np.random.Generator, shape: tuple[int, ...], min_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """Two batches of vectors, every row's norm at least ``min_norm`` (away from a norm clamp)."""

    def draw() -> Inputs:
        return {"x1": rng.normal(size=shape), "x2": rng.normal(size=shape)}

    def ok(inputs: Inputs) -> np.ndarray:
        return (np.linalg.norm(inputs["x1"], axis=-1) >= min_norm) & (np.linalg.norm(inputs["x2"], axis=-1) >= min_norm)

    inputs = redraw_until(draw, ok)
    return inputs["x1"], inputs["x2"]


def _st_losses() -> Any:
    load("sentence_transformers")  # a skip, or a failure where the run requires it
    return importlib.import_module("sentence_transformers.sentence_transformer.losses")


def _echo_model(torch: Any) -> Any:
    class Echo(torch.nn.Module):
        """A sentence-transformers model stand-in: the embedding of a column is the one it carries."""

        def forward(self, features: dict[str, Any]) -> dict[str, Any]:
            return {"sentence_embedding": features["embedding"]}

    return Echo()


def _columns(*embeddings: Any) -> list[dict[str, Any]]:
    return [{"embedding": e} for e in embeddings]


def _post(client: TestClient, loss: str, body: dict[str, Any]) -> Any:
    return client.post(f"/losses/{loss}", json=body)


def _problem(response: Any, pointer: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    document = response.json()
    assert [e["pointer"] for e in document["errors"]] == [pointer], document
    return dict(document)


# --- cosine_similarity_mse ---------------------------------------------------------------------------


def similarity_pairs(min_norm: float = 0.3) -> Maker:
    """Vectors with norms >= ``min_norm`` and float32-representable targets in [-1, 1] (sentence-transformers
    rounds its labels to float32: with these its loss is the same number as on the float64 targets)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        x1, x2 = _pairs(rng, shape, min_norm)
        y = rng.uniform(-1, 1, shape[:1]).astype(np.float32).astype(np.float64)
        return {"x1": x1, "x2": x2, "y_true": y}

    return make


def st_cosine_similarity_mse(torch: Any, t: T, p: T, reduction: str) -> Any:
    """The real ``CosineSimilarityLoss`` (its ``loss_fct`` an ``MSELoss`` of the reduction). It has no
    ``eps`` (its cosine is ``torch.cosine_similarity``'s default 1e-8); for another eps, the same
    expression with torch's cosine at that eps."""
    eps = p.get("eps", COSINE_EPS)
    if eps != COSINE_EPS:
        cos = torch.nn.functional.cosine_similarity(t["x1"], t["x2"], eps=eps)
        return torch_reduce(torch, (cos - t["y_true"]) ** 2, reduction)
    loss = _st_losses().CosineSimilarityLoss(_echo_model(torch), loss_fct=torch.nn.MSELoss(reduction=reduction))
    return loss(_columns(t["x1"], t["x2"]), t["y_true"])


class TestCosineSimilarityMse(LossTests, TorchParity):
    cases = (
        Case(
            "cosine_similarity_mse",
            similarity_pairs(),
            min_rank=2,
            max_rank=2,
            torch_reference=st_cosine_similarity_mse,
        ),
        Case(
            "cosine_similarity_mse",
            similarity_pairs(min_norm=1.0),
            {"eps": 0.5},
            min_rank=2,
            max_rank=2,
            torch_reference=st_cosine_similarity_mse,
        ),
    )

    def test_by_hand(self) -> None:
        # x1 = [3, 4], x2 = [4, 3]: cos = 24 / 25 = 0.96; y = 1: l = 0.04^2 = 0.0016.
        # dcos/dx1 = (u2 - cos x1 / |x1|) / |x1| = ([0.8, 0.6] - 0.96 [0.6, 0.8]) / 5 = [0.0448, -0.0336];
        # dl/dx1 = 2 (0.96 - 1) dcos/dx1 = [-0.003584, 0.002688] (x2 symmetrically: [0.002688, -0.003584]).
        # x1 = [1, 0], x2 = [0, 2], y = 0.5: cos = 0, l = 0.25; dl/dx1 = -1 * [0, 1] / 1, dl/dx2 = -1 * [1, 0] / 2.
        inputs = {"x1": [[3.0, 4.0], [1.0, 0.0]], "x2": [[4.0, 3.0], [0.0, 2.0]], "y_true": [1.0, 0.5]}
        np.testing.assert_allclose(values("cosine_similarity_mse", **inputs), [0.0016, 0.25], rtol=1e-12)
        g = grads("cosine_similarity_mse", **inputs)
        np.testing.assert_allclose(g["x1"], [[-0.003584, 0.002688], [0.0, -1.0]], rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(g["x2"], [[0.002688, -0.003584], [-0.5, 0.0]], rtol=1e-12, atol=1e-16)

    def test_targets_are_not_rounded_to_float32(self, torch: Any) -> None:
        """sentence-transformers computes against ``labels.float()``: 0.1 becomes 0.10000000149011612.
        Here the float64 target is used as given (API.md §8), as torch's own expression does."""
        x1, x2, y = np.array([[1.0, 2.0, 0.5]]), np.array([[0.3, -1.0, 2.0]]), np.array([0.1])
        t1, t2 = torch.tensor(x1), torch.tensor(x2)
        exact = ((torch.nn.functional.cosine_similarity(t1, t2) - torch.tensor(y)) ** 2).item()
        rounded = st_cosine_similarity_mse(torch, {"x1": t1, "x2": t2, "y_true": torch.tensor(y)}, {}, "mean").item()
        served = float(values("cosine_similarity_mse", reduction="mean", x1=x1, x2=x2, y_true=y))
        assert served == pytest.approx(exact, rel=1e-15)
        assert abs(served - rounded) > 1e-9 * abs(served)  # the float32 rounding is visible at this tolerance

    def test_norms_below_eps_follow_torch_autograd(self, torch: Any) -> None:
        """Below eps PyTorch divides by eps and its gradient is straight-through (the clamp runs under
        no_grad): not the derivative of x / eps, so it is checked against autograd, not differences."""
        x1 = np.array([[3e-9, 4e-9, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 2.0], [0.2, -0.1, 0.05]])
        x2 = np.array([[1.0, 0.5, 2.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1e-9, 2e-9, -1e-9]])
        y = np.array([0.5, -0.25, 0.75, 0.125])
        for params in ({}, {"eps": 0.5}):
            t = {"x1": torch.tensor(x1, requires_grad=True), "x2": torch.tensor(x2, requires_grad=True)}
            t["y_true"] = torch.tensor(y)
            expected = st_cosine_similarity_mse(torch, t, params, "sum")
            expected.backward()
            result = compute(
                CATALOG["cosine_similarity_mse"],
                {"x1": x1, "x2": x2, "y_true": y},
                params,
                reduction="sum",
                return_grad=True,
            )
            assert result.loss == pytest.approx(expected.item(), rel=1e-13)
            assert result.grads is not None
            np.testing.assert_allclose(result.grads["x1"], t["x1"].grad.numpy(), rtol=1e-12)
            np.testing.assert_allclose(result.grads["x2"], t["x2"].grad.numpy(), rtol=1e-12)

    def test_zero_vector_as_torch_test_cosine_similarity(self) -> None:
        """torch's ``test_cosine_similarity``: for x2 = 0 and x1 != 0, d cos / d x2 = (x1 / |x1|) / eps and
        d cos / d x1 = 0. With y = -0.5 the loss is (0 + 0.5)^2 and dl/dcos = 2 (0 + 0.5) = 1."""
        x1 = np.random.default_rng(5).normal(size=(1, 10))
        g = grads("cosine_similarity_mse", x1=x1, x2=np.zeros_like(x1), y_true=[-0.5])
        assert values("cosine_similarity_mse", x1=x1, x2=np.zeros_like(x1), y_true=[-0.5])[0] == 0.25
        np.testing.assert_array_equal(g["x1"], np.zeros_like(x1))
        np.testing.assert_allclose(g["x2"], x1 / np.linalg.norm(x1) * 1e8, rtol=1e-14)

    def test_precision_as_torch_issue_18057(self) -> None:
        """torch's ``test_cosine_similarity``: the cosine of range(84) with itself is at most 1, so with
        target 1 the loss is (at most a few ulps of) 0 and never a negative error squared away."""
        v = np.arange(84.0)[None, :]
        assert torch_cosine_similarity(v, v, 1e-8).value[0] <= 1.0
        assert values("cosine_similarity_mse", x1=v, x2=v, y_true=[1.0])[0] <= 1e-30

    def test_huge_and_tiny_vectors_keep_their_cosine(self) -> None:
        # |x| overflows float64 for [1.5e308, 1.5e308] (torch's norm is inf and its cosine 0); the direction
        # is exact: cos([1, 1], [1, 0]) = 1 / sqrt 2, so with y = 0 the loss is 1/2.
        big = values("cosine_similarity_mse", x1=[[1.5e308, 1.5e308]], x2=[[1e300, 0.0]], y_true=[0.0])
        assert big[0] == pytest.approx(0.5, rel=1e-15)
        # tiny vectors below eps are divided by eps: cos = (x1 / eps) . (x2 / |x2|) = 1e-292 / 1e-8 ~ 0
        tiny = values("cosine_similarity_mse", x1=[[1e-300, 0.0]], x2=[[1.0, 0.0]], y_true=[1.0])
        assert tiny[0] == 1.0

    def test_overflow_is_a_non_finite_result(self) -> None:
        with pytest.raises(NonFiniteResult) as error:
            values("cosine_similarity_mse", x1=[[1.0, 0.0], [1.0, 0.0]], x2=[[1.0, 0.0], [1.0, 1.0]], y_true=[0, 1e200])
        assert error.value.issues[0].location == ("x1", 1)

    @settings(max_examples=60, deadline=None)
    @given(data=st.data(), n=st.integers(1, 4), d=st.integers(1, 5))
    def test_any_finite_vectors_give_a_finite_loss(self, data: st.DataObject, n: int, d: int) -> None:
        elements = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)
        x1 = data.draw(hnp.arrays(np.float64, (n, d), elements=elements))
        x2 = data.draw(hnp.arrays(np.float64, (n, d), elements=elements))
        y = data.draw(hnp.arrays(np.float64, (n,), elements=st.floats(-2, 2)))
        result = compute(CATALOG["cosine_similarity_mse"], {"x1": x1, "x2": x2, "y_true": y}, reduction="none")
        cos_bound = (np.abs(y) + 1 + 1e-12) ** 2
        assert np.all(np.asarray(result.loss) <= cos_bound)


# --- cosine_distance ---------------------------------------------------------------------------------


def distance_vectors(eps: float = 0.0) -> Maker:
    """Vectors whose squared norms are either at least 2 eps (and 0.01) or, with eps > 0, at most eps / 2
    (the floor acts there, and the loss is smooth on both sides)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        def vectors() -> np.ndarray:
            x = rng.normal(size=shape)
            squared = np.sum(x * x, axis=-1, keepdims=True)
            if eps == 0:
                target = rng.uniform(0.1, 4.0, squared.shape)
            else:
                floored = rng.uniform(size=squared.shape) < 0.3
                below, above = (
                    rng.uniform(0.05, 0.5, squared.shape) * eps,
                    rng.uniform(2, 4, squared.shape) * eps + 0.01,
                )
                target = np.where(floored, below, above)
            return x * np.sqrt(target / squared)

        return {"y_true": vectors(), "y_pred": vectors()}

    return make


class TestCosineDistance(LossTests):
    cases = (
        Case("cosine_distance", distance_vectors()),
        Case("cosine_distance", distance_vectors(0.25), {"eps": 0.25}),
        Case("cosine_distance", distance_vectors(4.0), {"eps": 4.0}),
    )

    def test_by_hand(self) -> None:
        # y = [1, 0], p = [1, 1]: cos = 1 / sqrt 2; dl/dp = -(a - cos b) / |p| = -([1, 0] - [0.5, 0.5]) / sqrt 2
        r2 = math.sqrt(2)
        assert values("cosine_distance", y_true=[[1.0, 0.0]], y_pred=[[1.0, 1.0]])[0] == pytest.approx(1 - 1 / r2)
        g = grads("cosine_distance", y_true=[[1.0, 0.0]], y_pred=[[1.0, 1.0]])["y_pred"]
        np.testing.assert_allclose(g, [[-0.5 / r2, 0.5 / r2]], rtol=1e-14)
        # eps = 4 (floor 2 on the norms): y = [1, 0] -> a = [0.5, 0]; p = [3, 0] (|p|^2 = 9 >= 4) -> b = [1, 0],
        # l = 1 - 0.5 = 0.5, dl/dp = -(a - 0.5 b) / 3 = 0; p = [0, 1] (floored) -> b = [0, 0.5], l = 1,
        # dl/dp = -a / 2 = [-0.25, 0]
        t, p = [[1.0, 0.0], [1.0, 0.0]], [[3.0, 0.0], [0.0, 1.0]]
        np.testing.assert_allclose(values("cosine_distance", {"eps": 4.0}, y_true=t, y_pred=p), [0.5, 1.0])
        np.testing.assert_allclose(
            grads("cosine_distance", {"eps": 4.0}, y_true=t, y_pred=p)["y_pred"], [[0.0, 0.0], [-0.25, 0.0]], atol=1e-17
        )

    def test_matches_optax(self, jax: Any, optax: Any) -> None:
        """Values and ``jax.grad`` of optax's cosine_distance, every case x reduction x weighting, float64."""
        jnp = jax.numpy
        for case in self.cases:
            for seed in range(6):
                inputs = case.inputs(zlib.crc32(f"{case.id}/optax/{seed}".encode()))
                t, p = inputs["y_true"], inputs["y_pred"]
                eps = case.params.get("eps", 0.0)
                rng = np.random.default_rng(seed)
                for weighting in ("unweighted", "per-sample", "per-value"):
                    w = (
                        None
                        if weighting == "unweighted"
                        else rng.uniform(0.2, 2, p.shape[:1] if weighting == "per-sample" else p.shape[:-1])
                    )
                    wj = (
                        jnp.ones(p.shape[:-1])
                        if w is None
                        else jnp.asarray(w).reshape(w.shape + (1,) * (p.ndim - 1 - w.ndim))
                    )
                    for reduction in ("none", "sum", "mean"):
                        reduce = {"none": lambda v: v, "sum": jnp.sum, "mean": lambda v: jnp.sum(v) / v.size}[reduction]

                        def reference(q: Any, t: Any = t, wj: Any = wj, reduce: Any = reduce, eps: float = eps) -> Any:
                            return reduce(wj * optax.losses.cosine_distance(q, t, epsilon=eps))

                        expected = reference(jnp.asarray(p))
                        expected_grad = jax.grad(lambda q, f=reference: jnp.sum(f(q)))(jnp.asarray(p))
                        result = compute(
                            CATALOG["cosine_distance"],
                            inputs,
                            case.params,
                            sample_weight=w,
                            reduction=reduction,
                            return_grad=True,
                        )
                        assert result.grads is not None
                        np.testing.assert_allclose(result.loss, np.asarray(expected), rtol=RTOL, atol=1e-12)
                        np.testing.assert_allclose(
                            result.grads["y_pred"], np.asarray(expected_grad), rtol=RTOL, atol=1e-12
                        )

    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    def test_optax_cosine_distance_test_over_http(self, api_client: TestClient, dtype: str) -> None:
        """optax's ``CosineDistanceTest`` (``_regression_test.py``): expected distances from scipy, atol 1e-4,
        for the batch (``test_batched_distance``) and its first row alone (``test_scalar_distance``, as one row)."""
        ys = [[10.0, 1.0, -2.0], [1.0, 4.0, 0.2]]
        ts = [[0.0, 1.2, 0.2], [1.0, -0.3, 0.0]]
        expected = [0.9358251989, 1.0464068465]
        batched = _post(
            api_client, "cosine_distance", {"y_true": ts, "y_pred": ys, "reduction": "none", "dtype": dtype}
        )
        np.testing.assert_allclose(batched.json()["loss"], expected, atol=1e-4)
        scalar = _post(
            api_client, "cosine_distance", {"y_true": ts[:1], "y_pred": ys[:1], "reduction": "none", "dtype": dtype}
        )
        np.testing.assert_allclose(scalar.json()["loss"], expected[:1], atol=1e-4)
        # optax's expected digits are float32 results (its arrays are float32); in float64 the distances are
        # scipy 1.x's ``scipy.spatial.distance.cosine`` of the float64 inputs
        if dtype == "float64":
            np.testing.assert_allclose(batched.json()["loss"], [0.9358252065184147, 1.0464068351535465], rtol=1e-14)

    def test_leading_axes_are_independent_as_optax_test_axis(self) -> None:
        """optax's ``test_axis`` moves the vector axis last; here it is always last, and a (4, 5, 6) batch
        gives the values of its 20 rows computed one by one."""
        rng = np.random.default_rng(9)
        t, p = rng.normal(size=(4, 5, 6)), rng.normal(size=(4, 5, 6))
        whole = values("cosine_distance", y_true=t, y_pred=p)
        rows = [
            values("cosine_distance", y_true=t.reshape(20, 6)[i : i + 1], y_pred=p.reshape(20, 6)[i : i + 1])[0]
            for i in range(20)
        ]
        np.testing.assert_array_equal(whole.reshape(20), rows)

    def test_zero_vector_with_eps_zero_is_a_non_finite_result(self) -> None:
        for t, p in (
            ([[1.0, 2.0], [0.0, 0.0]], [[1.0, 0.0], [1.0, 1.0]]),
            ([[1.0, 2.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 0.0]]),
        ):
            with pytest.raises(NonFiniteResult, match="not finite") as error:
                values("cosine_distance", y_true=t, y_pred=p)
            assert error.value.issues[0].location == ("y_pred", 1)

    def test_zero_vector_with_eps_has_distance_one(self) -> None:
        # a = 0 or b = 0: cos = 0, l = 1; d l / d p for a zero p under the floor: -a / sqrt(eps)
        t, p = [[0.0, 0.0], [3.0, 4.0]], [[1.0, 1.0], [0.0, 0.0]]
        np.testing.assert_array_equal(values("cosine_distance", {"eps": 1e-12}, y_true=t, y_pred=p), [1.0, 1.0])
        g = grads("cosine_distance", {"eps": 1e-12}, y_true=t, y_pred=p)["y_pred"]
        np.testing.assert_allclose(g, [[0.0, 0.0], [-0.6e6, -0.8e6]], rtol=1e-14)

    def test_huge_and_tiny_vectors_keep_their_cosine(self) -> None:
        """optax squares the entries: 1e200^2 overflows (NaN) and 1e-200^2 underflows (0/0 with eps 0)."""
        t = [[1e200, 1e200], [1e-200, 1e-200], [1e-200, 0.0]]
        p = [[1e200, -1e200], [2e-200, 2e-200], [3e200, 3e200]]
        np.testing.assert_allclose(
            values("cosine_distance", y_true=t, y_pred=p), [1.0, 0.0, 1 - 1 / math.sqrt(2)], atol=1e-15
        )


# --- triplet_margin_with_distance --------------------------------------------------------------------


def _np_distance(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The named distances written out with NumPy (to draw inputs away from kinks)."""
    if name == "euclidean":
        return np.linalg.norm(x - y + PAIRWISE_EPS, axis=-1)
    if name == "manhattan":
        return np.sum(np.abs(x - y + PAIRWISE_EPS), axis=-1)
    cos = np.sum(x * y, axis=-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1))
    return 1 - cos


def triplets(distance: str = "euclidean", margin: float = 1.0, swap: bool = False) -> Maker:
    """Triplets (N, D) with ``margin + d_pos - d_neg`` at least 0.05 from 0 (both signs occur), under
    ``swap`` ``d(a, n)`` and ``d(p, n)`` at least 0.02 apart, no Manhattan difference component near 0
    and every norm at least 0.3 (away from the cosine's clamp)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        def draw() -> Inputs:
            anchor = rng.normal(0, 1, shape)
            spread = 0.4 if distance == "cosine" else 1.0
            return {
                "anchor": anchor,
                "positive": anchor + rng.normal(0, 0.8 * spread, shape),
                "negative": anchor + rng.normal(0, 1.2 * spread, shape),
            }

        def ok(inputs: Inputs) -> np.ndarray:
            a, pos, neg = inputs["anchor"], inputs["positive"], inputs["negative"]
            d_pos, d_neg = _np_distance(distance, a, pos), _np_distance(distance, a, neg)
            d_swap = _np_distance(distance, pos, neg)
            good = np.ones(shape[0], dtype=bool)
            if swap:
                good &= np.abs(d_neg - d_swap) >= 0.02
                d_neg = np.minimum(d_neg, d_swap)
            good &= np.abs(margin + d_pos - d_neg) >= 0.05
            for x, y in ((a, pos), (a, neg), (pos, neg)):
                good &= np.min(np.abs(x - y + PAIRWISE_EPS), axis=-1) >= 0.01
            for x in (a, pos, neg):
                good &= np.linalg.norm(x, axis=-1) >= 0.3
            return good

        return redraw_until(draw, ok)

    return make


def _torch_distance(torch: Any, name: str) -> Callable[[Any, Any], Any] | None:
    functional = torch.nn.functional
    return {
        "euclidean": None,  # PyTorch's default: pairwise_distance
        "manhattan": lambda x, y: functional.pairwise_distance(x, y, p=1),
        "cosine": lambda x, y: 1.0 - functional.cosine_similarity(x, y),
    }[name]


def torch_triplet_with_distance(torch: Any, t: T, p: T, reduction: str) -> Any:
    return torch.nn.functional.triplet_margin_with_distance_loss(
        t["anchor"],
        t["positive"],
        t["negative"],
        distance_function=_torch_distance(torch, p.get("distance", "euclidean")),
        margin=p.get("margin", 1.0),
        swap=p.get("swap", False),
        reduction=reduction,
    )


def _triplet_case(**params: Any) -> Case:
    return Case(
        "triplet_margin_with_distance",
        triplets(**params),
        params,
        min_rank=2,
        max_rank=2,
        torch_reference=torch_triplet_with_distance,
    )


def _torch_sum(torch: Any, loss: str, params: dict[str, Any], inputs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """torch's sum for ``loss`` and the tensors (their ``.grad`` filled by backward)."""
    reference = {"triplet_margin_with_distance": torch_triplet_with_distance}[loss]
    tensors = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in inputs.items()}
    expected = reference(torch, tensors, params, "sum")
    expected.backward()
    return expected, tensors


class TestTripletMarginWithDistance(LossTests, TorchParity):
    cases = (
        _triplet_case(),
        _triplet_case(distance="euclidean", margin=0.5, swap=True),
        _triplet_case(distance="manhattan"),
        _triplet_case(distance="manhattan", margin=2.0, swap=True),
        _triplet_case(distance="cosine"),
        _triplet_case(distance="cosine", margin=0.3),
        _triplet_case(distance="cosine", margin=0.5, swap=True),
    )

    def test_by_hand(self) -> None:
        a, pos, neg = [[0.0, 0.0]], [[3.0, 4.0]], [[6.0, 8.0]]
        # euclidean, margin 6: 6 + |[-3, -4] + 1e-6| - |[-6, -8] + 1e-6|
        d_pos, d_neg = np.linalg.norm([-3 + 1e-6, -4 + 1e-6]), np.linalg.norm([-6 + 1e-6, -8 + 1e-6])
        got = values("triplet_margin_with_distance", {"margin": 6.0}, anchor=a, positive=pos, negative=neg)
        assert got[0] == pytest.approx(6 + d_pos - d_neg, rel=1e-15)
        # manhattan, margin 8: 8 + (7 - 2e-6) - (14 - 2e-6) = 1
        got = values(
            "triplet_margin_with_distance",
            {"distance": "manhattan", "margin": 8.0},
            anchor=a,
            positive=pos,
            negative=neg,
        )
        assert got[0] == pytest.approx(1.0, rel=1e-14)
        # cosine: a = [1, 0], p = [1, 1], n = [0, 1]: d_pos = 1 - 1/sqrt 2, d_neg = 1; margin 1: 1 - 1/sqrt 2.
        # dl/dn = -d d_neg / dn = dcos(a, n)/dn = (u_a - 0) / 1 = [1, 0]
        params = {"distance": "cosine"}
        inputs = {"anchor": [[1.0, 0.0]], "positive": [[1.0, 1.0]], "negative": [[0.0, 1.0]]}
        assert values("triplet_margin_with_distance", params, **inputs)[0] == pytest.approx(
            1 - 1 / math.sqrt(2), rel=1e-15
        )
        np.testing.assert_allclose(
            grads("triplet_margin_with_distance", params, **inputs)["negative"], [[1.0, 0.0]], atol=1e-16
        )

    @pytest.mark.parametrize("mode", ["none", "mean", "sum"])
    @pytest.mark.parametrize("swap", [False, True])
    @pytest.mark.parametrize("margin", [0.5, 1.0, 1.5])
    def test_default_distance_is_triplet_margin_as_torch_default_parity(
        self, margin: float, swap: bool, mode: str
    ) -> None:
        """torch's test_nn.py checks ``triplet_margin_with_distance_loss`` against ``triplet_margin_loss`` under
        the default distance for these margins, swaps and reductions; here both served losses agree to the bit
        (euclidean is ``p=2, eps=1e-6``; manhattan is ``p=1``)."""
        rng = np.random.default_rng(int(margin * 10) + swap)
        inputs = {k: rng.normal(size=(5, 10)) for k in ("anchor", "positive", "negative")}
        for distance, p in (("euclidean", 2.0), ("manhattan", 1.0)):
            ours = compute(
                CATALOG["triplet_margin_with_distance"],
                inputs,
                {"distance": distance, "margin": margin, "swap": swap},
                reduction=mode,
                return_grad=True,
            )
            theirs = compute(
                CATALOG["triplet_margin"],
                inputs,
                {"margin": margin, "swap": swap, "p": p},
                reduction=mode,
                return_grad=True,
            )
            np.testing.assert_array_equal(ours.loss, theirs.loss)
            assert ours.grads is not None and theirs.grads is not None
            for name in ("anchor", "positive", "negative"):
                np.testing.assert_array_equal(ours.grads[name], theirs.grads[name])

    @pytest.mark.parametrize("distance", ["euclidean", "manhattan", "cosine"])
    def test_kink_passes_the_gradient_as_torch_clamp_min(self, torch: Any, distance: str) -> None:
        """margin + d_pos - d_neg == 0 exactly: PyTorch's clamp_min passes the gradient there."""
        if distance == "cosine":  # d_pos = 1 - 0 = 1, d_neg = 1 - (-1) = 2, margin 1
            inputs = {"anchor": [[1.0, 0.0]], "positive": [[0.0, 1.0]], "negative": [[-1.0, 0.0]]}
            margin = 1.0
        else:  # one component: d_pos = fl(1 + 1e-6), d_neg = fl(2 + 1e-6); their difference is exact (Sterbenz)
            inputs = {"anchor": [[0.0]], "positive": [[-1.0]], "negative": [[-2.0]]}
            margin = (2.0 + 1e-6) - (1.0 + 1e-6)
        params = {"distance": distance, "margin": margin}
        expected, tensors = _torch_sum(torch, "triplet_margin_with_distance", params, inputs)
        result = compute(CATALOG["triplet_margin_with_distance"], inputs, params, reduction="sum", return_grad=True)
        assert result.grads is not None
        assert result.loss == expected.item() == 0
        for name in inputs:
            np.testing.assert_allclose(result.grads[name], tensors[name].grad.numpy(), rtol=1e-12, atol=1e-12)
        assert np.abs(result.grads["positive"]).sum() > 0  # clamp_min passed it

    @pytest.mark.parametrize("distance", ["euclidean", "manhattan", "cosine"])
    def test_swap_tie_splits_the_gradient_as_torch_minimum(self, torch: Any, distance: str) -> None:
        # d(a, n) == d(p, n) exactly: a - n + 1e-6 and p - n + 1e-6 hold the same two numbers swapped, and so do
        # the directions of a and p for the cosine
        inputs = {"anchor": [[1.0, 3.0]], "positive": [[3.0, 1.0]], "negative": [[1.0, 1.0]]}
        arrays = {k: np.asarray(v) for k, v in inputs.items()}
        d_neg = distance_between(distance, arrays["anchor"], arrays["negative"]).value
        assert d_neg == distance_between(distance, arrays["positive"], arrays["negative"]).value
        params = {"distance": distance, "swap": True}
        expected, tensors = _torch_sum(torch, "triplet_margin_with_distance", params, inputs)
        result = compute(CATALOG["triplet_margin_with_distance"], inputs, params, reduction="sum", return_grad=True)
        assert result.grads is not None
        assert result.loss == pytest.approx(expected.item(), rel=1e-14)
        for name in inputs:
            np.testing.assert_allclose(result.grads[name], tensors[name].grad.numpy(), rtol=1e-12, atol=1e-15)

    def test_zero_vectors_and_zero_distances_follow_torch(self, torch: Any) -> None:
        """A zero anchor under the cosine distance (cos = 0: both distances 1, the loss is the margin; its
        gradient is PyTorch's straight-through one, ~1e8); anchor - positive + 1e-6 == 0 exactly under euclidean
        and manhattan (a zero distance: PyTorch masks its gradient; sign(0) = 0 for manhattan)."""
        cases = [
            ({"distance": "cosine"}, {"anchor": [[0.0, 0.0]], "positive": [[1.0, 2.0]], "negative": [[-1.0, 0.5]]}),
            (
                {"distance": "euclidean"},
                {"anchor": [[0.0, 0.0]], "positive": [[1e-6, 1e-6]], "negative": [[0.5, -0.5]]},
            ),
            (
                {"distance": "manhattan"},
                {"anchor": [[0.0, 0.0]], "positive": [[1e-6, 1e-6]], "negative": [[0.5, -0.5]]},
            ),
        ]
        for params, inputs in cases:
            expected, tensors = _torch_sum(torch, "triplet_margin_with_distance", params, inputs)
            result = compute(CATALOG["triplet_margin_with_distance"], inputs, params, reduction="sum", return_grad=True)
            assert result.grads is not None
            assert result.loss == pytest.approx(expected.item(), rel=1e-14)
            for name in inputs:
                np.testing.assert_allclose(result.grads[name], tensors[name].grad.numpy(), rtol=1e-12, atol=1e-15)

    def test_huge_vectors_stay_finite(self) -> None:
        # PyTorch's sum of squares overflows past 1e154; the scaled norm does not: 2e200 - 1e200
        a, pos, neg = [[1e200, 0.0]], [[-1e200, 0.0]], [[1e200, 1e200]]
        assert values("triplet_margin_with_distance", anchor=a, positive=pos, negative=neg)[0] == pytest.approx(
            1e200, rel=1e-14
        )
        got = values("triplet_margin_with_distance", {"distance": "cosine"}, anchor=a, positive=pos, negative=neg)
        assert got[0] == pytest.approx(2 + 1 / math.sqrt(2), rel=1e-15)  # 1 + d_pos - d_neg = 1 + 2 - (1 - 1/sqrt 2)


class TestTripletMarginMarginBound:
    """API.md §5: ``triplet_margin``'s margin is > 0, as PyTorch requires; the same for the distance form."""

    @pytest.mark.parametrize("loss", ["triplet_margin", "triplet_margin_with_distance"])
    @pytest.mark.parametrize("margin", [0, 0.0, -1.0, -1e-300])
    def test_a_margin_not_above_zero_is_refused(self, api_client: TestClient, loss: str, margin: float) -> None:
        body = {
            "anchor": [[0.0, 1.0]],
            "positive": [[1.0, 1.0]],
            "negative": [[2.0, 0.0]],
            "params": {"margin": margin},
        }
        problem = _problem(_post(api_client, loss, body), "/params/margin")
        assert "greater than 0" in problem["errors"][0]["detail"]
        v2 = {
            "inputs": [
                {"name": k, "shape": [1, 2], "datatype": "FP64", "data": body[k][0]}
                for k in ("anchor", "positive", "negative")
            ],
            "parameters": {"margin": margin},
        }
        response = api_client.post(f"/v2/models/{loss}/infer", json=v2)
        assert response.status_code == 400 and "margin" in response.json()["error"]

    @pytest.mark.parametrize("loss", ["triplet_margin", "triplet_margin_with_distance"])
    def test_the_catalog_publishes_the_bound(self, api_client: TestClient, loss: str) -> None:
        margin = next(p for p in api_client.get(f"/losses/{loss}").json()["params"] if p["name"] == "margin")
        assert (margin["exclusive_minimum"], margin["minimum"], margin["default"]) == (0, None, 1.0)

    def test_a_small_positive_margin_is_served(self, api_client: TestClient) -> None:
        body = {
            "anchor": [[0.0, 1.0]],
            "positive": [[1.0, 1.0]],
            "negative": [[2.0, 0.0]],
            "params": {"margin": 1e-300},
        }
        assert _post(api_client, "triplet_margin", body).status_code == 200


# --- contrastive -------------------------------------------------------------------------------------


def contrastive_pairs(distance: str = "cosine", spread: float = 1.0) -> Maker:
    """Pairs (N, D), norms >= 0.3 (away from the cosine's clamp), labels 0/1 with both present when N > 1."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        x1, x2 = _pairs(rng, shape, 0.3)
        x2 = x1 + spread * (x2 - x1) * rng.uniform(0.1, 1.0, shape[:1])[:, None]
        labels = rng.integers(0, 2, shape[:1]).astype(float)
        labels[0], labels[-1] = 0.0, 1.0
        return {"x1": x1, "x2": x2, "y_true": labels}

    return make


def st_contrastive(torch: Any, t: T, p: T, reduction: str) -> Any:
    """The real ``ContrastiveLoss``: ``size_average`` True is mean, False sum; ``none`` is each pair on its own
    (``size_average=False`` on a one-row batch), stacked."""
    module = _st_losses()
    metric = {
        "cosine": module.SiameseDistanceMetric.COSINE_DISTANCE,
        "euclidean": module.SiameseDistanceMetric.EUCLIDEAN,
    }
    margin = p.get("margin", 0.5)

    def loss(size_average: bool) -> Any:
        return module.ContrastiveLoss(
            _echo_model(torch),
            distance_metric=metric[p.get("distance", "cosine")],
            margin=margin,
            size_average=size_average,
        )

    if reduction != "none":
        return loss(reduction == "mean")(_columns(t["x1"], t["x2"]), t["y_true"])
    one = loss(False)
    rows = [
        one(_columns(t["x1"][i : i + 1], t["x2"][i : i + 1]), t["y_true"][i : i + 1]) for i in range(len(t["y_true"]))
    ]
    return torch.stack(rows)


def _contrastive_case(distance: str = "cosine", spread: float = 1.0, **params: Any) -> Case:
    return Case(
        "contrastive",
        contrastive_pairs(distance, spread),
        {"distance": distance, **params} if distance != "cosine" or params else params,
        min_rank=2,
        max_rank=2,
        torch_reference=st_contrastive,
    )


class TestContrastive(LossTests, TorchParity):
    cases = (
        _contrastive_case(),
        _contrastive_case(margin=1.2),
        _contrastive_case("euclidean", margin=3.0),
        _contrastive_case("euclidean", spread=0.3, margin=1.0),
    )

    def test_by_hand(self) -> None:
        # cosine: [1, 0] vs [0, 1]: d = 1; similar: 1/2; dissimilar with margin 0.5: max(0, 0.5 - 1) = 0.
        # [1, 0] vs [1, 1], dissimilar: d = 1 - 1/sqrt 2, l = (0.5 - d)^2 / 2
        x1, x2 = [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]]
        d = 1 - 1 / math.sqrt(2)
        np.testing.assert_allclose(
            values("contrastive", x1=x1, x2=x2, y_true=[1, 0, 0]), [0.5, 0.0, 0.5 * (0.5 - d) ** 2], rtol=1e-14
        )
        # its gradient: dl/dd = -(0.5 - d); d d/d x2 = -dcos/dx2 = -(u1 - cos u2) / |x2|
        g = grads("contrastive", x1=x1[2:], x2=x2[2:], y_true=[0])["x2"]
        dcos = (np.array([1.0, 0.0]) - (1 / math.sqrt(2)) * np.array([1.0, 1.0]) / math.sqrt(2)) / math.sqrt(2)
        np.testing.assert_allclose(g[0], -(0.5 - d) * -dcos, rtol=1e-14)
        # euclidean: [0, 0] vs [3, 4]: d = |[-3 + 1e-6, -4 + 1e-6]|; similar: d^2 / 2;
        # dissimilar, margin 6: (6 - d)^2 / 2
        d = float(np.linalg.norm([-3 + 1e-6, -4 + 1e-6]))
        got = values(
            "contrastive",
            {"distance": "euclidean", "margin": 6.0},
            x1=[[0.0, 0.0]] * 2,
            x2=[[3.0, 4.0]] * 2,
            y_true=[1, 0],
        )
        np.testing.assert_allclose(got, [d * d / 2, (6 - d) ** 2 / 2], rtol=1e-14)

    @pytest.mark.parametrize("label", [-1.0, 0.5, 2.0])
    def test_labels_other_than_0_and_1_are_refused(self, api_client: TestClient, label: float) -> None:
        """sentence-transformers only warns and weighs the two terms by such labels: refused here (API.md §8)."""
        with pytest.raises(InvalidInput, match="a label in"):
            values("contrastive", x1=[[1.0, 0.0]] * 2, x2=[[0.0, 1.0]] * 2, y_true=[1.0, label])
        body = {"x1": [[1.0, 0.0]] * 3, "x2": [[0.0, 1.0]] * 3, "y_true": [0, 1, label]}
        problem = _problem(_post(api_client, "contrastive", body), "/y_true/2")
        assert "{0, 1}" in problem["errors"][0]["detail"]

    def test_distant_dissimilar_pairs_are_zero_and_overflow_is_refused(self) -> None:
        """The terms are selected by the label: a dissimilar pair at distance 1e200 costs 0 (the reference's
        0 * inf would be NaN); a similar one has d^2 = 1e400, not a float64: a non-finite result (422)."""
        x1, x2 = [[1e200, 0.0], [0.0, 0.0]], [[-1e200, 0.0], [1.0, 0.0]]
        params = {"distance": "euclidean"}
        np.testing.assert_allclose(
            values("contrastive", params, x1=x1, x2=x2, y_true=[0, 1]), [0.0, 0.5 * (1 - 1e-6) ** 2]
        )
        np.testing.assert_array_equal(grads("contrastive", params, x1=x1, x2=x2, y_true=[0, 1])["x1"][0], [0.0, 0.0])
        with pytest.raises(NonFiniteResult) as error:
            values("contrastive", params, x1=x1, x2=x2, y_true=[1, 1])
        assert error.value.issues[0].location == ("x1", 0)

    def test_zero_vector_under_the_cosine_follows_torch(self, torch: Any) -> None:
        """cos = 0, so d = 1: similar 1/2, dissimilar max(0, m - 1)^2 / 2; straight-through gradient (~1e8)."""
        x1, x2, y = np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([1.0, 0.0])
        params = {"margin": 1.5}
        t = {
            "x1": torch.tensor(x1, requires_grad=True),
            "x2": torch.tensor(x2, requires_grad=True),
            "y_true": torch.tensor(y),
        }
        expected = st_contrastive(torch, t, params, "sum")
        expected.backward()
        result = compute(
            CATALOG["contrastive"], {"x1": x1, "x2": x2, "y_true": y}, params, reduction="sum", return_grad=True
        )
        assert result.grads is not None
        assert result.loss == pytest.approx(0.5 + 0.125, rel=1e-15) == expected.item()
        np.testing.assert_allclose(result.grads["x1"], t["x1"].grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(result.grads["x2"], t["x2"].grad.numpy(), rtol=1e-12, atol=1e-20)


# --- the named distance and every loss over the API --------------------------------------------------

DISTANCE_CHOICES = {
    "triplet_margin_with_distance": ["euclidean", "manhattan", "cosine"],
    "contrastive": ["cosine", "euclidean"],
}


def _example(loss: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One valid batch and params per loss, from its first test case."""
    case = {
        "cosine_similarity_mse": TestCosineSimilarityMse.cases[0],
        "cosine_distance": TestCosineDistance.cases[1],
        "triplet_margin_with_distance": TestTripletMarginWithDistance.cases[6],
        "contrastive": TestContrastive.cases[2],
    }[loss]
    return case.inputs(3), dict(case.params)


class TestOverTheApi:
    @pytest.mark.parametrize("loss", NEW_LOSSES)
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_post_and_v2_give_the_engine_numbers(self, api_client: TestClient, loss: str, reduction: str) -> None:
        inputs, params = _example(loss)
        spec = CATALOG[loss]
        weight = np.linspace(0.5, 1.5, next(iter(inputs.values())).shape[0])
        expected = compute(spec, inputs, params, sample_weight=weight, reduction=reduction, return_grad=True)
        body = {**{k: v.tolist() for k, v in inputs.items()}, "params": params, "reduction": reduction}
        response = _post(api_client, loss, {**body, "return_grad": True, "sample_weight": weight.tolist()})
        assert response.status_code == 200, response.text
        document = response.json()
        np.testing.assert_array_equal(document["loss"], expected.loss)
        assert expected.grads is not None and set(document["grad"]) == set(spec.differentiable)
        for name, gradient in expected.grads.items():
            np.testing.assert_array_equal(document["grad"][name], gradient)

        tensors = [
            {"name": k, "shape": list(v.shape), "datatype": "FP64", "data": v.reshape(-1).tolist()}
            for k, v in {**inputs, "sample_weight": weight}.items()
        ]
        v2 = {"id": loss, "inputs": tensors, "parameters": {**params, "reduction": reduction, "return_grad": True}}
        response = api_client.post(f"/v2/models/{loss}/infer", json=v2)
        assert response.status_code == 200, response.text
        outputs = {o["name"]: o for o in response.json()["outputs"]}
        assert set(outputs) == {"loss", *(f"grad_{n}" for n in spec.differentiable)}
        np.testing.assert_array_equal(np.reshape(outputs["loss"]["data"], np.shape(expected.loss)), expected.loss)
        for name, gradient in expected.grads.items():
            np.testing.assert_array_equal(np.reshape(outputs[f"grad_{name}"]["data"], gradient.shape), gradient)

    @pytest.mark.parametrize("loss", NEW_LOSSES)
    def test_v2_metadata_ranks(self, api_client: TestClient, loss: str) -> None:
        document = api_client.get(f"/v2/models/{loss}").json()
        ranks = {t["name"]: len(t["shape"]) for t in document["inputs"]}
        assert ranks == {
            i.name: 1 if i.name == "y_true" and loss != "cosine_distance" else 2 for i in CATALOG[loss].inputs
        }

    @pytest.mark.parametrize("loss", sorted(DISTANCE_CHOICES))
    def test_the_catalog_and_openapi_publish_the_distance_choices(self, api_client: TestClient, loss: str) -> None:
        entry = api_client.get(f"/losses/{loss}").json()
        distance = next(p for p in entry["params"] if p["name"] == "distance")
        assert distance["type"] == "string" and distance["choices"] == DISTANCE_CHOICES[loss]
        assert distance["default"] == DISTANCE_CHOICES[loss][0] and distance["nullable"] is False
        assert all(choice in distance["description"] for choice in DISTANCE_CHOICES[loss])
        schemas = api_client.get("/openapi.json").json()["components"]["schemas"]
        name = "".join(part.capitalize() for part in loss.split("_")) + "Params"
        published = schemas[name]["properties"]["distance"]
        assert (published["type"], published["enum"], published["default"]) == (
            "string",
            DISTANCE_CHOICES[loss],
            DISTANCE_CHOICES[loss][0],
        )

    @pytest.mark.parametrize("loss", sorted(DISTANCE_CHOICES))
    @pytest.mark.parametrize("bad", ["chebyshev", "Cosine", "", 2, None, True, ["cosine"]])
    def test_an_unknown_distance_is_a_422_that_lists_the_choices(
        self, api_client: TestClient, loss: str, bad: Any
    ) -> None:
        inputs, params = _example(loss)
        body = {**{k: v.tolist() for k, v in inputs.items()}, "params": {**params, "distance": bad}}
        problem = _problem(_post(api_client, loss, body), "/params/distance")
        detail = problem["errors"][0]["detail"]
        assert all(f"'{choice}'" in detail for choice in DISTANCE_CHOICES[loss]), detail
        tensors = [
            {"name": k, "shape": list(v.shape), "datatype": "FP64", "data": v.reshape(-1).tolist()}
            for k, v in inputs.items()
        ]
        response = api_client.post(
            f"/v2/models/{loss}/infer", json={"inputs": tensors, "parameters": {"distance": bad}}
        )
        assert response.status_code == 400
        assert all(f"'{choice}'" in response.json()["error"] for choice in DISTANCE_CHOICES[loss])

    def test_contrastive_has_no_manhattan(self, api_client: TestClient) -> None:
        inputs, _ = _example("contrastive")
        body = {**{k: v.tolist() for k, v in inputs.items()}, "params": {"distance": "manhattan"}}
        _problem(_post(api_client, "contrastive", body), "/params/distance")

    @pytest.mark.parametrize("distance", ["euclidean", "manhattan", "cosine"])
    def test_each_distance_over_v2_and_batch(self, api_client: TestClient, distance: str) -> None:
        inputs, _ = _example("triplet_margin_with_distance")
        params = {"distance": distance, "swap": True}
        expected = compute(CATALOG["triplet_margin_with_distance"], inputs, params, reduction="none").loss
        item = {
            "loss": "triplet_margin_with_distance",
            **{k: v.tolist() for k, v in inputs.items()},
            "params": params,
            "reduction": "none",
        }
        (result,) = api_client.post("/batch", json={"items": [item]}).json()["results"]
        assert result["status"] == 200
        np.testing.assert_array_equal(result["result"]["loss"], expected)

    def test_wrong_shapes_point_at_the_input(self, api_client: TestClient) -> None:
        pairs = {"x1": [[1.0, 0.0], [0.0, 1.0]], "x2": [[1.0, 0.0], [0.0, 1.0]], "y_true": [1.0, 0.0]}
        _problem(_post(api_client, "contrastive", {**pairs, "y_true": [1.0]}), "/y_true")
        _problem(_post(api_client, "cosine_similarity_mse", {**pairs, "x2": [[1.0, 0.0, 0.0]] * 2}), "/x2")
        triplet = {"anchor": [[1.0, 0.0]], "positive": [[1.0, 0.0]], "negative": [1.0, 0.0]}
        _problem(_post(api_client, "triplet_margin_with_distance", triplet), "/negative")
        _problem(_post(api_client, "cosine_distance", {"y_true": [1.0, 0.0], "y_pred": [1.0, 0.0]}), "/y_pred")
        zero = _post(
            api_client, "cosine_distance", {"y_true": [[1.0, 0.0], [0.0, 0.0]], "y_pred": [[1.0, 0.0], [1.0, 1.0]]}
        )
        assert zero.json()["type"].endswith("non-finite-result")
        _problem(zero, "/y_pred/1")

    @pytest.mark.parametrize(
        ("loss", "param", "bad"), [("cosine_similarity_mse", "eps", 0.0), ("cosine_distance", "eps", -1e-9)]
    )
    def test_eps_bounds(self, api_client: TestClient, loss: str, param: str, bad: float) -> None:
        inputs, _ = _example(loss)
        _problem(
            _post(api_client, loss, {**{k: v.tolist() for k, v in inputs.items()}, "params": {param: bad}}),
            f"/params/{param}",
        )

    def test_these_losses_are_batch_free_and_have_formulas(self) -> None:
        # (that they are section 8's rows is tests/engine/test_registry.py's check)
        for loss in NEW_LOSSES:
            spec = CATALOG[loss]
            assert spec.family in {"similarity", "embedding"} and not spec.batch and not spec.scalar
            assert spec.formula.startswith(r"\ell = ")


# --- a real Open Inference Protocol client against the real server ----------------------------------


@pytest.fixture(scope="module")
def live_url() -> Any:
    from tests.support.http import running_server

    with running_server() as url:
        yield url


TRITON_SCENARIOS = [
    ("triplet_margin_with_distance", {"distance": "cosine", "swap": True, "margin": 0.5}, "none"),
    ("triplet_margin_with_distance", {"distance": "manhattan"}, "mean"),
    ("contrastive", {"distance": "euclidean", "margin": 3.0}, "sum"),
    ("cosine_similarity_mse", {}, "mean"),
]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize(("loss", "params", "reduction"), TRITON_SCENARIOS, ids=lambda v: str(v))
def test_tritonclient_with_a_named_distance(
    live_url: str, loss: str, params: dict[str, Any], reduction: str, binary: bool
) -> None:
    """``tritonclient.http`` sends the string param among the request parameters; every output is, to the
    bit, what ``POST /losses/{name}`` on the same server answers."""
    try:
        import httpx
        import tritonclient.http as triton
    except ImportError as error:  # pragma: no cover - depends on the environment
        from tests.support.require import skip_unless_available

        skip_unless_available("tritonclient", f"tritonclient[http] cannot be imported ({error})")
        raise
    inputs, _ = _example(loss)
    tensors = []
    for name, array in inputs.items():
        tensor = triton.InferInput(name, list(array.shape), "FP64")
        tensor.set_data_from_numpy(np.ascontiguousarray(array, dtype=np.float64), binary_data=binary)
        tensors.append(tensor)
    client = triton.InferenceServerClient(live_url.removeprefix("http://"), network_timeout=30)
    try:
        result = client.infer(loss, tensors, parameters={**params, "reduction": reduction, "return_grad": True})
    finally:
        client.close()
    body = {**{k: v.tolist() for k, v in inputs.items()}, "params": params, "reduction": reduction, "return_grad": True}
    document = httpx.post(f"{live_url}/losses/{loss}", json=body, timeout=30).json()
    assert result.as_numpy("loss").astype(np.float64).tobytes() == np.asarray(document["loss"], np.float64).tobytes()
    for name in CATALOG[loss].differentiable:
        got = result.as_numpy(f"grad_{name}")
        assert got.tobytes() == np.asarray(document["grad"][name], dtype=np.float64).tobytes(), name
