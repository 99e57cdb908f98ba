"""Running a worker: create the topics, then hand the app to Faust's worker.

The worker's web server (``EARLYWARN_WEB_HOST``:``EARLYWARN_WEB_PORT``) serves
``/metrics`` (Prometheus text format, from the worker's own registry), ``/health``
(readiness: 200, or 503 once an agent has crashed, see streams.health) and ``/stats/``
(the shell's counters as JSON, for the demo and the tests).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

import faust
import orjson
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams import store
from streams.app import make_app
from streams.broker import CONNECT_TIMEOUT
from streams.counters import Counters
from streams.health import STOP_GRACE_BROKER_DOWN, Health
from streams.kafka_io import ensure_topics
from streams.metrics import Metrics
from streams.settings import Settings


def build(settings: Settings, counters: Counters | None = None, metrics: Metrics | None = None) -> faust.App:
    """The app with its web pages: ``/metrics`` and ``/stats/``.

    *metrics* defaults to a fresh :class:`Metrics` in a registry of its own (not the
    process-global default, so nothing imported by accident is exported).
    """
    counters = counters or Counters()
    metrics = metrics or Metrics(CollectorRegistry())
    app = make_app(settings, counters, metrics)
    registry = metrics.registry

    @app.page("/stats/")
    class Stats(View):
        async def get(self, request: Request) -> Response:
            data = {k: v for k, v in vars(counters).items() if k != "on_alert"}
            return self.bytes(orjson.dumps(data), content_type="application/json")

    health = app.earlywarn_health  # type: ignore[attr-defined]

    @app.page("/health")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(orjson.dumps(health.report()), content_type="application/json",
                              status=200 if health.ready else 503)

    @app.page("/health/live")
    class Live(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(b'{"live": true}', content_type="application/json")

    @app.page("/metrics")
    class PrometheusMetrics(View):
        async def get(self, request: Request) -> Response:
            # aiohttp refuses a charset inside content_type=, so the header is set whole.
            return self.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app


log = logging.getLogger("earlywarn")

# At debug these log every message they send or receive, payload and all (aiokafka's
# "Sending (key=... value=...)"): phones, names and pseudonyms of every ticket. Logs carry
# ids and counts, never payloads, so at debug they stay at info; earlywarn's own logger
# goes to debug.
CHATTY_LIBRARIES = ("aiokafka", "kafka", "faust", "mode", "aiohttp")


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner, whose log handler sets the root logger
    to DEBUG whatever the log level (``faust.Worker._setup_spinner_handler``). Then every
    debug call in Faust and aiokafka, several per message sent, built a log record that
    the handlers dropped: about 5 % of a busy worker's time."""

    def _on_sigterm(self) -> None:
        self._stop_within()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._stop_within()
        super()._on_sigint()

    def _stop_within(self) -> None:
        """Stop for good if the hand-over has not finished in time: it needs the broker, and
        without one Faust waits on it forever (a worker once ignored SIGTERM for 30 s and more)."""
        health: Health = self.app.earlywarn_health  # type: ignore[attr-defined]
        grace = STOP_GRACE_BROKER_DOWN if not health.broker_up else self.app.conf.broker_rebalance_timeout + 10.0

        def give_up() -> None:
            log.error("could not hand the partitions over within %.0f s (broker %s): exiting; the next owner "
                      "re-reads from the last commit", grace, "up" if health.broker_up else "down")
            logging.shutdown()
            os._exit(1)

        timer = threading.Timer(grace, give_up)
        timer.daemon = True
        timer.start()

    tabledir: Path | None = None  # rocksdb://: the table directory this worker marked in use (streams.store)

    def stop_and_shutdown(self) -> None:
        super().stop_and_shutdown()  # after a crash this raises its reason, and the tables stay marked
        if self.tabledir is not None:
            store.release(self.tabledir)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)
        for name in CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(max(level, logging.INFO))


def run_worker(settings: Settings, counters: Counters | None = None, *,
               connect_timeout: float = CONNECT_TIMEOUT) -> int:
    """Block running one worker until it is stopped (Ctrl-C / SIGTERM).

    Raises SettingsError without a pseudonym secret, and BrokerUnavailable when no broker
    answers within *connect_timeout* seconds.
    """
    settings.secret()  # before anything else: a worker never runs without one
    ensure_topics(settings, connect_timeout)
    counters = counters or Counters()
    app = build(settings, counters)
    worker = Worker(app, loglevel=settings.log_level, quiet=True)
    if store.on_disk(settings.store):  # rocksdb://: tables left by a worker that did not stop cleanly are discarded
        worker.tabledir = Path(app.conf.tabledir)
        counters.tables_discarded = store.claim(worker.tabledir)
    # An agent's error crashes the worker: it stops, and exits with code 1 (streams.health).
    app.earlywarn_health.stop = lambda exc: asyncio.ensure_future(worker.crash(exc))  # type: ignore[attr-defined]
    worker.execute_from_commandline()
    return 0
