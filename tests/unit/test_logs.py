"""The access log never records query strings (they can carry passwords and one-time tokens)."""

from __future__ import annotations

import logging

import pytest

from hostplane.logs import ACCESS_LOGGER, redact_access_log


def test_access_log_lines_keep_the_path_but_not_the_query_string(caplog: pytest.LogCaptureFixture) -> None:
    redact_access_log()
    redact_access_log()  # idempotent: one filter
    logger = logging.getLogger(ACCESS_LOGGER)
    assert len(logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        logger.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "DELETE",
            "/api/client/account/two-factor?password=hunter2-secret",
            "1.1",
            204,
        )
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/v1/health", "1.1", 200)
    lines = [record.getMessage() for record in caplog.records]
    assert "hunter2-secret" not in "\n".join(lines)
    assert "/api/client/account/two-factor?[redacted]" in lines[0]
    assert "/api/v1/health HTTP/1.1" in lines[1]
