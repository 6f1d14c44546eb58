"""The one exception the engine raises for inputs it cannot compute on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """One thing wrong with the inputs: where (``("y_pred", 3, 1)``) and what."""

    location: Location
    detail: str


class InvalidInput(ValueError):
    """Inputs outside the loss's contract: shapes, domains, or a non-finite result.

    ``issues`` locate each problem in the caller's inputs so that a front end can
    point at it (the HTTP layer turns locations into JSON pointers).
    """

    def __init__(self, detail: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.issues = tuple(issues)
