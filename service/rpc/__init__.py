"""The Open Inference Protocol over gRPC (KServe V2, as Triton and KServe serve it): the second front end.

``server`` is the grpc.aio server the app's lifespan starts on ``grpc_port``; ``calls`` what
every call goes through (request id, parse, metrics, log); ``codec`` ``ModelInfer`` as a codec of
the service object; ``tensors`` protobuf tensors to arrays and back; ``protocol`` the messages
of ``grpc_predict_v2.proto``.
"""

from .server import GrpcServer

__all__ = ["GrpcServer"]
