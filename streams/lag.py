"""Consumer lag and broker errors: what a worker tells Prometheus about its consumer and producer.

Lag is refreshed by a timer, off the hot path (one offsets request per refresh).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.exceptions import ConsumerNotStarted
from faust.types import TP

from streams.health import Health
from streams.metrics import Metrics

log = logging.getLogger("earlywarn")

LAG_SECONDS = 5.0  # how often consumer lag is refreshed (one offsets request per refresh)
PROBE_TIMEOUT = 4.0  # an offsets request not answered by then counts as the broker down


def fetched_highwater(app: faust.App, tp: TP) -> int | None:
    """The highwater of *tp* in the consumer's last fetch response, or None (not fetched yet, or revoked)."""
    try:
        return app.consumer.highwater(tp)
    except Exception:  # noqa: BLE001 - not fetched yet, or just revoked
        return None


class BrokerErrorSensor(faust.Sensor):
    """Counts sends the broker did not acknowledge (any topic, changelogs included)."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._produce_errors = metrics.broker_errors.labels("produce")

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self._produce_errors.inc()


class ConsumerLag:
    """The ``earlywarn_consumer_lag`` gauge of the topics our agents consume.

    Highwater minus committed offset (Faust's own record of what it committed; before the
    first commit, what it has read; a partition with neither, just assigned, is left out
    rather than told as lagging by all it holds). Its offsets request is also the worker's
    probe of the broker (``earlywarn_broker_up``, readiness). Only the
    topics our agents consume: changelogs are read for recovery, never committed. The
    highwater is the larger of the last fetch response's and a ListOffsets answer: either
    can be the staler one (and the embedded broker's ListOffsets lags behind).
    """

    def __init__(self, app: faust.App, metrics: Metrics, topics: tuple[str, ...], health: Health) -> None:
        self.app = app
        self.metrics = metrics
        self.topics = topics
        self.health = health  # told whether the broker answered

    async def refresh(self) -> None:
        try:
            consumer = self.app.consumer
            assigned = [tp for tp in consumer.assignment() if tp.topic in self.topics]
        except ConsumerNotStarted:
            return
        if not assigned:
            for topic in self.topics:
                self.metrics.consumer_lag.labels(topic).set(0)
            return
        try:
            # A stalled broker does not fail a request, it never answers: bounded here, so
            # an outage shows within one refresh instead of after the client's own timeouts.
            listed = await asyncio.wait_for(consumer.highwaters(*assigned), PROBE_TIMEOUT)
        except ConsumerNotStarted:
            return
        except Exception as exc:  # noqa: BLE001 - a failed refresh must not stop the worker
            self.metrics.broker_errors.labels("offsets").inc()
            self.health.broker_answered(False)
            log.warning("consumer lag refresh failed: %r", exc)
            listed = {}
        else:
            self.health.broker_answered(True)
        committed = getattr(consumer, "_committed_offset", {})
        read = getattr(consumer, "_read_offset", {})
        lag = dict.fromkeys(self.topics, 0)
        for tp in assigned:
            known = [hw for hw in (listed.get(tp), fetched_highwater(self.app, tp)) if hw is not None]
            if not known:
                continue
            hw = max(known)
            done = committed.get(tp)
            if done is None:
                last_read = read.get(tp)
                if last_read is None:  # just assigned: where it stands is not known yet, so no lag is told
                    continue
                done = last_read + 1
            lag[tp.topic] += max(0, hw - done)
        for topic, n in lag.items():
            self.metrics.consumer_lag.labels(topic).set(n)
