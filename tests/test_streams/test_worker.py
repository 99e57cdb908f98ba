"""The worker runs at the log level it is given: Faust's spinner must not turn on DEBUG."""

from __future__ import annotations

import logging

import faust
import pytest

from streams.worker import Worker


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("loglevel, expected", [("error", logging.ERROR), ("warn", logging.WARNING),
                                                ("info", logging.INFO)])
def test_root_logger_keeps_the_configured_level(root_logging, loglevel, expected):
    app = faust.App("test-worker-logging", broker="kafka://127.0.0.1:1", web_enabled=False)
    Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)._setup_logging()
    assert root_logging.level == expected
    # Debug calls in the client libraries stop at the level check: no record is built.
    assert not logging.getLogger("aiokafka.conn").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("faust.topics").isEnabledFor(logging.DEBUG)
