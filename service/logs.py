"""Logs as JSON lines on stdout: one object per line, with the request id where there is one."""

from __future__ import annotations

import logging
from typing import Any

import orjson


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...}``; a record's ``fields`` extra is merged in."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's ``log_config``: its own and the service's loggers, all JSON on stdout.

    uvicorn's access log stays off: the service writes its own line per request, with the
    request id, route and duration.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    logger = {"handlers": ["stdout"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": handler},
        "loggers": {"uvicorn": logger, "uvicorn.access": {**logger, "level": "WARNING"}, "service": logger},
    }


__all__ = ["JsonFormatter", "uvicorn_log_config"]
