"""The reference documents in the repository: generated ones are fresh, and every link points inside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.api.reference import render

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]


def test_the_loss_reference_is_fresh() -> None:
    committed = (ROOT / "docs" / "losses.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/losses.md is stale: run `python -m service.api.reference`"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_to_files_in_the_repository(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to {target}, which does not exist"


def test_every_loss_is_in_the_reference() -> None:
    from service.engine import CATALOG

    reference = (ROOT / "docs" / "losses.md").read_text(encoding="utf-8")
    for name in CATALOG:
        assert f"### `{name}`" in reference
