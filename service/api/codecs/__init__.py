"""The HTTP wire formats, as codecs for the service object (``service.serving.pipeline.Codec``).

``LossesCodec`` is the JSON body of ``POST /losses/{name}``, ``BatchCodec`` that of ``POST
/batch``, ``InferCodec`` the Open Inference Protocol's (JSON or binary tensors). Each turns a
body into computations and their results or errors back into a body, problems as
``application/problem+json`` with JSON pointers (``{"error"}`` for the inference protocol).
"""

from .batch import BatchCodec
from .inference import InferCodec, V2Error
from .losses import LossesCodec

__all__ = ["BatchCodec", "InferCodec", "LossesCodec", "V2Error"]
