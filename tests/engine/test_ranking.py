"""The ranking losses (``service/engine/losses/ranking.py``).

Reference, run live: optax 0.2.8 ``optax.losses.ranking_softmax_loss`` (JAX 0.10.2, float64),
values with ``reduce_fn=None`` and ``where`` = the mask, gradients by ``jax.grad``; this service's
``mean`` is their sum over N. optax's own ``_ranking_test.py`` cases and module doctests are
ported through ``POST /losses/ranking_softmax``.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import numpy as np
import pytest

from service.engine import InvalidInput
from tests.support.calls import infer, outputs, pointers, post
from tests.support.engine import Case, Inputs, LossTests, grad, grads, values
from tests.support.http import running_server
from tests.support.jax_reference import assert_matches_reference
from tests.support.require import skip_unless_available

exp, log = math.exp, math.log
SEEDS = range(20)


def lists(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Graded lists: integer grades 0..3 or continuous ones, scores of either sign."""
    n, length = shape[0], shape[-1]
    grades = rng.integers(0, 4, (n, length)).astype(float) if rng.uniform() < 0.5 else rng.uniform(0, 2, (n, length))
    return {"y_true": grades, "y_pred": rng.normal(0, 2, (n, length))}


def masked_lists(rng: np.random.Generator, shape: tuple[int, ...]) -> Inputs:
    """Graded lists with a 0/1 mask: some items padding, one list (of two or more) all padding; padded
    items carry the grade -1, as ranking pipelines pad them."""
    inputs = lists(rng, shape)
    mask = rng.integers(0, 2, inputs["y_pred"].shape)
    mask[:, 0] = 1
    if len(mask) > 1:
        mask[-1] = 0
    inputs["y_true"] = np.where(mask == 1, inputs["y_true"], -1.0)
    return {**inputs, "mask": mask}


def optax_ranking(optax: Any) -> Any:
    def reference(y_true: Any, y_pred: Any, mask: Any = None) -> Any:
        where = None if mask is None else mask == 1
        return optax.losses.ranking_softmax_loss(y_pred, y_true, where=where, reduce_fn=None)

    return reference


class TestRankingSoftmax(LossTests):
    cases = (
        Case("ranking_softmax", lists, min_rank=2, max_rank=2),
        Case("ranking_softmax", masked_lists, min_rank=2, max_rank=2),
    )

    def test_by_hand(self) -> None:
        # optax's module doctest: scores [2, 1, 3], grades [1, 0, 0]: -log softmax_0 = log(e^2 + e + e^3) - 2
        # (1.408); gradient Y softmax - y = softmax - [1, 0, 0] = [-0.755, 0.09, 0.665].
        s, y = [[2.0, 1.0, 3.0]], [[1.0, 0.0, 0.0]]
        z = exp(2) + exp(1) + exp(3)
        assert values("ranking_softmax", y_true=y, y_pred=s)[0] == pytest.approx(log(z) - 2, rel=1e-15)
        np.testing.assert_allclose(
            grad("ranking_softmax", y_true=y, y_pred=s), [[exp(2) / z - 1, exp(1) / z, exp(3) / z]], rtol=1e-14
        )
        assert [round(float(x), 3) for x in grad("ranking_softmax", y_true=y, y_pred=s)[0]] == [-0.755, 0.09, 0.665]
        # with a mask, the masked item leaves the softmax: [2, 1] with [1, 0]: log(e^2 + e) - 2 = log(1 + 1/e)
        masked = values("ranking_softmax", y_true=y, y_pred=s, mask=[[1, 1, 0]])
        assert masked[0] == pytest.approx(log(1 + exp(-1)), rel=1e-15)
        assert grad("ranking_softmax", y_true=y, y_pred=s, mask=[[1, 1, 0]])[0, 2] == 0.0

    def test_doctest_with_a_mask(self) -> None:
        """optax's second doctest: two lists, the first with a padded item: mean 0.497."""
        body = {"y_true": [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], "y_pred": [[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]]}
        mean = values("ranking_softmax", reduction="mean", mask=[[1, 1, 0], [1, 1, 1]], **body)
        assert f"{float(mean):.3f}" == "0.497"

    @pytest.mark.parametrize("masked", [False, True])
    def test_matches_optax(self, jax: Any, optax: Any, masked: bool) -> None:
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            shape = (int(rng.integers(1, 6)), int(rng.integers(1, 7)))
            inputs = (masked_lists if masked else lists)(rng, shape)
            weight = rng.uniform(0.2, 2.0, shape[0]) if seed % 2 else None
            for reduction in ("none", "sum", "mean"):
                assert_matches_reference(jax, "ranking_softmax", optax_ranking(optax), inputs, {}, reduction, weight)

    def test_optax_test_suite(self, api_client: Any) -> None:
        """optax's ``RankingLossesTest`` for ``ranking_softmax_loss`` (rtol 1e-3 there; exact formulas here)."""

        def loss(body: dict[str, Any], reduction: str = "sum") -> Any:
            response = post(api_client, "ranking_softmax", {**body, "reduction": reduction})
            assert response.status_code == 200, response.text
            return np.asarray(response.json()["loss"])

        z = exp(0.0) + exp(3.0) + exp(1.0) + exp(2.0)
        # test_computes_loss_value
        expected = -(log(exp(2.0) / z) + log(exp(1.0) / z))
        assert loss({"y_true": [[0.0, 0.0, 1.0, 1.0]], "y_pred": [[0.0, 3.0, 1.0, 2.0]]}) == pytest.approx(expected)
        # test_computes_loss_with_extreme_inputs
        big = loss({"y_true": [[0.0, 1.0, 1.0, 0.0]], "y_pred": [[0.0, -2.1e26, 3.4e37, 42.0]]})
        assert big == pytest.approx(
            -((-2.1e26 - (0.0 + -2.1e26 + 3.4e37 + 42.0)) + (3.4e37 - (0.0 + -2.1e26 + 3.4e37 + 42.0)))
        )
        # test_computes_loss_for_zero_labels
        assert loss({"y_true": [[0.0] * 4], "y_pred": [[0.0, 3.0, 1.0, 2.0]]}) == 0.0
        # test_computes_weighted_loss_value: optax's `weights` multiply the labels, so they are the grades here
        expected = -(2.0 * log(exp(2.0) / z) + log(exp(1.0) / z))
        assert loss({"y_true": [[0.0, 0.0, 2.0, 1.0]], "y_pred": [[0.0, 3.0, 2.0, 1.0]]}) == pytest.approx(expected)
        # test_computes_loss_value_with_vmap: two lists, unreduced
        z2 = exp(3.0) + exp(1.0) + exp(4.0) + exp(2.0)
        body = {
            "y_true": [[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 1.0, 0.0]],
            "y_pred": [[0.0, 3.0, 1.0, 2.0], [3.0, 1.0, 4.0, 2.0]],
        }
        np.testing.assert_allclose(
            loss(body, "none"),
            [-(log(exp(2.0) / z) + log(exp(1.0) / z)), -(2.0 * log(exp(3.0) / z2) + log(exp(4.0) / z2))],
            rtol=1e-14,
        )
        # test_computes_reduced_loss and test_computes_unreduced_loss
        body = {"y_true": [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], "y_pred": [[2.0, 1.0, 3.0], [1.0, 0.5, 1.5]]}
        each = [-log(exp(2.0) / (exp(2.0) + exp(1.0) + exp(3.0))), -log(exp(1.5) / (exp(1.0) + exp(0.5) + exp(1.5)))]
        assert loss(body, "mean") == pytest.approx(sum(each) / 2, rel=1e-14)
        assert loss(body, "sum") == pytest.approx(sum(each), rel=1e-14)
        assert loss(body, "none").shape == (2,) and loss(body, "none").sum() == pytest.approx(loss(body, "sum"))
        # test_computes_loss_value_with_where: the masked item is as good as absent
        with_where = loss({"y_true": [[0.0, 0.0, 2.0, 1.0]], "y_pred": [[0.0, 3.0, 1.0, 2.0]], "mask": [[1, 1, 1, 0]]})
        assert with_where == pytest.approx(loss({"y_true": [[0.0, 0.0, 2.0]], "y_pred": [[0.0, 3.0, 1.0]]}), rel=1e-15)
        # test_computes_loss_value_with_all_masked
        assert loss({"y_true": [[0.0, 0.0, 1.0, 1.0]], "y_pred": [[0.0, 3.0, 1.0, 2.0]], "mask": [[0] * 4]}) == 0.0
        # test_computes_loss_with_arbitrary_batch_dimensions: (N, L) here; the same list in a batch of one
        single = loss({"y_true": [[0.0, 0.0, 1.0]], "y_pred": [[2.0, 3.0, 1.0]], "mask": [[0, 1, 1]]})
        assert single == pytest.approx(log(exp(3.0) + exp(1.0)) - 1.0, rel=1e-15)
        # test_ignores_lists_containing_only_invalid_items: optax's mean skips the all-masked list (its answer is
        # list 0's loss); this service's mean divides by N = 2 (API.md section 8)
        body = {
            "y_true": [[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 1.0, 0.0]],
            "y_pred": [[0.0, 3.0, 1.0, 2.0], [3.0, 1.0, 4.0, 2.0]],
        }
        first = -(log(exp(2.0) / z) + log(exp(1.0) / z))
        assert loss({**body, "mask": [[1, 1, 1, 1], [0, 0, 0, 0]]}, "mean") == pytest.approx(first / 2, rel=1e-14)

    def test_gradients_are_free_of_nan_for_zero_grades_and_all_masked_lists(self) -> None:
        """optax's ``test_grad_does_not_return_nan_*``: here the gradient is exactly 0 there."""
        s = [[0.0, 3.0, 1.0, 2.0]]
        g = grad("ranking_softmax", reduction="mean", y_true=[[0.0] * 4], y_pred=s)
        np.testing.assert_array_equal(g, [[0.0] * 4])
        g = grad("ranking_softmax", reduction="mean", y_true=[[0.0, 0.0, 1.0, 1.0]], y_pred=s, mask=[[0] * 4])
        np.testing.assert_array_equal(g, [[0.0] * 4])

    def test_saturated_and_extreme_scores(self) -> None:
        """Scores far apart: the softmax saturates without overflow, a nearly certain list keeps its tiny loss
        (log1p, where log(1 + r) would keep 3 digits at r = 1e-13), a gap beyond the float range is a 422."""
        y = [[1.0, 0.0]]
        assert values("ranking_softmax", y_true=y, y_pred=[[0.0, -1000.0]]).tolist() == [0.0]  # exp(-1000) = 0
        assert values("ranking_softmax", y_true=y, y_pred=[[0.0, 1000.0]]).tolist() == [1000.0]
        np.testing.assert_array_equal(grad("ranking_softmax", y_true=y, y_pred=[[0.0, 1000.0]]), [[-1.0, 1.0]])
        tiny = values("ranking_softmax", y_true=y, y_pred=[[0.0, -30.0]])[0]
        assert tiny == pytest.approx(math.log1p(exp(-30)), rel=1e-15)
        assert values("ranking_softmax", y_true=y, y_pred=[[-1e307, 1e307]]).tolist() == [2e307]
        with pytest.raises(InvalidInput, match="not finite"):
            values("ranking_softmax", y_true=y, y_pred=[[-1e308, 1e308]])

    def test_domain_is_checked(self) -> None:
        with pytest.raises(InvalidInput, match="grade >= 0") as caught:
            values("ranking_softmax", y_true=[[1.0, -0.5]], y_pred=[[0.0, 1.0]])
        assert [i.location for i in caught.value.issues] == [("y_true", 0, 1)]
        # a masked item's grade is not looked at
        assert values("ranking_softmax", y_true=[[1.0, -1.0]], y_pred=[[0.0, 1.0]], mask=[[1, 0]]).tolist() == [0.0]
        with pytest.raises(InvalidInput, match="0 or 1") as caught:
            values("ranking_softmax", y_true=[[1.0, 0.0]], y_pred=[[0.0, 1.0]], mask=[[1, 2]])
        assert [i.location for i in caught.value.issues] == [("mask", 0, 1)]
        for bad in ({"y_true": [[1.0, 0.0, 0.0]]}, {"mask": [[1, 1], [1, 1]]}, {"y_pred": [0.0, 1.0]}):
            with pytest.raises(InvalidInput):
                values("ranking_softmax", **{"y_true": [[1.0, 0.0]], "y_pred": [[0.0, 1.0]], **bad})

    def test_api_and_v2_with_and_without_the_optional_mask(self, api_client: Any) -> None:
        inputs = masked_lists(np.random.default_rng(4), (3, 5))
        without = {"y_true": np.abs(inputs["y_true"]), "y_pred": inputs["y_pred"]}
        for body in (inputs, without):
            for reduction in ("mean", "sum", "none"):
                expected = grads("ranking_softmax", reduction=reduction, **body)["y_pred"]
                want = values("ranking_softmax", reduction=reduction, **body)
                document = post(
                    api_client, "ranking_softmax", {**body, "reduction": reduction, "return_grad": True}
                ).json()
                np.testing.assert_array_equal(document["loss"], want)
                np.testing.assert_array_equal(document["grad"]["y_pred"], expected)
                answer = outputs(infer(api_client, "ranking_softmax", body, reduction=reduction, return_grad=True))
                np.testing.assert_array_equal(answer["loss"].reshape(np.shape(want)), want)
                np.testing.assert_array_equal(answer["grad_y_pred"], expected)
        # the mask may be null, is refused with a pointer when not 0/1, and is INT64 in the model's metadata
        response = post(api_client, "ranking_softmax", {**without, "mask": None})
        assert response.status_code == 200
        response = post(api_client, "ranking_softmax", {**without, "mask": np.full((3, 5), 3)})
        assert response.status_code == 422 and pointers(response)[0] == "/mask/0/0"
        metadata = api_client.get("/v2/models/ranking_softmax").json()
        assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [
            ("y_true", "FP64"),
            ("y_pred", "FP64"),
            ("mask", "INT64"),
        ]
        schema = api_client.get("/openapi.json").json()["components"]["schemas"]["RankingSoftmaxRequest"]
        assert set(schema["required"]) == {"y_true", "y_pred"}
        entry = api_client.get("/losses/ranking_softmax").json()
        assert entry["batch"] is False and entry["none_shape"] == "per-list: (N,)"


def test_tritonclient_with_and_without_the_mask() -> None:
    """A real Open Inference Protocol client against the real server: the mask as INT32 (or left out), every
    output bit for bit what ``POST /losses/ranking_softmax`` answers."""
    try:
        import tritonclient.http as triton_http
    except ImportError as error:  # pragma: no cover - depends on the environment
        skip_unless_available("tritonclient", f"tritonclient[http] cannot be imported ({error})")
    inputs = masked_lists(np.random.default_rng(17), (4, 5))
    with running_server() as url, httpx.Client(base_url=url, timeout=30) as http:
        client = triton_http.InferenceServerClient(url.removeprefix("http://"), network_timeout=30)
        try:
            for names in (("y_true", "y_pred", "mask"), ("y_pred", "y_true")):
                tensors = []
                for name in names:
                    array = inputs[name].astype(np.int32 if name == "mask" else np.float64)
                    if name == "y_true" and "mask" not in names:
                        array = np.abs(array)
                    tensor = triton_http.InferInput(name, list(array.shape), "INT32" if name == "mask" else "FP64")
                    tensor.set_data_from_numpy(array, binary_data=name != "y_true")
                    tensors.append((name, array, tensor))
                result = client.infer(
                    "ranking_softmax", [t for _, _, t in tensors], parameters={"reduction": "none", "return_grad": True}
                )
                body = {name: array.tolist() for name, array, _ in tensors}
                document = http.post("/losses/ranking_softmax", json={**body, "reduction": "none", "return_grad": True})
                expected = document.json()
                assert result.as_numpy("loss").tobytes() == np.asarray(expected["loss"]).tobytes()
                assert result.as_numpy("grad_y_pred").tobytes() == np.asarray(expected["grad"]["y_pred"]).tobytes()
        finally:
            client.close()
