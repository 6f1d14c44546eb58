"""Logs as JSON lines on stdout: one object per line, with the request id where there is one."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from logging.handlers import QueueHandler, QueueListener
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


def start_access_log(name: str = "service.access") -> Callable[[], None]:
    """Hand the access log's lines to a background thread that formats and writes them.

    A request then only queues its record (``logging.handlers.QueueHandler``); the JSON and the
    write to stdout happen in a ``QueueListener`` thread, off the event loop. Returns the
    function that stops it, writing whatever is still queued.
    """
    logger = logging.getLogger(name)
    handlers: list[logging.Handler] = []
    node: logging.Logger | None = logger
    while node is not None:  # the handlers a record of this logger would reach
        handlers += node.handlers
        node = node.parent if node.propagate else None
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(lines, *handlers, respect_handler_level=True)
    handler = QueueHandler(lines)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    listener.start()

    def stop() -> None:
        logger.removeHandler(handler)
        logger.propagate = propagate
        listener.stop()

    return stop


__all__ = ["JsonFormatter", "start_access_log", "uvicorn_log_config"]
