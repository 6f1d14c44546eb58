"""The registry: every loss the service offers, by name, family by family.

A loss is declared where its maths is, with its family's ``@family.loss(...)`` decorator
(``service.engine.spec.Family``); this module only collects the families. A family may be
declared in several modules (``pairs`` adds to similarity and embedding): the catalog lists
each family's losses together, families in the order they first appear here, and losses in
their modules' order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .losses import (
    binary,
    classification,
    contrastive,
    distribution,
    divergence,
    embedding,
    multiclass,
    overlap,
    pairs,
    ranking,
    regression,
    robust,
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
    pairs.similarity_family,
    pairs.embedding_family,
    overlap.family,
    divergence.family,
    robust.family,
    classification.family,
    classification.binary_family,
    contrastive.family,
    ranking.family,
)

CATALOG: Mapping[str, LossSpec] = MappingProxyType(
    {
        spec.name: spec
        for name in dict.fromkeys(family.name for family in FAMILIES)
        for family in FAMILIES
        if family.name == name
        for spec in family.specs
    }
)
