"""A Kafka consumer group read in a daemon thread beside the desk's web server (results, tickets).

Subclasses open their clients (the group's consumer first) and take one poll's records; the loop runs until
``close``, and a failure is kept in ``failed`` (``/health`` answers 503) instead of being
lost with the thread. A Redis outage is not a failure: the poll it could not store is read
again (the consumer seeks back to it) once Redis answers, with backoff in between, as the
alert consumer does (``desk.consumer``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from alerts.notify.service import rewind
from alerts.redis_client import OUTAGE, Backoff

log = logging.getLogger("earlywarn.desk")


def group_consumer(settings: Any, topic: str, group: str, client_id: str) -> Any:
    """A consumer in *group* from the earliest offset, committing only when told (after the work is stored)."""
    from kafka import KafkaConsumer

    return KafkaConsumer(topic, bootstrap_servers=settings.broker, group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest", client_id=client_id,
                         session_timeout_ms=int(settings.session_timeout * 1000),
                         heartbeat_interval_ms=int(settings.session_timeout * 1000 / 3))


class ConsumerThread:
    name = "desk-background"

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.failed: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _clients(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def take(self, records: list[Any], *rest: Any) -> None:
        """Store (or dead-letter) one poll's records; the offsets are committed after."""
        raise NotImplementedError

    def step(self, consumer: Any, *rest: Any) -> int:
        """One poll: take what came, then commit it. The number of records."""
        batches = consumer.poll(timeout_ms=500, max_records=500)
        records = [rec for recs in batches.values() for rec in recs]
        if records:
            try:
                self.take(records, *rest)
            except OUTAGE:
                rewind(consumer, batches)
                raise
            consumer.commit()
        return len(records)

    def run(self) -> None:
        clients: tuple[Any, ...] = ()
        try:
            clients = self._clients()
            backoff = Backoff()
            while not self.stop.is_set():
                try:
                    self.step(*clients)
                except OUTAGE as exc:
                    log.warning("desk: %s: Redis does not answer (%s); reading the batch again", self.name, exc)
                    self.stop.wait(backoff.next())
                    continue
                backoff.reset()
        except BaseException as exc:  # noqa: BLE001 - kept: /health answers 503
            log.exception("desk: %s failed", self.name)
            self.failed = exc
        finally:
            for c in clients:
                c.close(**({"autocommit": False} if hasattr(c, "commit") else {"timeout": 5}))

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        return self._thread

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
