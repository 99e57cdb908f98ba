"""``earlywarn notify``: the Kafka consumers, the group flusher and one deliverer a receiver.

Four kinds of loop, each in its own thread, share one Redis:

- consume: a Kafka consumer in group ``EARLYWARN_NOTIFY_GROUP_ID`` reads the alerts topic,
  stores each batch (:meth:`Pipeline.ingest`, one transaction) and only then commits the
  batch's offsets. A crash before the commit reads the batch again, which stores nothing new.
  The batch's keyword-subscription matches are queued before the commit too.
- tickets: a Kafka consumer in group ``EARLYWARN_NOTIFY_TICKETS_GROUP_ID`` reads the
  tickets topic and matches the keyword subscriptions (:mod:`alerts.notify.tickets`),
  committing a batch once its matches are queued. The workers match nothing.
- flush: every ``tick_seconds`` the due groups go through the pipeline into the outboxes,
  and the due subscription digests (:mod:`alerts.notify.subscriptions`) with them.
- deliver: one :class:`Deliverer` a receiver.

Run one or more: Kafka shares the alert partitions, WATCH keeps a group's flush to one
process, and the outbox's consumer group shares the deliveries. Any loop that fails stops
the service (exit status 1) rather than leaving it half-working.

Except for a Redis outage (``alerts.redis_client.OUTAGE``), which every loop waits out: it
counts the failure, pauses (backoff up to ``REDIS_BACKOFF_CAP`` seconds) and tries again. The
consumers seek back to the batch they could not store and read it again, so no offset is
committed past an event the outbox does not hold; the flusher's transactions either
happened or did not; a deliverer whose receiver took a notification retries recording
that until Redis answers, so the notification is not sent again. Notify needs a Redis that
keeps its data across a restart (append-only file, as compose runs it): the outbox, the
groups and the idempotency keys live only there.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from alerts.notify.config import NotifyConfig
from alerts.notify.metrics import NotifyMetrics
from alerts.notify.outbox import Deliverer, RetryPolicy
from alerts.notify.pipeline import Pipeline
from alerts.notify.receivers import Receiver, build
from alerts.notify.routing import RoutingTree
from alerts.notify.silences import Silences
from alerts.notify.subscriptions import Digests, Live, SubscriptionStore
from alerts.notify.tickets import TicketMatches
from alerts.redis_client import OUTAGE, Backoff, RedisHealth

log = logging.getLogger("earlywarn.notify")
#: Seconds at most between tries while Redis is away; well under the consumer's poll
#: interval, so the consumer stays in its group through an outage.
REDIS_BACKOFF_CAP = 2.0


def parse_events(values: list[bytes | None]) -> tuple[list[dict[str, Any]], int]:
    """Alert events in Kafka message values, and how many were not usable (skipped, counted)."""
    events, bad = [], 0
    for v in values:
        try:
            ev = json.loads(v or b"")
            if not isinstance(ev, dict) or not {"alert_id", "type", "status", "severity", "subject"} <= ev.keys():
                raise ValueError("not an alert event")
            events.append(ev)
        except ValueError:
            bad += 1
    return events, bad


def rewind(consumer: Any, batches: Mapping[Any, list[Any]]) -> None:
    """Seek each partition of a polled batch back to its first record (those still assigned),
    so the next poll reads the batch again."""
    owned = consumer.assignment()
    for tp, records in batches.items():
        if records and tp in owned:
            consumer.seek(tp, records[0].offset)


class NotifyService:
    def __init__(self, config: NotifyConfig, tree: RoutingTree, client: redis.Redis | None = None,
                 metrics: NotifyMetrics | None = None, receivers: Mapping[str, Receiver] | None = None) -> None:
        self.config = config
        self.tree = tree
        self.r = client or redis.Redis.from_url(config.redis_url)
        self.metrics = metrics or NotifyMetrics()
        self.redis = RedisHealth(self.metrics.redis_errors, self.metrics.redis_up)
        self.stop = threading.Event()
        self.silences = Silences(self.r, config.prefix, config.remember_days)
        self.pipeline = Pipeline(self.r, config.prefix, tree, self.silences, config.remember_days)
        store = SubscriptionStore(self.r, config.prefix)
        self.subscriptions = Live(store, config.subscription_poll_seconds)
        self.digests = Digests(self.r, config.prefix, store, tree.receivers, config.subscription_wait_seconds,
                               config.subscription_interval_seconds, config.subscription_digest_max,
                               config.remember_days)
        self.tickets = TicketMatches(self.r, config.prefix, self.subscriptions,
                                     wait=config.subscription_wait_seconds,
                                     interval=config.subscription_interval_seconds,
                                     digest_max=config.subscription_digest_max,
                                     max_bytes=config.max_message_bytes,
                                     max_future_seconds=config.max_future_seconds)
        self._consumers: list[Any] = []
        self.receivers = dict(receivers or {name: build(spec, config.link_base, config.http_timeout)
                                            for name, spec in tree.receivers.items()})
        policy = RetryPolicy(config.max_attempts, config.backoff_seconds, config.backoff_max_seconds)
        self.deliverers = [Deliverer(self.r, config.prefix, rec, config.consumer_name, policy, self.metrics,
                                     config.remember_days, config.claim_idle_seconds, self.redis, self.stop)
                           for rec in self.receivers.values()]
        self.errors: list[BaseException] = []

    # ---- loops ----------------------------------------------------------------------------

    def _guard(self, name: str, body: Callable[[], None], operation: str = "write") -> threading.Thread:
        def run() -> None:
            backoff = Backoff(cap=REDIS_BACKOFF_CAP)
            try:
                while not self.stop.is_set():
                    try:
                        body()
                    except OUTAGE as exc:  # wait it out: the body left nothing half-done
                        self.redis.failed(operation, exc)
                        self.stop.wait(backoff.next())
                        continue
                    if not self.redis.up:
                        self.redis.answered()
                    backoff.reset()
            except BaseException as exc:  # noqa: BLE001 - reported, and the service stops
                log.exception("notify: the %s loop failed", name)
                self.errors.append(exc)
                self.stop.set()

        t = threading.Thread(target=run, name=f"notify-{name}", daemon=True)
        t.start()
        return t

    def _consuming(self, topic: str, group_id: str, client_id: str,
                   store: Callable[[list[Any]], Callable[[], None]]) -> Callable[[], None]:
        """A loop's step over *topic* in consumer group *group_id*: poll a batch, *store* its
        message values in Redis, and only then commit its offsets and call what *store*
        returned (the batch's counts). Storing must be idempotent: a Redis outage rewinds the
        batch, read again once Redis is back, and a crash before the commit reads it again."""
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(topic, bootstrap_servers=self.config.broker, group_id=group_id,
                                 enable_auto_commit=False, auto_offset_reset="earliest", client_id=client_id,
                                 session_timeout_ms=int(self.config.session_timeout * 1000),
                                 heartbeat_interval_ms=int(self.config.session_timeout * 1000 / 3),
                                 max_poll_interval_ms=int(self.config.rebalance_timeout * 1000))
        self._consumers.append(consumer)

        def step() -> None:
            batches = consumer.poll(timeout_ms=500, max_records=500)
            if not batches:
                return
            try:
                counted = store([rec.value for recs in batches.values() for rec in recs])
            except OUTAGE:
                rewind(consumer, batches)
                raise
            consumer.commit()
            counted()

        return step

    def _store_alerts(self, values: list[Any]) -> Callable[[], None]:
        """Alert events into the pipeline's first stage, and their subscription matches queued."""
        events, bad = parse_events(values)
        self.pipeline.ingest(events)
        self.digests.offer_alerts(self.subscriptions, events)

        def counted() -> None:
            self.metrics.events.labels("stored").inc(len(events))
            if bad:
                self.metrics.events.labels("invalid").inc(bad)
                log.warning("notify: skipped %d messages that are not alert events", bad)

        return counted

    def _store_tickets(self, values: list[Any]) -> Callable[[], None]:
        """Tickets matched against the keyword subscriptions, the matches queued (:mod:`alerts.notify.tickets`)."""
        got = self.tickets.take(values)

        def counted() -> None:
            self.metrics.tickets.labels("checked").inc(got.tickets)
            self.metrics.tickets.labels("invalid").inc(got.invalid)

        return counted

    def _consume_loop(self) -> Callable[[], None]:
        return self._consuming(self.config.topic_alerts, self.config.group_id, "earlywarn-notify", self._store_alerts)

    def _tickets_loop(self) -> Callable[[], None]:
        return self._consuming(self.config.topic_tickets, self.config.tickets_group, "earlywarn-notify-tickets",
                               self._store_tickets)

    def _flush_step(self) -> None:
        stats = self.pipeline.flush_due()
        self.metrics.notifications.inc(stats.notifications)
        digests = self.digests.flush_due()
        self.metrics.notifications.inc(digests.notifications)
        self.metrics.subscription_digests.inc(digests.notifications)
        for source, n in digests.matches.items():
            self.metrics.subscription_matches.labels(source).inc(n)
        for reason, n in stats.muted.items():
            self.metrics.muted.labels(reason).inc(n)
        depth: dict[str, int] = {}
        for d in self.deliverers:
            depth[d.receiver.kind] = depth.get(d.receiver.kind, 0) + d.depth()
        for kind, n in depth.items():
            self.metrics.queue.labels(kind).set(n)
        self.metrics.dead.set(self.r.xlen(f"{self.config.prefix}:deadletter"))
        self.stop.wait(self.config.tick_seconds)

    def start(self, consume: bool = True) -> list[threading.Thread]:
        threads = [self._guard("flush", self._flush_step)]
        for d in self.deliverers:
            threads.append(self._guard(f"deliver-{d.receiver.name}", lambda d=d: d.run_once(block_ms=200) or None,
                                       "read"))
        if consume:
            threads.append(self._guard("consume", self._consume_loop()))
            threads.append(self._guard("tickets", self._tickets_loop()))
        return threads

    def close(self) -> None:
        """Leave the Kafka consumer groups (without committing: what was not acknowledged is read again)."""
        for consumer in self._consumers:
            consumer.close(autocommit=False)
        self._consumers = []

    def run(self, serve_metrics: bool = True) -> int:
        """Until SIGTERM or SIGINT; 0, or 1 when a loop failed."""
        if serve_metrics:
            from prometheus_client import start_http_server

            start_http_server(self.config.metrics_port, self.config.metrics_host, registry=self.metrics.registry)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        threads = self.start()
        while not self.stop.is_set():
            self.stop.wait(0.5)
        deadline = time.monotonic() + 10
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self.close()
        return 1 if self.errors else 0
