"""The loss engine: pure NumPy, no HTTP.

Each loss is one function in ``losses/<family>.py``, declared there with its spec (inputs,
params, shape rule, formula, reference) by its family's ``@family.loss(...)``; ``registry``
collects them into ``CATALOG``; ``compute`` runs one, owning dtype, sample weights and
reductions, so that each loss is only its maths.

>>> from service.engine import CATALOG, compute
>>> compute(CATALOG["mse"], {"y_true": [[0.0, 1.0]], "y_pred": [[0.5, 1.0]]}).loss
0.125
"""

from .compute import DType, Result, compute
from .errors import InvalidInput, Issue, NonFiniteResult
from .registry import CATALOG
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
