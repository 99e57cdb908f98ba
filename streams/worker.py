"""Running a worker: create the topics, then hand the app to Faust's worker."""

from __future__ import annotations

import faust
import orjson
from faust.web import Request, Response, View

from earlywarn.settings import Settings
from streams.app import Counters, make_app
from streams.kafka_io import ensure_topics


def build(settings: Settings, counters: Counters | None = None) -> faust.App:
    """The app with its web pages: ``/stats/`` (the worker's counters as JSON)."""
    counters = counters or Counters()
    app = make_app(settings, counters)

    @app.page("/stats/")
    class Stats(View):
        async def get(self, request: Request) -> Response:
            data = {k: v for k, v in vars(counters).items() if k != "on_alert"}
            return self.bytes(orjson.dumps(data), content_type="application/json")

    return app


def run_worker(settings: Settings, counters: Counters | None = None) -> int:
    """Block running one worker until it is stopped (Ctrl-C / SIGTERM)."""
    ensure_topics(settings)
    app = build(settings, counters)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0
