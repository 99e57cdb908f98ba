"""Whether a worker is fit to serve, and what happens when it is not: it says so and stops.

An agent that raises is restarted by Faust's supervisor, which would run it into the same
input again every few seconds while the web server kept answering and ingest kept
counting: a worker that looks healthy and judges nothing. Here an agent's error instead
makes the worker unready (``/health`` answers 503, ``earlywarn_worker_ready`` reads 0,
``earlywarn_agent_crashes_total`` counts it), is logged with its traceback, and stops the
worker with exit code 1, so that an operator's supervisor (systemd, Kubernetes) sees a
failure and the input that caused it stays unacknowledged for a fixed build to read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from streams.metrics import Metrics

log = logging.getLogger("earlywarn")


class Health:
    """The worker's readiness; ``agent_failed`` is every agent's ``on_error`` handler.

    *stop* is called once, with the first error: the running worker crashes with it (see
    ``streams.worker.run_worker``); an app run without a worker only goes unready.
    """

    def __init__(self, metrics: Metrics, stop: Callable[[BaseException], Any] | None = None) -> None:
        self._metrics = metrics
        self.stop = stop
        self.problem: str | None = None

    @property
    def ready(self) -> bool:
        return self.problem is None

    def report(self) -> dict[str, Any]:
        """What ``/health`` answers."""
        return {"ready": self.ready, "problem": self.problem}

    async def agent_failed(self, agent: Any, exc: BaseException) -> None:
        name = str(getattr(agent, "name", agent)).rsplit(".", 1)[-1]
        self._metrics.agent_crashes.labels(name).inc()
        self._metrics.ready.set(0)
        first = self.problem is None
        if first:
            self.problem = f"agent {name} crashed: {type(exc).__name__}"
        log.critical("agent %s crashed; the worker stops (exit code 1) rather than run without it",
                     name, exc_info=exc)
        if first and self.stop is not None:
            self.stop(exc)
