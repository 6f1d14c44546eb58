"""The contrastive losses (``service/engine/losses/contrastive.py``), one test class per loss.

References, run live (float64) by the fixtures of ``tests/support``:
- sentence-transformers 6.3 (torch 2.13): the real ``MultipleNegativesRankingLoss`` and
  ``CoSENTLoss`` classes, given a tiny ``torch.nn.Module`` whose "sentence embedding" is the tensor
  it is handed, so that the classes' own similarity functions, scaling and reductions run;
  gradients by torch autograd;
- optax 0.2.8 (``optax.losses.ntxent``) and Keras 3.15 on JAX (``keras.losses.circle``), gradients
  by ``jax.grad``.
The reference libraries' own test cases with numbers (optax ``NtxentTest``, Keras ``CircleTest``)
are ported through ``POST /losses/{name}``. Every maker keeps its inputs away from the losses'
kinks (the norm floors, Circle's clamps) so that central differences hold; the kinks and the
degenerate inputs (zero rows, a batch of one, no positive pair, ties, saturated scales) have
tests of their own.
"""

from __future__ import annotations

import importlib
import math
import zlib
from typing import Any

import httpx
import numpy as np
import pytest

from service.engine import CATALOG, InvalidInput, compute
from tests.support.api_parity import assert_served_alike
from tests.support.calls import infer, pointers, post
from tests.support.engine import (
    ATOL,
    RTOL,
    Case,
    Inputs,
    LossTests,
    TorchParity,
    grads,
    redraw_until,
    torch_reduce,
    values,
)
from tests.support.http import running_server
from tests.support.jax_reference import assert_matches_reference
from tests.support.references import load
from tests.support.require import skip_unless_available

T = dict[str, Any]
SEEDS = range(20)


# Makers: shape (N, D) from the kit's random shapes (rank 2).


def pairs(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    n, d = shape[0], shape[-1]
    return {"anchor": rng.normal(size=(n, d)), "positive": rng.normal(size=(n, d))}


def triplets(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    return {**pairs(rng, shape), "negative": rng.normal(size=(shape[0], shape[-1]))}


def scored_pairs(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Scores on a coarse grid (ties between pairs) or continuous."""
    n, d = shape[0], shape[-1]
    scores = rng.integers(0, 3, n) / 2 if rng.uniform() < 0.5 else rng.uniform(0, 1, n)
    return {"x1": rng.normal(size=(n, d)), "x2": rng.normal(size=(n, d)), "y_true": scores}


def groups(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Group ids with at least one positive pair (rows 0 and 1 share a group)."""
    n, d = shape[0], shape[-1]
    ids = rng.integers(0, max(2, n // 2 + 1), n)
    ids[1] = ids[0]
    return {"y_pred": rng.normal(size=(n, d)), "y_true": ids}


def circle_inputs(margin: float) -> Any:
    """Embeddings of norm 0.8 to 1.2 and labels in 0..2, redrawn where a clamp of Circle is near:
    ``e_i . e_j`` within 1e-3 of 1 (the distance's floor at 0, also the diagonal without
    ``remove_diagonal``), of ``-margin`` (``1 + m - d`` at 0) or of ``1 + margin`` (``m + d`` at 0)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
        n, d = shape[0], shape[-1]

        def draw() -> Inputs:
            e = rng.normal(size=(n, d))
            e *= rng.uniform(0.8, 1.2, (n, 1)) / np.linalg.norm(e, axis=1, keepdims=True)
            return {"y_pred": e, "y_true": rng.integers(0, 3, n)}

        def ok(inputs: Inputs) -> np.ndarray:
            dot = inputs["y_pred"] @ inputs["y_pred"].T
            near = np.zeros(dot.shape, bool)
            for kink in (1.0, -margin, 1.0 + margin):
                near |= np.abs(dot - kink) < 1e-3
            return ~near.any(axis=1)

        return redraw_until(draw, ok)

    return make


# References.


def features(torch: Any, columns: list[Any]) -> list[dict[str, Any]]:
    return [{"embedding": column} for column in columns]


def embedder(torch: Any) -> Any:
    """A sentence-transformers "model" whose sentence embedding is the tensor it is given."""

    class Embeddings(torch.nn.Module):
        def forward(self, features: dict[str, Any]) -> dict[str, Any]:
            return {"sentence_embedding": features["embedding"]}

    return Embeddings()


def st_losses() -> Any:
    """sentence-transformers' loss classes (``sentence_transformers.losses``, whose 6.3 home is this module)."""
    load("sentence_transformers")
    return importlib.import_module("sentence_transformers.sentence_transformer.losses")


def st_mnrl(torch: Any, t: T, p: T, reduction: str) -> Any:
    """The real ``MultipleNegativesRankingLoss``. Its answer is the mean over the anchors; anchor i's own
    loss is the class run on that anchor alone, its positive moved to the front of the positives
    (the class takes candidate i of a batch of one as the positive; the log-sum-exp is the same
    over the reordered candidates)."""
    loss = st_losses().MultipleNegativesRankingLoss(embedder(torch), scale=p.get("scale", 20.0))
    negatives = [t["negative"]] if "negative" in t else []
    if reduction == "mean":
        return loss(features(torch, [t["anchor"], t["positive"], *negatives]), None)
    n = t["anchor"].shape[0]
    per_anchor = []
    for i in range(n):
        order = torch.tensor([i, *range(i), *range(i + 1, n)])
        columns = [t["anchor"][i : i + 1], t["positive"][order], *negatives]
        per_anchor.append(loss(features(torch, columns), None))
    return torch_reduce(torch, torch.stack(per_anchor), reduction)


def st_cosent(torch: Any, t: T, p: T) -> Any:
    loss = st_losses().CoSENTLoss(embedder(torch), scale=p.get("scale", 20.0))
    return loss(features(torch, [t["x1"], t["x2"]]), t["y_true"])


def optax_ntxent(optax: Any, temperature: float) -> Any:
    return lambda y_pred, y_true: optax.losses.ntxent(y_pred, y_true, temperature=temperature)


def keras_circle(keras: Any, params: T) -> Any:
    return lambda y_true, y_pred: keras.losses.circle(y_true, y_pred, **params)


def float_tensors(torch: Any, inputs: Inputs, differentiable: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: torch.tensor(value, dtype=torch.float64).requires_grad_(name in differentiable)
        for name, value in inputs.items()
    }


class TestMultipleNegativesRanking(LossTests, TorchParity):
    cases = (
        Case("multiple_negatives_ranking", pairs, min_rank=2, max_rank=2, torch_reference=st_mnrl),
        Case("multiple_negatives_ranking", triplets, min_rank=2, max_rank=2, torch_reference=st_mnrl),
        Case("multiple_negatives_ranking", pairs, {"scale": 1.0}, min_rank=2, max_rank=2, torch_reference=st_mnrl),
        Case("multiple_negatives_ranking", triplets, {"scale": 5.0}, min_rank=2, max_rank=2, torch_reference=st_mnrl),
    )

    def test_by_hand(self) -> None:
        # Unit anchors = positives = [1, 0], [0, 1], scale 1: row 1's logits are [1, 0], so
        # l = log(e + 1) - 1 = log(1 + 1/e) (row 2 alike). d l_1 / d z_1 = softmax - onehot = [-1, 1] / (1 + e);
        # d/du_1 = that times the candidates = [-1, 1] / (1 + e); the unit vector's tangent part: [0, 1] / (1 + e).
        eye = np.eye(2)
        expected = math.log1p(math.exp(-1))
        np.testing.assert_allclose(
            values("multiple_negatives_ranking", {"scale": 1.0}, anchor=eye, positive=eye), [expected] * 2, rtol=1e-15
        )
        g = grads("multiple_negatives_ranking", {"scale": 1.0}, anchor=eye, positive=eye)
        q = 1 / (1 + math.e)
        np.testing.assert_allclose(g["anchor"], [[0, q], [q, 0]], rtol=1e-15, atol=1e-16)
        # Hard negatives -e_i append two candidates: row 1's logits [1, 0, -1, 0], so
        # l = log(e + 2 + 1/e) - 1 = 2 log(1 + 1/e); scaled by 3 the cosines, with 2x-long vectors (cos unchanged).
        both = values("multiple_negatives_ranking", {"scale": 1.0}, anchor=2 * eye, positive=eye, negative=-3 * eye)
        np.testing.assert_allclose(both, [2 * expected] * 2, rtol=1e-15)

    def test_mean_is_the_classes_mean_and_anchors_are_its_rows(self, torch: Any, sentence_transformers: Any) -> None:
        """The per-anchor reference (the class run anchor by anchor) averages to the class's own answer."""
        inputs = triplets(np.random.default_rng(5), (5, 3))
        t = float_tensors(torch, inputs, ())
        mean = st_mnrl(torch, t, {}, "mean")
        np.testing.assert_allclose(st_mnrl(torch, t, {}, "none").mean().item(), mean.item(), rtol=1e-14)
        assert values("multiple_negatives_ranking", reduction="mean", **inputs) == pytest.approx(mean.item(), rel=1e-13)

    @pytest.mark.parametrize("scale", [20.0, 1.0, 5.0])
    def test_matches_the_class_on_many_batches(self, torch: Any, sentence_transformers: Any, scale: float) -> None:
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            shape = (int(rng.integers(1, 7)), int(rng.integers(2, 6)))
            inputs = (triplets if seed % 2 else pairs)(rng, shape)
            t = float_tensors(torch, inputs, tuple(inputs))
            expected = st_mnrl(torch, t, {"scale": scale}, "mean")
            expected.backward()
            result = compute(
                CATALOG["multiple_negatives_ranking"], inputs, {"scale": scale}, reduction="mean", return_grad=True
            )
            assert result.grads is not None
            np.testing.assert_allclose(result.loss, expected.item(), rtol=RTOL, atol=ATOL)
            for name in inputs:
                np.testing.assert_allclose(result.grads[name], t[name].grad.numpy(), rtol=RTOL, atol=ATOL)

    @pytest.mark.parametrize(("scale", "exact"), [(30.0, 3.115683829022365e-11), (40.0, 1.1926256521130674e-14)])
    def test_nearly_certain_anchors_keep_their_tiny_loss(
        self, torch: Any, sentence_transformers: Any, scale: float, exact: float
    ) -> None:
        """Each anchor's positive is its nearest candidate by far: the loss is tiny. ``exact`` is mpmath's (50
        digits). sentence-transformers' ``-(z_ii - logsumexp z_i)`` cancels (float64: 3.115729896308039e-11 and
        1.0658141036401503e-14, within the contract's absolute 1e-12, not relatively);
        ``log1p(others) + (m - z_ii)`` keeps it to rounding."""
        inputs = {"anchor": np.array([[1.0, 0.1], [0.2, 1.0]]), "positive": np.eye(2)}
        assert values("multiple_negatives_ranking", {"scale": scale}, "mean", **inputs) == pytest.approx(
            exact, rel=1e-13
        )
        reference = st_mnrl(torch, float_tensors(torch, inputs, ()), {"scale": scale}, "mean").item()
        assert RTOL * exact < abs(reference - exact) < ATOL

    def test_a_zero_row_has_cosine_zero_and_torchs_gradient(self, torch: Any, sentence_transformers: Any) -> None:
        """F.normalize divides a row shorter than 1e-12 by 1e-12: a zero anchor has cosine 0 with every candidate
        (loss log(N) for scale s: all logits 0) and its gradient is 1e12 times that of its unit vector."""
        anchor = np.array([[0.0, 0.0], [1.0, 2.0]])
        positive = np.array([[1.0, 0.0], [0.0, 1.0]])
        v = values("multiple_negatives_ranking", anchor=anchor, positive=positive)
        assert v[0] == pytest.approx(math.log(2), rel=1e-15)
        g = grads("multiple_negatives_ranking", anchor=anchor, positive=positive)
        # d l_0 / d u_0 = 20 (0.5 [1, 0] + 0.5 [0, 1] - [1, 0]) = [-10, 10]; divided by the floor 1e-12
        np.testing.assert_allclose(g["anchor"][0], [-1e13, 1e13], rtol=1e-14)
        t = float_tensors(torch, {"anchor": anchor, "positive": positive}, ("anchor", "positive"))
        st_mnrl(torch, t, {}, "sum").backward()
        np.testing.assert_allclose(g["anchor"], t["anchor"].grad.numpy(), rtol=RTOL)
        np.testing.assert_allclose(g["positive"], t["positive"].grad.numpy(), rtol=RTOL, atol=ATOL)
        # a zero positive: every anchor has cosine 0 with it
        z = values("multiple_negatives_ranking", {"scale": 1.0}, anchor=positive, positive=np.zeros((2, 2)))
        np.testing.assert_allclose(z, [math.log(2)] * 2, rtol=1e-15)

    def test_a_batch_of_one(self) -> None:
        """One anchor and its positive: one candidate, softmax 1, loss 0 and gradient 0; with a hard negative
        the loss is that of a two-way softmax."""
        a, p, n = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]]), np.array([[-2.0, 1.0]])
        assert values("multiple_negatives_ranking", anchor=a, positive=p).tolist() == [0.0]
        g = grads("multiple_negatives_ranking", anchor=a, positive=p)
        assert not g["anchor"].any() and not g["positive"].any()
        cos = lambda x, y: float(np.sum(x * y)) / (np.linalg.norm(x) * np.linalg.norm(y))  # noqa: E731
        expected = math.log1p(math.exp(20 * (cos(a, n) - cos(a, p))))
        assert values("multiple_negatives_ranking", anchor=a, positive=p, negative=n)[0] == pytest.approx(expected)

    def test_saturated_scales(self) -> None:
        """A large scale saturates the softmax: finite, ``max_j z_ij - z_ii`` plus a vanishing log1p, and the
        gradient that of the winning candidate; a scale that overflows that gap is a non-finite result (422)."""
        anchor = np.eye(2)
        positive = np.array([[0.0, 1.0], [1.0, 0.0]])  # each anchor's positive is orthogonal to it, the other is not
        v = values("multiple_negatives_ranking", {"scale": 1e6}, anchor=anchor, positive=positive)
        np.testing.assert_array_equal(v, [1e6, 1e6])
        g = grads("multiple_negatives_ranking", {"scale": 1e6}, "mean", anchor=anchor, positive=positive)
        # d l_0 / d z_0 = [-1, 1] (the winner takes all), times scale / N, through the unit vector's tangent part
        np.testing.assert_array_equal(g["anchor"], [[0.0, -5e5], [-5e5, 0.0]])
        # hard negatives equal to the anchors: the gap is 2 scale (cosines -1 and 1)
        opposite = {"anchor": anchor, "positive": -anchor, "negative": anchor}
        assert values("multiple_negatives_ranking", {"scale": 1e300}, **opposite).tolist() == [2e300, 2e300]
        with pytest.raises(InvalidInput, match="not finite"):
            values("multiple_negatives_ranking", {"scale": 1e308}, **opposite)

    def test_huge_rows_normalise_to_their_direction(self) -> None:
        """Norms are computed scaled: rows near 1e300 give the same losses as their unit vectors (PyTorch's
        unscaled norm overflows there and normalises them to 0)."""
        inputs = triplets(np.random.default_rng(3), (3, 4))
        big = {name: 1e300 * value / np.abs(value).max() for name, value in inputs.items()}
        np.testing.assert_allclose(
            values("multiple_negatives_ranking", **big), values("multiple_negatives_ranking", **inputs), rtol=1e-13
        )

    def test_shapes_and_params_are_checked(self) -> None:
        a = np.ones((3, 2))
        for extra, where in (
            ({"positive": np.ones((2, 2))}, ("positive",)),
            ({"positive": a, "negative": np.ones((3, 3))}, ("negative",)),
            ({"positive": np.ones((3, 2, 1))}, ("positive",)),
        ):
            with pytest.raises(InvalidInput) as caught:
                values("multiple_negatives_ranking", anchor=a, **extra)
            assert [i.location for i in caught.value.issues] == [where]
        with pytest.raises(InvalidInput, match="rank"):
            values("multiple_negatives_ranking", anchor=np.ones(3), positive=np.ones(3))

    def test_api_and_v2_with_and_without_the_optional_negative(self, api_client: Any) -> None:
        inputs = triplets(np.random.default_rng(8), (3, 4))
        without = {"anchor": inputs["anchor"], "positive": inputs["positive"]}
        for reduction in ("mean", "sum", "none"):
            assert_served_alike(api_client, "multiple_negatives_ranking", inputs, {"scale": 7.5}, reduction)
            assert_served_alike(api_client, "multiple_negatives_ranking", without, {}, reduction)
        # null is the same as leaving it out
        body = {**without, "negative": None, "return_grad": True}
        document = post(api_client, "multiple_negatives_ranking", body).json()
        assert set(document["grad"]) == {"anchor", "positive"}
        assert document["loss"] == values("multiple_negatives_ranking", reduction="mean", **without)
        # over /v2, asking for the gradient of a negative not sent is a 400 that says so
        response = api_client.post(
            "/v2/models/multiple_negatives_ranking/infer",
            json={
                "inputs": [
                    {"name": n, "shape": [3, 4], "datatype": "FP64", "data": v.reshape(-1).tolist()}
                    for n, v in without.items()
                ],
                "outputs": [{"name": "loss"}, {"name": "grad_negative"}],
            },
        )
        assert response.status_code == 400 and "grad_negative" in response.json()["error"]
        # a missing required input is still refused, in both protocols
        response = post(api_client, "multiple_negatives_ranking", {"anchor": inputs["anchor"]})
        assert response.status_code == 422 and pointers(response) == ["/positive"]
        response = infer(api_client, "multiple_negatives_ranking", {"anchor": inputs["anchor"]})
        assert response.status_code == 400 and "positive" in response.json()["error"]

    def test_catalog_and_metadata_show_the_optional_input(self, api_client: Any) -> None:
        entry = api_client.get("/losses/multiple_negatives_ranking").json()
        assert entry["batch"] is True and entry["scalar"] is False
        assert [i["name"] for i in entry["inputs"]] == ["anchor", "positive", "negative"]
        metadata = api_client.get("/v2/models/multiple_negatives_ranking").json()
        assert [t["name"] for t in metadata["inputs"]] == ["anchor", "positive", "negative"]
        schema = api_client.get("/openapi.json").json()["components"]["schemas"]["MultipleNegativesRankingRequest"]
        assert set(schema["required"]) == {"anchor", "positive"}

    def test_bad_scale_is_a_422_at_its_param(self, api_client: Any) -> None:
        body = {"anchor": [[1.0, 0.0]], "positive": [[0.0, 1.0]], "params": {"scale": 0}}
        response = post(api_client, "multiple_negatives_ranking", body)
        assert response.status_code == 422 and pointers(response) == ["/params/scale"]

    def test_each_batch_item_is_its_own_batch(self, api_client: Any) -> None:
        first, second = pairs(np.random.default_rng(1), (3, 2)), pairs(np.random.default_rng(2), (2, 2))
        items = [
            {"loss": "multiple_negatives_ranking", **{k: v.tolist() for k, v in b.items()}} for b in (first, second)
        ]
        results = api_client.post("/batch", json={"items": items}).json()["results"]
        for result, inputs in zip(results, (first, second), strict=True):
            assert result["result"]["loss"] == values("multiple_negatives_ranking", reduction="mean", **inputs)


class TestCosent(LossTests):
    cases = (
        Case("cosent", scored_pairs, min_rank=2, max_rank=2),
        Case("cosent", scored_pairs, {"scale": 1.0}, min_rank=2, max_rank=2),
        Case("cosent", scored_pairs, {"scale": 45.0}, min_rank=2, max_rank=2),
    )

    def test_by_hand(self) -> None:
        # x1 = [1, 0] twice; x2 at cosines 0.9 and 0.1; scale 1. Targets [0, 1]: the lower-scored pair has the
        # higher cosine, l = log(1 + exp(0.9 - 0.1)) = 1.171101...; targets [1, 0]: log(1 + exp(-0.8)) = 0.371101...
        # (the numbers of sentence-transformers PR #3984, which drove the class with them).
        x1 = np.array([[1.0, 0.0], [1.0, 0.0]])
        x2 = np.array([[0.9, math.sqrt(0.19)], [0.1, math.sqrt(0.99)]])
        p = {"scale": 1.0}
        assert values("cosent", p, "mean", x1=x1, x2=x2, y_true=[0.0, 1.0]) == pytest.approx(1.171101, abs=1e-6)
        assert values("cosent", p, "mean", x1=x1, x2=x2, y_true=[1.0, 0.0]) == pytest.approx(0.371101, abs=1e-6)
        assert values("cosent", p, "mean", x1=x1, x2=x2, y_true=[0.0, 1.0]) == pytest.approx(
            math.log1p(math.exp(0.8)), rel=1e-15
        )
        # dl/dcos_low = sigmoid(0.8), dl/dcos_high = -sigmoid(0.8); the tangent part at x2 = [cos, sin]:
        # d cos / d x2 = x1 - cos x2, projected: for pair 0, [1, 0] - 0.9 [0.9, s] = [0.19, -0.9 s]
        g = grads("cosent", p, "mean", x1=x1, x2=x2, y_true=[0.0, 1.0])["x2"]
        s0 = 1 / (1 + math.exp(-0.8))
        np.testing.assert_allclose(g[0], s0 * np.array([0.19, -0.9 * math.sqrt(0.19)]), rtol=1e-14)

    @pytest.mark.parametrize("scale", [20.0, 1.0, 45.0])
    def test_matches_the_class(self, torch: Any, sentence_transformers: Any, scale: float) -> None:
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            inputs = scored_pairs(rng, (int(rng.integers(1, 9)), int(rng.integers(2, 6))))
            t = float_tensors(torch, inputs, ("x1", "x2"))
            expected = st_cosent(torch, t, {"scale": scale})
            expected.backward()
            result = compute(CATALOG["cosent"], inputs, {"scale": scale}, return_grad=True)
            assert result.grads is not None
            np.testing.assert_allclose(result.loss, expected.item(), rtol=RTOL, atol=ATOL)
            for name in ("x1", "x2"):
                np.testing.assert_allclose(result.grads[name], t[name].grad.numpy(), rtol=RTOL, atol=ATOL)

    def test_tiny_losses_keep_their_precision(self, torch: Any, sentence_transformers: Any) -> None:
        """Every pair ordered as its target: the loss is log(1 + tiny). ``exact`` is mpmath's (60 digits) for
        these inputs; the class's ``logsumexp([0, t])`` gives 1.2617151767017122e-10 (3e-7 off, within the
        contract's absolute 1e-12); ``m + log1p(others)`` keeps it to rounding."""
        rng = np.random.default_rng(14)
        n, d = int(rng.integers(2, 8)), int(rng.integers(2, 6))
        inputs = scored_pairs(rng, (n, d))
        exact = 1.261714801442318e-10
        assert values("cosent", reduction="mean", **inputs) == pytest.approx(exact, rel=1e-14)
        reference = st_cosent(torch, float_tensors(torch, inputs, ()), {}).item()
        assert RTOL * exact < abs(reference - exact) < ATOL

    def test_ties_and_a_batch_of_one_have_no_pair(self, torch: Any, sentence_transformers: Any) -> None:
        """Equal targets make no pair: all tied (or one pair) is log(1 + 0) = 0 with gradient 0, as the class."""
        rng = np.random.default_rng(4)
        for n in (1, 4):
            inputs = {"x1": rng.normal(size=(n, 3)), "x2": rng.normal(size=(n, 3)), "y_true": np.full(n, 0.7)}
            t = float_tensors(torch, inputs, ("x1", "x2"))
            reference = st_cosent(torch, t, {})
            reference.backward()
            assert reference.item() == 0.0 == values("cosent", reduction="mean", **inputs)
            g = grads("cosent", reduction="mean", **inputs)
            for name in ("x1", "x2"):
                assert not g[name].any()
                np.testing.assert_array_equal(np.abs(t[name].grad.numpy()), 0.0)
        # a tie among others only removes that pair: [0, 1, 1] has the pairs (0, 1) and (0, 2)
        x1, x2 = np.eye(3), np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # cos = [0, 0, 1]
        expected = math.log(1 + math.exp(20 * (0 - 0)) + math.exp(20 * (0 - 1)))
        assert values("cosent", reduction="mean", x1=x1, x2=x2, y_true=[0.0, 1.0, 1.0]) == pytest.approx(expected)

    def test_zero_rows_and_saturated_scales(self, torch: Any, sentence_transformers: Any) -> None:
        # a zero row has cosine 0: pairs at cosines 0 (target 1) and 1 (target 0): l = log(1 + e^20)
        x1 = np.array([[0.0, 0.0], [1.0, 0.0]])
        x2 = np.array([[1.0, 0.0], [2.0, 0.0]])
        assert values("cosent", reduction="mean", x1=x1, x2=x2, y_true=[1.0, 0.0]) == pytest.approx(
            20 + math.log1p(math.exp(-20)), rel=1e-15
        )
        t = float_tensors(torch, {"x1": x1, "x2": x2, "y_true": np.array([1.0, 0.0])}, ("x1", "x2"))
        st_cosent(torch, t, {}).backward()
        g = grads("cosent", reduction="mean", x1=x1, x2=x2, y_true=[1.0, 0.0])
        np.testing.assert_allclose(g["x1"], t["x1"].grad.numpy(), rtol=RTOL, atol=ATOL)
        # a huge scale: l = scale (cos_low - cos_high) = 2 scale for cosines 1 and -1; beyond the float range: 422
        x1, x2 = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 0.0], [-1.0, 0.0]])
        assert values("cosent", {"scale": 1e300}, "mean", x1=x1, x2=x2, y_true=[0.0, 1.0]) == 2e300
        with pytest.raises(InvalidInput, match="not finite") as caught:
            values("cosent", {"scale": 1e308}, "mean", x1=x1, x2=x2, y_true=[0.0, 1.0])
        assert [i.location for i in caught.value.issues] == [()]  # one value for the batch: no sample to point at

    def test_scalar_refusals_through_the_api(self, api_client: Any) -> None:
        body: T = {"x1": [[1.0, 0.0], [0.0, 1.0]], "x2": [[1.0, 1.0], [0.0, 1.0]], "y_true": [0.2, 0.9]}
        for extra, pointer in (
            ({"reduction": "sum"}, "/reduction"),
            ({"reduction": "none"}, "/reduction"),
            ({"sample_weight": [1.0, 2.0]}, "/sample_weight"),
            ({"params": {"scale": -1.0}}, "/params/scale"),
        ):
            response = post(api_client, "cosent", {**body, **extra})
            assert response.status_code == 422, response.text
            assert pointers(response) == [pointer]
        inputs = {k: np.asarray(v) for k, v in body.items()}
        assert_served_alike(api_client, "cosent", inputs, {"scale": 3.0}, "mean")
        entry = api_client.get("/losses/cosent").json()
        assert entry["scalar"] is True and entry["batch"] is True and entry["reductions"] == ["mean"]


class TestNtxent(LossTests):
    cases = (
        Case("ntxent", groups, min_rank=2, max_rank=2),
        Case("ntxent", groups, {"temperature": 0.5}, min_rank=2, max_rank=2),
        Case("ntxent", groups, {"temperature": 2.0}, min_rank=2, max_rank=2),
    )

    def test_by_hand(self) -> None:
        # e0 = e1 = [1, 0] (group 0), e2 = [0, 1] (group 1), temperature 1: the pairs (0, 1) and (1, 0) each
        # have x = 1 against the one negative x = 0: -log(e / (e + 1)) = log(1 + 1/e), averaged over the 2 pairs.
        e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        p = {"temperature": 1.0}
        assert values("ntxent", p, "mean", y_pred=e, y_true=[0, 0, 1]) == pytest.approx(math.log1p(1 / math.e))
        # every embedding in one group: no negative, each pair's softmax is itself: 0
        assert values("ntxent", p, "mean", y_pred=e, y_true=[3, 3, 3]) == 0.0
        assert not grads("ntxent", p, "mean", y_pred=e, y_true=[3, 3, 3])["y_pred"].any()

    @pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
    def test_matches_optax(self, jax: Any, optax: Any, temperature: float) -> None:
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            inputs = groups(rng, (int(rng.integers(2, 8)), int(rng.integers(2, 6))))
            params = {"temperature": temperature}
            assert_matches_reference(jax, "ntxent", optax_ntxent(optax, temperature), inputs, params, "mean")

    def test_optax_test_suite(self, api_client: Any) -> None:
        """optax's ``NtxentTest.test_batched`` (float32 expectations, atol 1e-4), through POST /losses/ntxent;
        ``ys_2`` has a zero row (its squared norm floored at eps)."""
        ys = [[-1.9540, 1.0780], [0.2380, -0.5703], [1.8745, -0.0195], [-0.6719, -1.9210]]
        ys_2 = [[0.0, 0.0], *ys[1:]]
        for embeddings, labels, expected in ((ys, [0, 0, 1, 1], 14.01032), (ys, [0, 0, 0, 1], 8.968544)):
            document = post(api_client, "ntxent", {"y_pred": embeddings, "y_true": labels}).json()
            assert document["loss"] == pytest.approx(expected, abs=1e-4)
        document = post(api_client, "ntxent", {"y_pred": ys_2, "y_true": [0, 0, 1, 1]}).json()
        assert document["loss"] == pytest.approx(9.2889, abs=1e-4)

    def test_zero_rows_follow_optax(self, jax: Any, optax: Any) -> None:
        """optax floors the squared norm at the dtype's eps: a zero row is 0 and its gradient that of its
        'unit' vector over sqrt(eps)."""
        inputs = {
            "y_pred": np.array([[0.0, 0.0], [0.3, -0.5], [1.8, 0.1], [-0.6, -1.9]]),
            "y_true": np.array([0, 0, 1, 1]),
        }
        assert_matches_reference(jax, "ntxent", optax_ntxent(optax, 0.07), inputs, {}, "mean")

    def test_no_positive_pair_is_a_422_at_y_true(self, api_client: Any) -> None:
        """The mean over no positive pair is 0/0 (optax: NaN): refused, pointing at the group ids."""
        for embeddings, labels in (([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0, 1, 2]), ([[1.0, 2.0]], [5])):
            with pytest.raises(InvalidInput, match="positive pair") as caught:
                values("ntxent", reduction="mean", y_pred=embeddings, y_true=labels)
            assert [i.location for i in caught.value.issues] == [("y_true",)]
            response = post(api_client, "ntxent", {"y_pred": embeddings, "y_true": labels})
            assert response.status_code == 422 and pointers(response) == ["/y_true"]
            assert "positive pair" in response.json()["detail"]
            assert (
                infer(api_client, "ntxent", {"y_pred": np.array(embeddings), "y_true": np.array(labels)}).status_code
                == 400
            )

    def test_tiny_temperatures_stay_finite(self) -> None:
        """Each pair is softplus(L_i - x_ij): no shared row shift to underflow. Row 0 has positives at cosines
        1 and 0.6 and a negative at 0.8; temperature 1e-4: the pair at 0.6 costs (0.8 - 0.6) / 1e-4 = 2000 (optax's
        row shift by the best positive underflows both of its terms: its loss is not finite)."""
        e = np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.8, 0.6]])
        y = [0, 0, 0, 1]
        loss = float(values("ntxent", {"temperature": 1e-4}, "mean", y_pred=e, y_true=y))
        assert math.isfinite(loss) and loss > 1000
        g = grads("ntxent", {"temperature": 1e-4}, "mean", y_pred=e, y_true=y)["y_pred"]
        assert np.isfinite(g).all()

    def test_scalar_refusals_and_v2(self, api_client: Any) -> None:
        inputs = groups(np.random.default_rng(9), (5, 3))
        assert_served_alike(api_client, "ntxent", inputs, {"temperature": 0.2}, "mean")
        body = {**inputs, "reduction": "none"}
        assert pointers(post(api_client, "ntxent", body)) == ["/reduction"]
        assert pointers(post(api_client, "ntxent", {**inputs, "sample_weight": [1.0] * 5})) == ["/sample_weight"]
        assert pointers(post(api_client, "ntxent", {**inputs, "params": {"temperature": 0.0}})) == [
            "/params/temperature"
        ]
        response = post(api_client, "ntxent", {"y_pred": inputs["y_pred"], "y_true": [0.5, 0, 1, 1, 0]})
        assert response.status_code == 422 and pointers(response) == ["/y_true/0"]


class TestCircle(LossTests):
    cases = (
        Case("circle", circle_inputs(0.4), min_rank=2, max_rank=2),
        Case("circle", circle_inputs(0.25), {"gamma": 16.0, "margin": 0.25}, min_rank=2, max_rank=2),
        Case("circle", circle_inputs(0.4), {"remove_diagonal": False, "gamma": 4.0}, min_rank=2, max_rank=2),
    )

    def test_by_hand(self) -> None:
        # gamma 1, margin 0.25; e0 = [1, 0], e1 = [0, 1] (label 0), e2 = [-1, 0] (label 1).
        # Row 0: positive e1 at d = 1: weight 0.25 + 1, logit -1.25 (0.25 - 1) = 0.9375; negative e2 at d = 2:
        # weight max(1.25 - 2, 0) = 0, logit 0: l = softplus(0.9375). Row 1: the same positive; negative e2 at
        # d = 1: weight 0.25, logit 0.25 (0.75 - 1) = -0.0625: l = softplus(0.875). Row 2 has no positive: 0.
        e = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
        p = {"gamma": 1.0, "margin": 0.25}
        expected = [math.log1p(math.exp(0.9375)), math.log1p(math.exp(0.875)), 0.0]
        np.testing.assert_allclose(values("circle", p, y_pred=e, y_true=[0, 0, 1]), expected, rtol=1e-15)
        # the mean counts every sample: (l0 + l1 + 0) / 3 (Keras's class would divide by 2)
        assert values("circle", p, "mean", y_pred=e, y_true=[0, 0, 1]) == pytest.approx(sum(expected) / 3, rel=1e-15)

    @pytest.mark.parametrize(
        "params", [{}, {"gamma": 16.0, "margin": 0.25}, {"remove_diagonal": False, "gamma": 4.0}], ids=str
    )
    def test_matches_keras(self, jax: Any, keras: Any, params: T) -> None:
        margin = params.get("margin", 0.4)
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            inputs = circle_inputs(margin)(rng, (int(rng.integers(2, 8)), int(rng.integers(2, 5))))
            weight = rng.uniform(0.2, 2.0, len(inputs["y_true"])) if seed % 2 else None
            for reduction in ("none", "sum", "mean"):
                reference = keras_circle(keras, params)
                assert_matches_reference(jax, "circle", reference, inputs, params, reduction, weight)

    def test_keras_test_suite(self, api_client: Any) -> None:
        """Keras's ``CircleTest`` (float32 expectations), through POST /losses/circle. The class averages only
        the samples whose loss is positive: its numbers are this service's weighted sum over that count (or over
        their weights, for ``mean_with_sample_weight``). Its ``ref_labels``/``ref_embeddings`` case needs a
        reference other than the batch, which this API does not take."""
        y_true = [1, 1, 2, 2, 3]
        y_pred = [
            [0.70014004, -0.42008403, 0.14002801, 0.56011203],
            [0.17609018, 0.70436073, -0.52827054, 0.44022545],
            [-0.34050261, 0.25537696, -0.68100522, 0.59587957],
            [0.32163376, -0.75047877, 0.53605627, -0.21442251],
            [0.51261459, -0.34174306, 0.17087153, 0.76892189],
        ]
        ref_labels = [1, 1, 2, 2, 3, 4]
        ref_embeddings = [
            [0.40824829, -0.54433105, 0.27216553, 0.68041382],
            [0.76376261, 0.10910895, -0.54554473, 0.32732684],
            [-0.74420841, 0.24806947, 0.49613894, -0.3721042],
            [0.52981294, -0.13245324, 0.79471941, -0.26490647],
            [0.54554473, -0.32732684, 0.10910895, 0.76376261],
            [-0.27216553, 0.68041382, 0.40824829, -0.54433105],
        ]

        def loss(body: T) -> Any:
            response = post(api_client, "circle", body)
            assert response.status_code == 200, response.text
            return np.asarray(response.json()["loss"])

        for params, expected in (
            ({"gamma": 80.0, "margin": 0.4}, 188.3883),
            ({"gamma": 256.0, "margin": 0.25}, 652.7617),
        ):
            v = loss({"y_true": y_true, "y_pred": y_pred, "params": params, "reduction": "none"})
            assert v.sum() / np.count_nonzero(v > 0) == pytest.approx(expected, rel=1e-6)  # test_correctness
        weight = np.array([2.0, 2.0, 1.0, 1.0, 0.5])
        v = loss({"y_true": y_true, "y_pred": y_pred, "reduction": "none"})
        weighted = loss({"y_true": y_true, "y_pred": y_pred, "sample_weight": weight.tolist(), "reduction": "sum"})
        assert weighted / np.count_nonzero(v > 0) == pytest.approx(244.91918, rel=1e-6)  # test_correctness_weighted
        assert weighted / weight[v > 0].sum() == pytest.approx(163.27948, rel=1e-6)  # mean_with_sample_weight
        v = loss({"y_true": ref_labels, "y_pred": ref_embeddings, "reduction": "none"})  # test_no_reduction
        np.testing.assert_allclose(v, [82.9116, 36.7942, 92.4590, 52.6798, 0.0, 0.0], rtol=1e-6, atol=1e-12)
        total = loss({"y_true": ref_labels, "y_pred": ref_embeddings, "reduction": "sum"})  # test_sum_reduction
        assert total == pytest.approx(264.845, rel=1e-5)

    def test_samples_without_positives_or_negatives(self, jax: Any, keras: Any) -> None:
        """A label of its own, one label for all, or a batch of one: loss 0 and no gradient through that
        sample's own term (it still weighs as another's reference). As Keras, whose gradient is finite there."""
        e = np.array([[0.6, 0.8], [0.8, -0.6], [-0.6, 0.8]])
        for labels in ([0, 0, 1], [2, 2, 2]):
            inputs = {"y_pred": e, "y_true": np.array(labels)}
            assert_matches_reference(jax, "circle", keras_circle(keras, {}), inputs, {}, "none")
        one = {"y_pred": np.array([[0.3, 0.4]]), "y_true": np.array([7])}
        for params in ({}, {"remove_diagonal": False}):
            assert values("circle", params, **one).tolist() == [0.0]
            assert not grads("circle", params, **one)["y_pred"].any()

    def test_gradient_at_the_clamps_is_clamp_min(self, torch: Any) -> None:
        """At ``e_i . e_j = 1`` (identical unit rows) the distance's clamp passes the gradient (PyTorch's
        ``clamp_min``); JAX's ``maximum`` would pass half. Checked against torch autograd of the same expression."""
        e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        y = np.array([0, 0, 1])
        x = torch.tensor(e, requires_grad=True)
        d = torch.clamp_min(1 - x @ x.T, 0)
        same = torch.tensor(y[:, None] == y[None, :])
        pos = same & ~torch.eye(3, dtype=torch.bool)
        ap, an = torch.clamp_min(0.4 + d, 0), torch.clamp_min(1.4 - d, 0)
        p = torch.logsumexp(torch.where(pos, -80 * ap * (0.4 - d), -torch.inf), dim=1)
        n = torch.logsumexp(torch.where(~same, 80 * an * (0.6 - d), -torch.inf), dim=1)
        torch.nn.functional.softplus(p + n).sum().backward()
        np.testing.assert_allclose(
            grads("circle", y_pred=e, y_true=y)["y_pred"], x.grad.numpy(), rtol=1e-13, atol=1e-20
        )

    def test_embeddings_are_used_as_given_and_overflow_is_a_422(self) -> None:
        e = np.array([[0.6, 0.8], [0.3, 0.4], [-0.6, 0.8]])
        assert not np.allclose(
            values("circle", y_pred=e, y_true=[0, 0, 1]), values("circle", y_pred=2 * e, y_true=[0, 0, 1])
        )
        # opposite rows 1e160 long are at distance 1 + 1e320: their positive term overflows
        with pytest.raises(InvalidInput, match="not finite"):
            values("circle", y_pred=np.array([[1e160, 0.0], [-1e160, 0.0], [1e160, 1.0]]), y_true=[0, 0, 1])
        # with no negative the positive term does not count: loss 0 even where it overflows
        assert values("circle", y_pred=np.array([[1e160, 0.0], [-1e160, 0.0]]), y_true=[0, 0]).tolist() == [0.0, 0.0]

    def test_a_saturated_zero_loss_has_a_zero_gradient(self) -> None:
        """gamma = -1e308 turns every weighted distance around: s = p + q is about -1e308, sigmoid(s) = 0, l = 0.
        The true gradient sigmoid(s) ds/de is below every subnormal; the slopes ds/dd are near 1e308 and overflow
        (this was 0 * inf, NaN, a 422 for a finite gradient)."""
        e = circle_inputs(0.4)(np.random.default_rng(0), (4, 3))
        result = grads("circle", {"gamma": -1e308}, y_pred=e["y_pred"], y_true=e["y_true"])
        np.testing.assert_array_equal(values("circle", {"gamma": -1e308}, **e), 0.0)
        np.testing.assert_array_equal(result["y_pred"], 0.0)

    def test_api_and_v2(self, api_client: Any) -> None:
        inputs = circle_inputs(0.4)(np.random.default_rng(6), (5, 3))
        for reduction in ("mean", "sum", "none"):
            assert_served_alike(api_client, "circle", inputs, {"gamma": 32.0}, reduction)
        response = post(api_client, "circle", {**inputs, "y_true": [0, 1, 2]})
        assert response.status_code == 422 and pointers(response) == ["/y_true"]


def test_the_losses_are_batch_coupled() -> None:
    for name in ("multiple_negatives_ranking", "cosent", "ntxent", "circle"):
        assert CATALOG[name].batch
    assert CATALOG["cosent"].scalar and CATALOG["ntxent"].scalar
    assert not CATALOG["multiple_negatives_ranking"].scalar and not CATALOG["circle"].scalar


def test_a_sample_changes_the_others_losses() -> None:
    """What makes them batch losses: moving one sample changes the other samples' values."""
    rng = np.random.default_rng(12)
    inputs = triplets(rng, (4, 3))
    moved = {**inputs, "positive": inputs["positive"].copy()}
    moved["positive"][3] += 1.0
    before, after = (values("multiple_negatives_ranking", **x) for x in (inputs, moved))
    assert (before[:3] != after[:3]).all()
    seed = zlib.crc32(b"circle")
    c = circle_inputs(0.4)(np.random.default_rng(seed), (5, 3))
    shifted = {**c, "y_pred": c["y_pred"].copy()}
    shifted["y_pred"][4] *= 1.1
    changed = values("circle", **shifted)[:4] != values("circle", **c)[:4]
    assert changed.any()


# A real Open Inference Protocol client against the real server (tests/support/http.py).


@pytest.fixture(scope="module")
def triton_server() -> Any:
    """``(tritonclient.http module, client, httpx client)`` on a server started for this module."""
    try:
        import tritonclient.http as triton_http
    except ImportError as error:  # pragma: no cover - depends on the environment
        skip_unless_available("tritonclient", f"tritonclient[http] cannot be imported ({error})")
    with running_server() as url:
        client = triton_http.InferenceServerClient(url.removeprefix("http://"), network_timeout=30)
        with httpx.Client(base_url=url, timeout=30) as http:
            yield triton_http, client, http
        client.close()


def triton_matches_json(triton_server: Any, loss: str, inputs: Inputs, params: T, binary: bool) -> None:
    """tritonclient's answer (every output, binary or JSON) is bit for bit ``POST /losses/{loss}``'s."""
    triton_http, client, http = triton_server
    tensors = []
    for name, value in inputs.items():
        array = np.ascontiguousarray(value, dtype=np.int64 if value.dtype.kind in "iu" else np.float64)
        tensor = triton_http.InferInput(name, list(array.shape), "INT64" if array.dtype.kind == "i" else "FP64")
        tensor.set_data_from_numpy(array, binary_data=binary)
        tensors.append(tensor)
    result = client.infer(loss, tensors, parameters={**params, "return_grad": True})
    body = {**{k: v.tolist() for k, v in inputs.items()}, "params": params, "return_grad": True}
    document = http.post(f"/losses/{loss}", json=body).json()
    want = {"loss": np.asarray(document["loss"]), **{f"grad_{k}": np.asarray(v) for k, v in document["grad"].items()}}
    assert {o["name"] for o in result.get_response()["outputs"]} == set(want)
    for name, expected in want.items():
        got = result.as_numpy(name)
        assert got.dtype == np.float64 and got.reshape(expected.shape).tobytes() == expected.tobytes(), name


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient(triton_server: Any, binary: bool) -> None:
    rng = np.random.default_rng(31)
    mnrl = triplets(rng, (4, 3))
    triton_matches_json(triton_server, "multiple_negatives_ranking", mnrl, {"scale": 10.0}, binary)
    pair_only = {"anchor": mnrl["anchor"], "positive": mnrl["positive"]}
    triton_matches_json(triton_server, "multiple_negatives_ranking", pair_only, {}, binary)
    triton_matches_json(triton_server, "cosent", scored_pairs(rng, (5, 3)), {"scale": 5.0}, binary)
    triton_matches_json(triton_server, "ntxent", groups(rng, (6, 4)), {"temperature": 0.3}, binary)
    triton_matches_json(triton_server, "circle", circle_inputs(0.4)(rng, (5, 3)), {"margin": 0.4}, binary)


def test_tritonclient_metadata_and_errors(triton_server: Any) -> None:
    triton_http, client, _ = triton_server
    metadata = client.get_model_metadata("ntxent")
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("y_pred", "FP64", [-1, -1]),
        ("y_true", "INT64", [-1]),
    ]
    y = np.array([0, 1, 2], dtype=np.int64)
    e = np.ones((3, 2))
    inputs = [triton_http.InferInput("y_pred", [3, 2], "FP64"), triton_http.InferInput("y_true", [3], "INT64")]
    inputs[0].set_data_from_numpy(e)
    inputs[1].set_data_from_numpy(y)
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as caught:
        client.infer("ntxent", inputs)
    assert caught.value.status() == "400" and "positive pair" in caught.value.message()
