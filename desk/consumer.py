"""The alert store's feeder: a Kafka consumer group over the alerts topic.

Each polled batch is folded into the store (one Redis transaction) and only then are its
offsets committed, so a crash re-reads at most one batch, which the store's fold makes
harmless. Messages that are not alert events are counted and skipped (the alerts topic is
ours; a bad message there is a bug upstream, not a reason to stop the desk).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from desk.metrics import DeskMetrics
from desk.settings import DeskSettings
from desk.store import AlertStore, NotAnAlert, parse_event

log = logging.getLogger("earlywarn.desk")


class AlertConsumer:
    def __init__(self, settings: DeskSettings, store: AlertStore, metrics: DeskMetrics,
                 on_stored: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.settings = settings
        self.on_stored = on_stored  # after each batch is stored, before its offsets are committed
        self.store = store
        self.metrics = metrics
        self.stop = threading.Event()
        self.failed: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer

        s = self.settings
        return KafkaConsumer(s.topic_alerts, bootstrap_servers=s.broker, group_id=s.group_id,
                             enable_auto_commit=False, auto_offset_reset="earliest", client_id="earlywarn-desk",
                             session_timeout_ms=int(s.session_timeout * 1000),
                             heartbeat_interval_ms=int(s.session_timeout * 1000 / 3))

    def step(self, consumer: Any) -> int:
        """One poll: store what came, then commit it. The number of events stored."""
        batches = consumer.poll(timeout_ms=500, max_records=500)
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
        applied = self.store.apply(events)
        if self.on_stored is not None:
            self.on_stored(events)
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
            while not self.stop.is_set():
                self.step(consumer)
        except BaseException as exc:  # noqa: BLE001 - kept: /health answers 503 and the command exits 1
            log.exception("desk: the alerts consumer failed")
            self.failed = exc
        finally:
            if consumer is not None:
                consumer.close(autocommit=False)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="desk-consume", daemon=True)
        self._thread.start()
        return self._thread

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
