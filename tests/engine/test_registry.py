"""``service/engine/registry.py``: the catalog is exactly API.md §5, every entry is complete, and every
loss has its test class here (with cases, and with parity cases where PyTorch is the reference).

The last two read ``tests/engine/test_*.py`` as source (``ast``): a test module imports no other.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.engine import CATALOG

HERE = Path(__file__).resolve().parent
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
API_MD = HERE.parents[2] / "shared" / "API.md"


def test_the_contract_lists_35_losses_and_24_joining_ones() -> None:
    assert len(CONTRACT_NAMES) == 35 and len(JOINING_NAMES) == 24 and not JOINING_NAMES & CONTRACT_NAMES
    if not API_MD.exists():
        pytest.skip(f"{API_MD} is not beside the repository")
    text = API_MD.read_text(encoding="utf-8")
    section_5 = text.split("## 5.")[1].split("## 6.")[0]
    section_8 = text.split("## 8.")[1]
    assert set(re.findall(r"^\| `([a-z0-9_]+)`", section_5, flags=re.MULTILINE)) == CONTRACT_NAMES
    assert set(re.findall(r"^\| `([a-z0-9_]+)`", section_8, flags=re.MULTILINE)) == JOINING_NAMES


def test_the_catalog_is_exactly_sections_5_and_8() -> None:
    """Once served, section 8's losses are part of section 5: the catalog has the 59, nothing else."""
    names = list(CATALOG)
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
    assert spec.shape_rule.description and spec.reductions and spec.default_reduction in spec.reductions


@dataclass(frozen=True)
class ClassSource:
    """What a test class in ``tests/engine`` declares, read from its source."""

    where: str  # "test_binary.py::TestHinge"
    bases: frozenset[str]
    losses: tuple[str, ...]  # the loss of each case in its ``cases``
    torch_cases: int  # how many of them have a ``torch_reference``


def _calls_of(node: ast.AST, names: set[str] | dict[str, object]) -> list[ast.Call]:
    return [
        n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
    ]


def _declared_cases(
    where: str, value: ast.AST, factories: dict[str, list[ast.Call]], constants: dict[str, ast.AST]
) -> list[tuple[str, bool]]:
    """(loss, has a torch reference) of each case in a ``cases = ...``, in the forms the modules use: a
    ``Case(...)``; a call of a function of the module that returns one (``_triplet_case(p=1.0)``), read from
    that function's ``Case(...)``; a module-level name bound to either or to a tuple of them
    (``cases = LINEAR_CASES``, ``cases = CCE_CASES + CCE_PROBABILITY_CASES``), read from its assignment."""
    declared = []
    seen: set[str] = set()
    pending = [value]
    while pending:
        node = pending.pop(0)
        for name in sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in constants} - seen):
            seen.add(name)
            pending.append(constants[name])
        for call in _calls_of(node, {"Case", *factories}):
            assert isinstance(call.func, ast.Name)
            for case in [call] if call.func.id == "Case" else factories[call.func.id]:
                first = case.args[0] if case.args else None
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{where}: a Case's loss is a string literal (line {case.lineno})"
                )
                torch = any(k.arg == "torch_reference" and not isinstance(k.value, ast.Constant) for k in case.keywords)
                declared.append((first.value, torch))
    return declared


def _classes() -> list[ClassSource]:
    found = []
    for path in sorted(HERE.glob("test_*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        factories = {
            node.name: _calls_of(node, {"Case"})
            for node in module.body
            if isinstance(node, ast.FunctionDef) and _calls_of(node, {"Case"})
        }
        constants = {
            target.id: node.value
            for node in module.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in module.body:
            if not isinstance(node, ast.ClassDef):
                continue
            where = f"{path.name}::{node.name}"
            declared = [
                case
                for statement in node.body
                if isinstance(statement, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "cases" for t in statement.targets)
                for case in _declared_cases(where, statement.value, factories, constants)
            ]
            bases = frozenset(b.id for b in node.bases if isinstance(b, ast.Name))
            losses = tuple(loss for loss, _ in declared)
            found.append(ClassSource(where, bases, losses, sum(torch for _, torch in declared)))
    return found


CLASSES = _classes()


def test_each_loss_class_tests_one_loss_with_the_kit() -> None:
    for source in CLASSES:
        if source.losses:
            assert "LossTests" in source.bases, f"{source.where} has cases but does not inherit LossTests"
            assert len(set(source.losses)) == 1, f"{source.where} mixes losses: {sorted(set(source.losses))}"
    owners: dict[str, list[str]] = {}
    for source in CLASSES:
        for loss in set(source.losses):
            owners.setdefault(loss, []).append(source.where)
    assert {loss: where for loss, where in owners.items() if len(where) > 1} == {}, "one test class per loss"
    assert set(owners) <= set(CATALOG), f"cases of losses not in the catalog: {sorted(set(owners) - set(CATALOG))}"


def test_every_catalog_loss_has_a_test_class_with_cases() -> None:
    tested = {loss for source in CLASSES for loss in source.losses}
    assert sorted(set(CATALOG) - tested) == []


def test_every_torch_referenced_loss_has_parity_cases() -> None:
    torch_referenced = {name for name, spec in CATALOG.items() if "torch" in spec.reference}
    with_parity = {
        source.losses[0]
        for source in CLASSES
        if source.losses and "TorchParity" in source.bases and source.torch_cases > 0
    }
    assert sorted(torch_referenced - with_parity) == []
