"""The service object between the front ends and the engine, and where the work runs.

``pipeline`` is one request from bytes to bytes (pure CPU work); ``placement`` decides where it
runs; ``admission`` bounds the computations in flight; ``LossService`` ties them together and
records the computation metrics once.
"""

from .admission import Admission
from .pipeline import Answer, Body, Codec, Computed, ComputeRequest, Item, Meta, Refused, respond
from .service import LossService

__all__ = [
    "Admission",
    "Answer",
    "Body",
    "Codec",
    "ComputeRequest",
    "Computed",
    "Item",
    "LossService",
    "Meta",
    "Refused",
    "respond",
]
