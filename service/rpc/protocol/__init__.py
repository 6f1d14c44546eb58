"""The Open Inference Protocol's gRPC messages (``grpc_predict_v2.proto``), in a descriptor pool of their own.

The protocol's package is ``inference``, which is also the package of Triton's and KServe's own
generated modules: ``tritonclient.grpc`` registers ``inference.ModelInferRequest`` in protobuf's
default pool, where a second definition of the same name is an error at import. Generated
``_pb2`` modules always use that default pool, so this service loads the compiled descriptor
into a pool of its own instead, and a process (a test run, a user's) may import both.

``grpc_predict_v2.binpb`` is the ``.proto`` beside it compiled by grpcio-tools' protoc,
committed. After an edit of the ``.proto``, regenerate it from the repository root with

    python -m grpc_tools.protoc --proto_path=service/rpc/protocol \\
        --descriptor_set_out=service/rpc/protocol/grpc_predict_v2.binpb grpc_predict_v2.proto

(``tests/rpc/test_protocol.py`` checks that the committed descriptor is the ``.proto``'s).
Message classes made from a pool have no static types: they are ``Any`` here.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"
PROTO_FILE = "grpc_predict_v2.proto"
DESCRIPTOR_FILE = "grpc_predict_v2.binpb"


def _pool() -> descriptor_pool.DescriptorPool:
    compiled = resources.files(__name__).joinpath(DESCRIPTOR_FILE).read_bytes()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(compiled).file:
        pool.Add(file)
    return pool


POOL = _pool()


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


ServerLiveRequest = _message("ServerLiveRequest")
ServerLiveResponse = _message("ServerLiveResponse")
ServerReadyRequest = _message("ServerReadyRequest")
ServerReadyResponse = _message("ServerReadyResponse")
ModelReadyRequest = _message("ModelReadyRequest")
ModelReadyResponse = _message("ModelReadyResponse")
ServerMetadataRequest = _message("ServerMetadataRequest")
ServerMetadataResponse = _message("ServerMetadataResponse")
ModelMetadataRequest = _message("ModelMetadataRequest")
ModelMetadataResponse = _message("ModelMetadataResponse")
ModelInferRequest = _message("ModelInferRequest")
ModelInferResponse = _message("ModelInferResponse")
InferTensorContents = _message("InferTensorContents")

__all__ = [
    "DESCRIPTOR_FILE",
    "POOL",
    "PROTO_FILE",
    "SERVICE",
    "InferTensorContents",
    "ModelInferRequest",
    "ModelInferResponse",
    "ModelMetadataRequest",
    "ModelMetadataResponse",
    "ModelReadyRequest",
    "ModelReadyResponse",
    "ServerLiveRequest",
    "ServerLiveResponse",
    "ServerMetadataRequest",
    "ServerMetadataResponse",
    "ServerReadyRequest",
    "ServerReadyResponse",
]
