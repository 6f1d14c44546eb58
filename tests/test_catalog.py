"""The served catalog is exactly API.md §5: nothing missing, nothing extra, entries complete."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engine import CATALOG

# API.md §5, copied so that the test runs without ../shared; checked against the file when it is there.
CONTRACT_NAMES = frozenset(
    (
        "mse",
        "mae",
        "huber",
        "smooth_l1",
        "log_cosh",
        "msle",
        "mape",
        "poisson_nll",
        "gaussian_nll",
        "quantile",
        "binary_crossentropy",
        "binary_focal",
        "hinge",
        "squared_hinge",
        "perceptron",
        "soft_margin",
        "multilabel_soft_margin",
        "multilabel_margin",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "nll",
        "categorical_focal",
        "categorical_hinge",
        "multi_margin",
        "poly1_crossentropy",
        "generalized_crossentropy",
        "kl_divergence",
        "cosine_similarity",
        "cosine_embedding",
        "margin_ranking",
        "hinge_embedding",
        "triplet_margin",
        "dice",
        "tversky",
        "ctc",
    )
)
# API.md §8: the losses joining the catalog; once served they are part of §5 in every respect.
JOINING_NAMES = frozenset(
    (
        "sparse_categorical_focal",
        "multiclass_hinge",
        "multiclass_perceptron",
        "multiclass_sparsemax",
        "binary_sparsemax",
        "linear_crossentropy",
        "multiclass_dice",
        "binary_dice",
        "generalized_dice",
        "generalized_kl_divergence",
        "cosine_similarity_mse",
        "cosine_distance",
        "triplet_margin_with_distance",
        "contrastive",
        "multiple_negatives_ranking",
        "cosent",
        "ntxent",
        "circle",
        "ranking_softmax",
        "l2",
        "charbonnier",
        "cauchy",
        "geman_mcclure",
        "welsch",
    )
)
API_MD = Path(__file__).resolve().parents[2] / "shared" / "API.md"


def test_the_contract_lists_35_losses_and_24_joining_ones() -> None:
    assert len(CONTRACT_NAMES) == 35 and len(JOINING_NAMES) == 24 and not JOINING_NAMES & CONTRACT_NAMES
    if not API_MD.exists():
        pytest.skip(f"{API_MD} is not beside the repository")
    text = API_MD.read_text(encoding="utf-8")
    section_5 = text.split("## 5.")[1].split("## 6.")[0]
    section_8 = text.split("## 8.")[1]
    assert set(re.findall(r"^\| `([a-z0-9_]+)`", section_5, flags=re.MULTILINE)) == CONTRACT_NAMES
    assert set(re.findall(r"^\| `([a-z0-9_]+)`", section_8, flags=re.MULTILINE)) == JOINING_NAMES


def test_the_served_catalog_is_exactly_sections_5_and_8() -> None:
    """Once served, section 8's losses are part of section 5: GET /losses lists the 59, nothing else."""
    with TestClient(create_app()) as client:
        served = client.get("/losses").json()["losses"]
    names = [entry["name"] for entry in served]
    assert len(names) == len(set(names)) == 59
    assert set(names) == CONTRACT_NAMES | JOINING_NAMES, {
        "missing": sorted((CONTRACT_NAMES | JOINING_NAMES) - set(names)),
        "extra": sorted(set(names) - CONTRACT_NAMES - JOINING_NAMES),
    }


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_each_entry_is_complete(name: str) -> None:
    spec = CATALOG[name]
    assert spec.summary and spec.reference and spec.family
    assert spec.formula.startswith(r"\ell = "), "the formula is LaTeX for one unreduced value"
    assert spec.differentiable, "every loss has a gradient"
    doc = inspect.getdoc(spec.fn) or ""
    assert "Shapes" in doc or "shape" in doc, f"{name}'s docstring gives the shapes"
    assert "radient" in doc or "dl/d" in doc, f"{name}'s docstring gives the gradient"
    assert set(spec.defaults) == {p.name for p in spec.params}
    with TestClient(create_app()) as client:
        entry = client.get(f"/losses/{name}").json()
    assert [i["name"] for i in entry["inputs"]] == [i.name for i in spec.inputs]
    assert {p["name"]: p["default"] for p in entry["params"]} == dict(spec.defaults)
    assert entry["none_shape"] and entry["reductions"]
