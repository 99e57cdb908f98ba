"""The alert store's feeder: a Kafka consumer group over the alerts topic.

Each polled batch is folded into the store (one Redis transaction) and only then are its
offsets committed, so a crash re-reads at most one batch, which the store's fold makes
harmless. Messages that are not alert events are counted and skipped (the alerts topic is
ours; a bad message there is a bug upstream, not a reason to stop the desk).

Through a Redis outage the consumer waits: a batch it could not store is read again (the
consumer seeks back to it) once Redis answers, so the store catches up exactly. And when
Redis comes back without the store (restarted with no persistence, or emptied), which the
missing marker key ``P:consumer:marker`` tells, the consumer reads the topic again from
the start: the fold is idempotent, so the store is rebuilt exactly (staff's own records,
users and tokens are not in the topic: keep Redis persistent, as compose runs it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from alerts.notify.service import rewind
from alerts.redis_client import OUTAGE, Backoff, RedisHealth
from desk.background import ConsumerThread, group_consumer
from desk.metrics import DeskMetrics
from desk.settings import DeskSettings
from desk.store import AlertStore, NotAnAlert, parse_event

log = logging.getLogger("earlywarn.desk")
CHECK_SECONDS = 5.0


class AlertConsumer(ConsumerThread):
    """The alerts topic into the store, in a thread (``start`` / ``close``: desk.background's)."""

    name = "desk-consume"

    def __init__(self, settings: DeskSettings, store: AlertStore, metrics: DeskMetrics,
                 on_stored: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.on_stored = on_stored  # after each batch is stored, before its offsets are committed
        self.redis = RedisHealth(metrics.redis_errors, metrics.redis_up)
        # Whether Redis still holds the store is checked at start, after an outage and every
        # CHECK_SECONDS (an outage with no events to store shows nowhere else).
        self._verify = True
        self._next_check = 0.0

    def _consumer(self) -> Any:
        s = self.settings
        return group_consumer(s, s.topic_alerts, s.group_id, "earlywarn-desk")

    def step(self, consumer: Any) -> int:  # type: ignore[override]
        """One poll: store what came, then commit it. The number of events stored."""
        batches = consumer.poll(timeout_ms=500, max_records=500)
        if (self._verify or time.monotonic() >= self._next_check) and consumer.assignment():
            try:
                if self.rebuild_if_lost(consumer):
                    return 0  # the batch is read again, from the start
            except OUTAGE:
                rewind(consumer, batches)
                raise
        if not batches:
            return 0
        events, bad = [], 0
        for records in batches.values():
            for rec in records:
                try:
                    events.append(parse_event(rec.value))
                except NotAnAlert as exc:
                    bad += 1
                    log.warning("desk: skipped %s offset %d: %s", rec.topic, rec.offset, exc)
        try:
            applied = self.store.apply(events)
            if self.on_stored is not None:
                self.on_stored(events)
        except OUTAGE:
            rewind(consumer, batches)
            raise
        consumer.commit()
        self.metrics.events.labels("new").inc(applied.new)
        self.metrics.events.labels("duplicate").inc(applied.duplicate)
        if bad:
            self.metrics.events.labels("invalid").inc(bad)
        self.metrics.alerts.set(self.store.count())
        return len(events)

    def run(self) -> None:
        consumer = None
        try:
            consumer = self._consumer()
            self.ride_out_outages(consumer)
        except BaseException as exc:  # noqa: BLE001 - kept: /health answers 503 and the command exits 1
            log.exception("desk: the alerts consumer failed")
            self.failed = exc
        finally:
            if consumer is not None:
                consumer.close(autocommit=False)

    def ride_out_outages(self, consumer: Any) -> None:
        """Step until stopped; while Redis does not answer, count it and try again with backoff."""
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                self.step(consumer)
            except OUTAGE as exc:
                self.redis.failed("write", exc)
                self._verify = True
                self.stop.wait(backoff.next())
                continue
            self.redis.answered()
            backoff.reset()

    def rebuild_if_lost(self, consumer: Any) -> bool:
        """Whether Redis lost the store (no marker): then read the topic again from the start."""
        marker = self.store.key("consumer", "marker")
        lost = bool(self.store.r.set(marker, "1", nx=True))
        self._verify, self._next_check = False, time.monotonic() + CHECK_SECONDS
        if lost:
            log.warning("desk: Redis holds no alert store (first start, or Redis lost its data): reading %s "
                        "from the start", self.settings.topic_alerts)
            consumer.seek_to_beginning(*consumer.assignment())
        return lost

