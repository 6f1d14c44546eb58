"""The exceptions the engine raises for inputs it cannot compute on.

They name the argument at fault in the engine's own terms (an input, a param, or an argument
of ``compute`` such as the reduction) and the element within it; how that is written for a
client (a JSON Pointer into an HTTP body, a tensor name) is the front end's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Location = tuple[str | int, ...]
#: What ``Issue.location[0]`` names: an input array, a param, or another argument of ``compute``.
Argument = Literal["input", "param", "argument"]


@dataclass(frozen=True)
class Issue:
    """One thing wrong with a computation's arguments: where and what.

    ``location`` is the argument's name followed by the index of the element at fault, if
    any: ``("y_pred", 3, 1)``, ``("class_weight",)`` (a param), ``("reduction",)``; ``()``
    for the computation as a whole. ``argument`` says what kind of argument the name is.
    """

    location: Location
    detail: str
    argument: Argument = "input"


class InvalidInput(ValueError):
    """Inputs outside the loss's contract: shapes, domains, params that do not fit the inputs."""

    def __init__(self, detail: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.issues = tuple(issues)


class NonFiniteResult(InvalidInput):
    """Valid inputs whose loss or gradient is not finite (overflow, 0/0): the issues point at the sample."""
