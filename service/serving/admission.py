"""What the server is willing to take on: the one count of computations in flight, shared by every protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .metrics import IN_FLIGHT
from .pipeline import Refused


@dataclass
class Admission:
    """Computations in flight per worker, bounded; none while draining.

    The HTTP middleware and the gRPC server both admit through it, so the bound holds across
    protocols; ``/readyz`` and the gRPC health service read ``draining``.
    """

    max_concurrency: int
    retry_after_seconds: int
    in_flight: int = 0
    draining: bool = False
    admitted: int = 0  # every request admitted so far: tells whether others arrived meanwhile
    _drain_listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def drain(self) -> None:
        """Refuse new work from now on, and tell the listeners (once): the gRPC health service turns NOT_SERVING.

        Called from a signal handler: a listener must only schedule its work (``call_soon_threadsafe``).
        """
        if self.draining:
            return
        self.draining = True
        for listener in list(self._drain_listeners):
            listener()

    def on_drain(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` when draining begins; returns the function that removes it."""
        self._drain_listeners.append(listener)
        return lambda: self._drain_listeners.remove(listener)

    def admit(self) -> None:
        """Take a slot, or raise ``Refused`` (503 with a retry delay) while draining or when every slot is taken."""
        if self.draining:
            raise Refused(
                503, "draining", "the server is shutting down; retry on another instance", self.retry_after_seconds
            )
        if self.in_flight >= self.max_concurrency:
            raise Refused(
                503,
                "overloaded",
                f"the server is computing {self.in_flight} requests, its limit; retry shortly",
                self.retry_after_seconds,
            )
        self.in_flight += 1
        self.admitted += 1
        IN_FLIGHT.inc()

    def release(self) -> None:
        self.in_flight -= 1
        IN_FLIGHT.dec()
