"""The registry: every loss the service offers, by name, one module per family.

Adding a loss is one function in ``service.engine.losses.<family>`` and one ``LossSpec``
entry in ``service.engine.catalog.<family>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..spec import LossSpec
from . import binary, distribution, embedding, multiclass, regression, segmentation, sequence, similarity

_FAMILIES = (regression, binary, multiclass, distribution, similarity, embedding, segmentation, sequence)

CATALOG: Mapping[str, LossSpec] = MappingProxyType({spec.name: spec for family in _FAMILIES for spec in family.SPECS})
