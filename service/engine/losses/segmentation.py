"""The segmentation losses."""

from __future__ import annotations
