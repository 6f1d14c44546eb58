"""The service's settings: one validated object, read from ``LOSS_SERVICE_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 2**20
#: How long a SIGTERM waits for the requests and gRPC calls in flight (uvicorn's graceful shutdown).
GRACEFUL_SHUTDOWN_SECONDS = 30


class Settings(BaseSettings):
    """Every knob, with a default that works. A bad value fails at start-up, not mid-request."""

    model_config = SettingsConfigDict(env_prefix="LOSS_SERVICE_", frozen=True)

    host: str = Field("127.0.0.1", description="interface to listen on (0.0.0.0 in the container)")
    port: int = Field(8000, ge=0, le=65535, description="TCP port")
    grpc_port: int = Field(
        8001,
        ge=0,
        le=65535,
        description="TCP port of the Open Inference Protocol over gRPC, on the same interface (0: no gRPC server)",
    )
    workers: int = Field(1, ge=1, le=64, description="worker processes")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = Field(True, description="log one JSON line per request to stdout")
    max_body_bytes: int = Field(64 * MiB, ge=1024, description="largest request body; larger ones get 413")
    max_elements: int = Field(
        2**24, ge=1, description="most array elements in one computation (all inputs together); more get 413"
    )
    max_concurrency: int = Field(
        64, ge=1, description="computations in flight per worker; beyond it requests get 503 with Retry-After"
    )
    retry_after_seconds: int = Field(1, ge=0, description="the Retry-After of a 503")
    request_timeout_seconds: float = Field(
        30.0, gt=0, description="time allowed to receive a request body (slow clients get 408)"
    )
    gzip_level: int = Field(
        1,
        ge=0,
        le=9,
        description="gzip level for responses of 1 KiB or more to clients that accept gzip (0: never compress); "
        "level 1 halves float arrays at ~100 MB/s",
    )
    batch_max_items: int = Field(256, ge=1, le=100_000, description="most items in one POST /batch")
    offload_bytes: int = Field(
        256 * 1024,
        ge=0,
        description="bodies at least this large are parsed and computed in a worker thread, "
        "so that one large request does not hold the event loop from small ones",
    )
    offload_processes: int = Field(
        1,
        ge=0,
        le=16,
        description="processes per worker that compute JSON bodies of process_offload_bytes or more while "
        "other requests are in flight, so that their parse never holds those requests up on the GIL "
        "(0: always compute large bodies in a thread)",
    )
    process_offload_bytes: int = Field(
        4 * MiB, ge=0, description="JSON bodies at least this large go to the offload processes"
    )
