"""The embedding losses."""

from __future__ import annotations
