"""Keyword subscriptions in Redis: the subscriptions, their pending matches, and digests into the outbox.

What matches is decided by :mod:`detectors.watchlist` (pure); this module keeps the state
and turns matches into notifications. Keys, under notify's prefix:

    subs              hash: subscription id -> JSON (kind, value, receiver, who, created_at)
    subs:version      a counter bumped by every change: notify polls it (``Live``) and
                      rebuilds its watchlist when it moves, without a restart
    sub:pending:<id>  list: the subscription's matches not yet told (JSON events), capped at
                      ``MAX_PENDING`` (the oldest go first when a flood overflows it)
    sub:due           sorted set: when each subscription's next digest is due
    sub:last:<id>     when its last digest went out
    sub:unlisted:<id> matches notify counted beyond what the digests can list (reported
                      in the next digest as a number)
    sub:told:<key>    a match already put in a digest (kept ``remember_days``)

Rate limit and digests: a subscription's first match waits ``wait`` seconds for company,
then everything pending (at most ``max_items``) goes as one notification; the next digest
follows at least ``interval`` seconds later, with whatever came meanwhile. So a
subscription sends at most one notification per ``interval`` however hot its word, and a
receiver's own limit (the robots' 20 a minute) still applies in the outbox. Every match
is told once: its key (subscription, ticket; or subscription, alert, status, severity) is
remembered when its digest enters the outbox, in the same transaction, and the outbox's
idempotency keys keep a re-drive from telling it twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import redis

from alerts.notify.pipeline import outbox_key
from detectors.watchlist import Sub, Watchlist, check

log = logging.getLogger("earlywarn.notify")

MAX_PENDING = 1000


class SubscriptionStore:
    """The subscriptions themselves: add, list, remove; every change bumps the version."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.r = client
        self.prefix = prefix
        self._subs = f"{prefix}:subs"
        self._version = f"{prefix}:subs:version"

    def add(self, kind: str, value: str, receiver: str, who: str, now: float | None = None) -> Sub:
        """A new subscription; ValueError when the kind or value is unusable or *who* is empty."""
        if not who.strip():
            raise ValueError("say who subscribes (--who)")
        if not receiver.strip():
            raise ValueError("name the receiver that hears the matches (--receiver, as in the routing file)")
        s = Sub(uuid.uuid4().hex[:12], kind, check(kind, value), receiver.strip(), who.strip(),
                time.time() if now is None else now)
        p = self.r.pipeline(transaction=True)
        p.hset(self._subs, s.id, json.dumps(asdict(s), ensure_ascii=False))
        p.incr(self._version)
        p.execute()
        return s

    def remove(self, sub_id: str) -> bool:
        p = self.r.pipeline(transaction=True)
        p.hdel(self._subs, sub_id)
        p.delete(f"{self.prefix}:sub:pending:{sub_id}", f"{self.prefix}:sub:last:{sub_id}",
                 f"{self.prefix}:sub:unlisted:{sub_id}")
        p.zrem(f"{self.prefix}:sub:due", sub_id)
        p.incr(self._version)
        removed = p.execute()[0]
        return bool(removed)

    def get(self, sub_id: str) -> Sub | None:
        raw = self.r.hget(self._subs, sub_id)
        return Sub(**json.loads(raw)) if raw else None

    def all(self) -> list[Sub]:
        return sorted((Sub(**json.loads(v)) for v in self.r.hvals(self._subs)), key=lambda s: (s.created_at, s.id))

    def version(self) -> int:
        return int(self.r.get(self._version) or 0)


class Live:
    """The current watchlist, rebuilt when the store's version moves (checked every *poll* seconds)."""

    def __init__(self, store: SubscriptionStore, poll: float = 5.0) -> None:
        self.store = store
        self.poll = poll
        self.watchlist = Watchlist(())
        self._version = -1
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def refresh(self, now: float | None = None) -> Watchlist:
        """The watchlist, reloaded first when a poll is due and the version moved."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now - self._checked >= self.poll:
                self._checked = now
                version = self.store.version()
                if version != self._version:
                    self.watchlist = Watchlist(self.store.all())
                    self._version = version
        return self.watchlist


def match_key(event: Mapping[str, Any]) -> str:
    """The idempotency key of a match: its subscription and what it matched (the event's id)."""
    return f"sub|{event['subscription']['id']}|{event['alert_id']}"


def enqueue(client: redis.Redis, prefix: str, events: Iterable[Mapping[str, Any]], wait: float,
            now: float | None = None, unlisted: Mapping[str, int] | None = None) -> int:
    """Add ``subscription_match`` events to their subscriptions' pending lists, and count
    *unlisted* matches (subscription id -> how many matched beyond what notify lists); how
    many events were added. One transaction: a batch read again after a failure is queued
    whole or not at all (the digests tell a match queued twice once)."""
    now = time.time() if now is None else now
    by_sub: dict[str, list[bytes]] = {}  # a batch holds many matches of few subscriptions
    for ev in events:
        by_sub.setdefault(ev["subscription"]["id"], []).append(orjson.dumps(ev))
    p = client.pipeline(transaction=True)
    for sid, k in (unlisted or {}).items():
        p.incrby(f"{prefix}:sub:unlisted:{sid}", k)
    for sid, values in by_sub.items():
        key = f"{prefix}:sub:pending:{sid}"
        p.rpush(key, *values)
        p.ltrim(key, -MAX_PENDING, -1)
    due = dict.fromkeys([*(unlisted or {}), *by_sub], now + wait)
    if due:
        p.zadd(f"{prefix}:sub:due", due, nx=True)
        p.execute()
    return sum(map(len, by_sub.values()))


@dataclass
class DigestStats:
    notifications: int = 0
    matches: dict[str, int] = field(default_factory=lambda: {"ticket": 0, "alert": 0})
    unroutable: int = 0


class Digests:
    """Due subscriptions' pending matches into their receivers' outboxes, one digest each."""

    def __init__(self, client: redis.Redis, prefix: str, store: SubscriptionStore, receivers: Iterable[str],
                 wait: float = 30.0, interval: float = 300.0, max_items: int = 20,
                 remember_days: float = 30.0) -> None:
        self.r = client
        self.prefix = prefix
        self.store = store
        self.receivers = frozenset(receivers)
        self.wait = wait
        self.interval = interval
        self.max_items = max_items
        self.remember = int(remember_days * 86400)
        self._due = f"{prefix}:sub:due"

    def offer_alerts(self, live: Live, events: Sequence[Mapping[str, Any]], now: float | None = None) -> int:
        """Match alert events against the subscriptions and queue the matches; how many."""
        from detectors.watchlist import alert_match

        wl = live.refresh()
        if not wl:
            return 0
        found = [alert_match(sub, words, ev) for ev in events if ev.get("type") != "subscription_match"
                 and ev.get("status") != "resolved" for sub, words in wl.match_alert(ev)]
        return enqueue(self.r, self.prefix, found, self.wait, now)

    def flush_due(self, now: float | None = None, limit: int = 200) -> DigestStats:
        now = time.time() if now is None else now
        stats = DigestStats()
        for sid in [s.decode() for s in self.r.zrangebyscore(self._due, "-inf", now, start=0, num=limit)]:
            try:
                self._flush(sid, now, stats)
            except redis.WatchError:
                continue  # a match arrived meanwhile, or another notify took it: next tick
        return stats

    def _flush(self, sid: str, now: float, stats: DigestStats) -> None:
        pending = f"{self.prefix}:sub:pending:{sid}"
        last_key = f"{self.prefix}:sub:last:{sid}"
        with self.r.pipeline(transaction=True) as p:
            p.watch(pending, self._due)
            sub = self.store.get(sid)
            if sub is None:  # removed meanwhile: its matches go with it
                p.multi()
                p.delete(pending)
                p.zrem(self._due, sid)
                p.execute()
                return
            last = float(p.get(last_key) or 0)
            if now < last + self.interval:  # told recently: the next digest waits its turn
                p.multi()
                p.zadd(self._due, {sid: last + self.interval})
                p.execute()
                return
            if sub.receiver not in self.receivers:
                stats.unroutable += 1
                log.warning("notify: subscription %s names receiver %r, which the routing file does not define; "
                            "its matches wait", sid, sub.receiver)
                p.multi()
                p.zadd(self._due, {sid: now + self.interval})
                p.execute()
                return
            unlisted_key = f"{self.prefix}:sub:unlisted:{sid}"
            unlisted = int(p.get(unlisted_key) or 0)
            raw = p.lrange(pending, 0, self.max_items - 1)
            left = int(p.llen(pending)) - len(raw)
            events: dict[str, dict[str, Any]] = {}
            for x in raw:
                ev = json.loads(x)
                events.setdefault(match_key(ev), ev)
            keys = list(events)
            told = p.mget([f"{self.prefix}:sub:told:{k}" for k in keys]) if keys else []
            fresh = [(k, events[k]) for k, t in zip(keys, told, strict=True) if not t]
            p.multi()
            if unlisted and fresh:
                last_ev = fresh[-1][1]
                last_ev["summary"] += f"（此期间另有{unlisted}条工单命中此订阅，未逐条列出）"
                last_ev["unlisted"] = unlisted
            if unlisted and fresh:  # told: the count starts again (a count alone waits for a listed match)
                p.decrby(unlisted_key, unlisted)
            if fresh:
                note_keys = [k for k, _ in fresh]
                nid = hashlib.sha256("\n".join([sub.receiver, *note_keys]).encode()).hexdigest()[:24]
                note = {"id": nid, "receiver": sub.receiver, "group_key": f"subscription:{sid}",
                        "group_labels": {"subscription": sid, "kind": sub.kind, "value": sub.value},
                        "status": "firing", "alerts": [{"change": "new", "event": ev} for _, ev in fresh],
                        "keys": note_keys, "created_at": now, "pending": left, "unlisted": unlisted}
                p.xadd(outbox_key(self.prefix, sub.receiver), {"note": json.dumps(note, ensure_ascii=False)})
                for k in note_keys:
                    p.set(f"{self.prefix}:sub:told:{k}", nid, ex=self.remember)
                p.set(last_key, now, ex=max(1, int(self.interval * 2)))
                stats.notifications += 1
                for _, ev in fresh:
                    src = ev.get("match", {}).get("source", "ticket")
                    stats.matches[src] = stats.matches.get(src, 0) + 1
            p.ltrim(pending, len(raw), -1)
            if left > 0:
                p.zadd(self._due, {sid: now + self.interval})
            else:
                p.zrem(self._due, sid)
            p.execute()
