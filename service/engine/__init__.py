"""The loss engine: pure NumPy, no HTTP.

>>> from service.engine import CATALOG, compute
>>> compute(CATALOG["mse"], {"y_true": [[0.0, 1.0]], "y_pred": [[0.5, 1.0]]}).loss
0.125
"""

from .catalog import CATALOG
from .compute import DType, Result, compute
from .errors import InvalidInput, Issue, NonFiniteResult
from .spec import InputSpec, LossSpec, ParamSpec, Reduction, Unreduced

__all__ = [
    "CATALOG",
    "DType",
    "InputSpec",
    "InvalidInput",
    "Issue",
    "LossSpec",
    "NonFiniteResult",
    "ParamSpec",
    "Reduction",
    "Result",
    "Unreduced",
    "compute",
]
