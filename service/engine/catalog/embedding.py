"""The embedding losses' registry entries."""

from __future__ import annotations

from ..spec import LossSpec

SPECS: tuple[LossSpec, ...] = ()
