"""``ModelInfer`` as a codec of the service object: protobuf bytes in, protobuf bytes (or an error) out.

The model, the inputs, the parameters and every check after the tensors are the HTTP ``/v2``
codec's (``model_or_404``, ``compute_request``, ``chosen_outputs``, ``as_v2_error``), so both
protocols answer the same request with the same numbers and the same error messages. Parsing
happens in ``decode``, inside the pipeline: the placement policy (inline, or a worker thread for a
large message) applies to it as it does to an HTTP body. An error is an ``Answer`` whose status is
the one HTTP would answer and whose content is the message; the server turns it into a gRPC status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..api.codecs.inference import as_v2_error, chosen_outputs, compute_request, model_or_404
from ..engine import LossSpec
from ..serving import Answer, Body, Item, Meta
from ..transport.kserve import InferRequest
from .tensors import encode_response, infer_request, parse_message

#: The media type of a successful answer's content: a serialized ``ModelInferResponse``.
PROTOBUF = "application/grpc+proto"
#: The media type of a failed answer's content: the status message.
MESSAGE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Decoded:
    """The model a message names, and its request or what is wrong with it.

    A fault in the tensors is kept rather than raised, so that ``validate`` reports it as a failed
    computation of that model: the metrics count it under the loss's name, as HTTP counts a bad
    body sent to ``/v2/models/{name}/infer``.
    """

    spec: LossSpec
    request: InferRequest | None
    error: Exception | None = None


@dataclass(frozen=True)
class GrpcInferCodec:
    protocol: ClassVar[str] = "grpc"

    def parses_json(self, meta: Meta) -> bool:
        return False  # tensors are read in place; protobuf parses 16 MB in about a millisecond

    def decode(self, loss: str | None, body: Body, meta: Meta) -> Decoded:
        message = parse_message(bytes(body.take()))
        spec = model_or_404(message.model_name, message.model_version)
        try:
            return Decoded(spec, infer_request(message))
        except Exception as error:  # answered in encode (or re-raised there, if no client could cause it)
            return Decoded(spec, None, error)

    def validate(self, decoded: Decoded) -> list[Item]:
        if decoded.request is None:
            return [Item(decoded.spec.name, error=decoded.error)]
        try:
            return [Item(decoded.spec.name, request=compute_request(decoded.spec, decoded.request))]
        except Exception as error:
            return [Item(decoded.spec.name, error=error)]

    def encode(self, decoded: Decoded, items: list[Item], meta: Meta) -> Answer:
        (item,) = items
        if item.error is not None:
            answer = self.failure(item.error, meta)
            item.status = answer.status
            return answer
        assert decoded.request is not None and item.result is not None
        outputs = [(name, value) for name, value, _ in chosen_outputs(decoded.request, item.result)]
        return Answer(200, encode_response(decoded.spec.name, decoded.request.id, outputs), PROTOBUF)

    def failure(self, error: Exception, meta: Meta) -> Answer:
        v2_error = as_v2_error(error)  # re-raises what no client can cause: a bug, INTERNAL
        return Answer(v2_error.status, v2_error.message.encode(), MESSAGE)
