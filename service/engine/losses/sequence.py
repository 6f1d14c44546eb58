"""The sequence losses."""

from __future__ import annotations
