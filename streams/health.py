"""Whether a worker is fit to serve, and what happens when it is not: it says so and stops.

An agent that raises is restarted by Faust's supervisor, which would run it into the same
input again every few seconds while the web server kept answering and ingest kept
counting: a worker that looks healthy and judges nothing. Here an agent's error instead
makes the worker unready (``/health`` answers 503, ``earlywarn_worker_ready`` reads 0,
``earlywarn_agent_crashes_total`` counts it), is logged with its traceback, and stops the
worker with exit code 1, so that an operator's supervisor (systemd, Kubernetes) sees a
failure and the input that caused it stays unacknowledged for a fixed build to read.

A broker that does not answer the worker's offsets probe (every 5 s, within 4 s: see
streams.lag) also makes it unready, until it answers again (``earlywarn_broker_up``);
``/health/live`` answers 200 as long as the worker's event loop runs, for an orchestrator
that should restart only a hung process. And a worker told to stop (SIGTERM) while the
broker is gone cannot hand its partitions over: it exits after ``STOP_GRACE_BROKER_DOWN``
seconds instead of hanging (see streams.worker).

Redis is not the worker's to need: the top-10 boards wait for it in a thread
of its own (alerts.redis_client). While it does not answer, ``/health`` says so
(``redis_up``: false, ``earlywarn_redis_up`` 0) and the worker stays ready: it reads, judges
and publishes as before, and what Redis holds catches up when it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alerts.redis_client import RedisHealth
from streams.metrics import Metrics

log = logging.getLogger("earlywarn")

STOP_GRACE_BROKER_DOWN = 5.0  # seconds a worker told to stop waits for a broker that is gone


class Health:
    """The worker's readiness; ``agent_failed`` is every agent's ``on_error`` handler.

    *stop* is called once, with the first error: the running worker crashes with it (see
    ``streams.worker.run_worker``); an app run without a worker only goes unready.
    """

    def __init__(self, metrics: Metrics, stop: Callable[[BaseException], Any] | None = None) -> None:
        self._metrics = metrics
        self.stop = stop
        self.problem: str | None = None  # an agent's crash: final
        self.broker_up = True  # the worker starts once the broker answered; then the lag probe tells
        self.in_group = False  # until its consumer group first gives it its partitions
        self.redis = RedisHealth(metrics.redis_errors, metrics.redis_up)  # told, never a reason to be unready
        metrics.ready.set(0)

    @property
    def ready(self) -> bool:
        return self.in_group and self.problem is None and self.broker_up

    def joined(self) -> None:
        """The consumer group gave this worker its partitions (perhaps none): it serves."""
        self.in_group = True
        self._metrics.ready.set(1 if self.ready else 0)

    def report(self) -> dict[str, Any]:
        """What ``/health`` answers (readiness; ``/health/live`` is liveness)."""
        return {"ready": self.ready, "problem": self.problem, "broker_up": self.broker_up, "redis_up": self.redis.up}

    def broker_answered(self, answered: bool) -> None:
        if answered != self.broker_up:
            log.warning("the broker %s", "answers again" if answered else "does not answer: the worker is not ready")
        self.broker_up = answered
        self._metrics.broker_up.set(1 if answered else 0)
        self._metrics.ready.set(1 if self.ready else 0)

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
