"""The registry: every loss the service offers, by name, in the order the families declare them.

A loss is declared where its maths is, with its family's ``@family.loss(...)`` decorator
(``service.engine.spec.Family``); this module only collects the families.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .losses import (
    binary,
    contrastive,
    distribution,
    embedding,
    multiclass,
    ranking,
    regression,
    segmentation,
    sequence,
    similarity,
)
from .spec import LossSpec

FAMILIES = (
    regression.family,
    binary.family,
    multiclass.family,
    distribution.family,
    similarity.family,
    embedding.family,
    segmentation.family,
    sequence.family,
    contrastive.family,
    ranking.family,
)

CATALOG: Mapping[str, LossSpec] = MappingProxyType({spec.name: spec for family in FAMILIES for spec in family.specs})
