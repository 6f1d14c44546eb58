"""What transport raises: bytes that are not a document of the protocol, or arrays that are not arrays."""

from __future__ import annotations

Location = tuple[str | int, ...]


class DecodeError(ValueError):
    """The bytes are not a well-formed document of the protocol (not JSON, a malformed inference request)."""


class ArrayError(ValueError):
    """A value that must be a rectangular nested array of numbers is not one.

    ``detail`` says what is wrong in general, ``location`` where (the caller's location of the
    value, then the indices of the offending element) and ``reason`` what is wrong there.
    """

    def __init__(self, detail: str, location: Location, reason: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.location = location
        self.reason = reason
