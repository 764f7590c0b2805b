"""Logging rules of the server: what a log line may never hold."""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


class DropQueryStrings(logging.Filter):
    """uvicorn's access log records the full request target; query strings can carry secrets (the older
    Pterodactyl `DELETE two-factor?password=`, one-time login tokens), so only the path is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?[redacted]", *args[3:])
        return True


def redact_access_log() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(item, DropQueryStrings) for item in logger.filters):
        logger.addFilter(DropQueryStrings())
