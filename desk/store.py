"""Alert state and timelines in Redis, rebuilt from the alerts topic (contract v1).

Every alert event is folded in by :meth:`AlertStore.apply`, which is idempotent and
independent of order: replaying the topic, or a batch the consumer read twice, changes
nothing and announces nothing. Any consumer of the ``alerts`` topic can keep the same
view; the recipe, which is exactly what this module does:

1. Read ``alerts`` in your own consumer group from the earliest offset; commit a batch's
   offsets only after it is stored (at least once; the fold below makes twice harmless).
2. An alert's **timeline** is the set of its distinct events. Key each event by its
   canonical JSON (sorted keys), order by ``raised_at`` then status (open < update <
   resolved): a repeated event is the same member and adds nothing.
3. Its **current state** is the event greatest by ``(raised_at, status, observed,
   digest)``. Comparing instead of overwriting makes the fold commutative, so late or
   repeated deliveries never move an alert backwards.
4. Index the current state by the fields you filter on, scored by its ``raised_at``.

Keys under the desk's prefix ``P``:

- ``P:alert:<id>`` hash: ``event`` (current event JSON), ``order`` (its sort key), ``first``
  (the earliest ``raised_at`` seen, epoch seconds);
- ``P:timeline:<id>`` sorted set: canonical event JSON by ``raised_at`` (+ status / 10);
- ``P:by_time`` sorted set of every alert id by its current ``raised_at``, and
  ``P:idx:<field>:<value>`` the same restricted to a type, severity, status, district
  (``-`` when none) or dimension;
- ``P:text`` hash: id to the lower-cased text searched (label, key, summary, top terms);
- ``P:feed`` stream of new events (``alert_id``, ``district``, ``event``), capped, for the
  live console and API (server-sent events resume from its ids).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import redis

STATUS_RANK = {"open": 0, "update": 1, "resolved": 2}
INDEXED = ("type", "severity", "status", "district", "dimension")
REQUIRED = frozenset({"alert_id", "type", "status", "severity", "subject", "raised_at"})
NO_DISTRICT = "-"


class NotAnAlert(ValueError):
    """A message that is not an alert-contract-v1 event."""


def canonical(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339).timestamp()


def parse_event(raw: bytes | str | dict[str, Any] | None) -> dict[str, Any]:
    """An alert event from a Kafka value; NotAnAlert when it is not one."""
    try:
        ev = raw if isinstance(raw, dict) else orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise NotAnAlert(f"not JSON: {exc}") from None
    if not isinstance(ev, dict) or not REQUIRED <= ev.keys() or not isinstance(ev.get("subject"), dict):
        raise NotAnAlert("not an alert event (alert_id, type, status, severity, subject, raised_at)")
    try:
        epoch(ev["raised_at"])
    except (TypeError, ValueError):
        raise NotAnAlert(f"raised_at {ev.get('raised_at')!r} is not RFC 3339") from None
    return ev


def index_values(ev: dict[str, Any]) -> dict[str, str]:
    return {"type": str(ev["type"]), "severity": str(ev["severity"]), "status": str(ev["status"]),
            "district": str(ev.get("district_code") or NO_DISTRICT), "dimension": str(ev["subject"].get("dimension"))}


def search_text(ev: dict[str, Any]) -> str:
    s = ev["subject"]
    return "\n".join([str(s.get("label", "")), str(s.get("key", "")), str(ev.get("summary", "")),
                      " ".join(map(str, ev.get("top_terms") or ()))]).lower()


def _order(ev: dict[str, Any], canon: bytes) -> list[Any]:
    return [epoch(ev["raised_at"]), STATUS_RANK.get(ev["status"], 0), int(ev.get("observed") or 0),
            hashlib.sha256(canon).hexdigest()]


@dataclass(frozen=True)
class Applied:
    new: int = 0  # events not seen before
    duplicate: int = 0  # events already in their timeline
    changed: int = 0  # alerts whose current state moved


@dataclass(frozen=True, kw_only=True)
class AlertQuery:
    """What the list shows; every field narrows it (lists are alternatives)."""

    type: Sequence[str] = ()
    severity: Sequence[str] = ()
    status: Sequence[str] = ()
    district: Sequence[str] = ()
    dimension: Sequence[str] = ()
    since: float | None = None  # current raised_at, epoch seconds, inclusive
    until: float | None = None
    q: str = ""  # text in the label, key, summary or top terms
    subject: str = ""  # text in the subject's label or key (a firm, a product)
    visible: Sequence[str] | None = None  # the districts the reader may see; None: all


@dataclass
class Page:
    total: int
    items: list[dict[str, Any]] = field(default_factory=list)


class AlertStore:
    def __init__(self, client: redis.Redis, prefix: str, feed_max: int = 10000) -> None:
        self.r = client
        self.p = prefix
        self.feed_max = feed_max

    def key(self, *parts: str) -> str:
        return ":".join((self.p, *parts))

    @property
    def feed(self) -> str:
        return self.key("feed")

    # ---- folding events in -------------------------------------------------------------

    def apply(self, events: Iterable[dict[str, Any]]) -> Applied:
        """Fold alert events into the store (one transaction, retried on a concurrent write)."""
        events = list(events)
        if not events:
            return Applied()
        ids = sorted({ev["alert_id"] for ev in events})
        watched = [self.key("alert", i) for i in ids] + [self.key("timeline", i) for i in ids]
        with self.r.pipeline() as tx:
            while True:
                try:
                    tx.watch(*watched)
                    return self._apply(tx, events, ids)
                except redis.WatchError:
                    continue

    def _apply(self, tx: redis.client.Pipeline, events: list[dict[str, Any]], ids: list[str]) -> Applied:
        canons = [canonical(ev) for ev in events]
        read = self.r.pipeline(transaction=False)
        for i in ids:
            read.hmget(self.key("alert", i), "order", "event", "first")
        for ev, c in zip(events, canons, strict=True):
            read.zscore(self.key("timeline", ev["alert_id"]), c)
        got = read.execute()
        current: dict[str, tuple[list[Any] | None, dict[str, Any] | None]] = {
            i: (orjson.loads(o) if o else None, orjson.loads(e) if e else None) for i, (o, e, _) in zip(ids, got, strict=False)}
        first = {i: float(f) if f else None for i, (_, _, f) in zip(ids, got, strict=False)}
        start, start_first = dict(current), dict(first)
        known = {c for c, score in zip(canons, got[len(ids):], strict=True) if score is not None}
        new, dup = [], 0
        for ev, c in zip(events, canons, strict=True):
            if c in known:
                dup += 1
                continue
            known.add(c)
            new.append((ev, c))
            order = _order(ev, c)
            aid = ev["alert_id"]
            first[aid] = order[0] if first[aid] is None else min(first[aid], order[0])
            old_order, _ = current[ev["alert_id"]]
            if old_order is None or order > old_order:
                current[ev["alert_id"]] = (order, ev)
        tx.multi()
        for ev, c in new:
            aid = ev["alert_id"]
            tx.zadd(self.key("timeline", aid), {c: epoch(ev["raised_at"]) + STATUS_RANK.get(ev["status"], 0) / 10})
            tx.xadd(self.feed, {"alert_id": aid, "district": ev.get("district_code") or NO_DISTRICT, "event": c},
                    maxlen=self.feed_max, approximate=True)
        for aid in ids:
            if first[aid] != start_first[aid]:
                tx.hset(self.key("alert", aid), "first", first[aid])
        changed = 0
        for aid in ids:
            (order, ev), (_, before) = current[aid], start[aid]
            if ev is None or ev is before:
                continue
            changed += 1
            score = order[0]
            tx.hset(self.key("alert", aid), mapping={"order": orjson.dumps(order), "event": canonical(ev)})
            if before is not None:
                for name, value in index_values(before).items():
                    tx.zrem(self.key("idx", name, value), aid)
            for name, value in index_values(ev).items():
                tx.zadd(self.key("idx", name, value), {aid: score})
            tx.zadd(self.key("by_time"), {aid: score})
            tx.hset(self.key("text"), aid, search_text(ev))
        tx.execute()
        return Applied(new=len(new), duplicate=dup, changed=changed)

    # ---- reading -----------------------------------------------------------------------

    def get(self, alert_id: str) -> dict[str, Any] | None:
        raw = self.r.hget(self.key("alert", alert_id), "event")
        return orjson.loads(raw) if raw else None

    def many(self, alert_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not alert_ids:
            return []
        p = self.r.pipeline(transaction=False)
        for a in alert_ids:
            p.hget(self.key("alert", a), "event")
        return [orjson.loads(x) for x in p.execute() if x]

    def timeline(self, alert_id: str) -> list[dict[str, Any]]:
        return [orjson.loads(x) for x in self.r.zrange(self.key("timeline", alert_id), 0, -1)]

    def first_raised(self, alert_id: str) -> float | None:
        raw = self.r.hget(self.key("alert", alert_id), "first")
        return float(raw) if raw else None

    def count(self) -> int:
        return int(self.r.zcard(self.key("by_time")))

    def query(self, q: AlertQuery, offset: int = 0, limit: int = 50) -> Page:
        """Alerts matching *q*, newest ``raised_at`` first, *limit* from *offset*."""
        tmp: list[str] = []
        sets = [self.key("by_time")]
        try:
            groups: list[Sequence[str]] = [q.type, q.severity, q.status, q.district, q.dimension]
            for name, values in zip(INDEXED, groups, strict=True):
                if values:
                    sets.append(self._combine("union", [self.key("idx", name, v or NO_DISTRICT) for v in values], tmp))
            if q.visible is not None:
                sets.append(self._combine("union", [self.key("idx", "district", v) for v in q.visible], tmp))
            source = self._combine("inter", sets, tmp)
            hi = "+inf" if q.until is None else q.until
            lo = "-inf" if q.since is None else q.since
            needle, subject = q.q.strip().lower(), q.subject.strip().lower()
            if not needle and not subject:
                total = int(self.r.zcount(source, lo, hi))
                ids = [x.decode() for x in self.r.zrevrangebyscore(source, hi, lo, start=offset, num=limit)]
                return Page(total, self.many(ids))
            ids = [x.decode() for x in self.r.zrevrangebyscore(source, hi, lo)]
            texts = self.r.hmget(self.key("text"), ids) if ids else []
            hits = []
            for aid, text in zip(ids, texts, strict=True):
                t = (text or b"").decode()
                if needle and needle not in t:
                    continue
                if subject and subject not in "\n".join(t.split("\n", 2)[:2]):
                    continue
                hits.append(aid)
            return Page(len(hits), self.many(hits[offset:offset + limit]))
        finally:
            if tmp:
                self.r.delete(*tmp)

    def _combine(self, how: str, keys: list[str], tmp: list[str]) -> str:
        """The union or intersection of sorted sets: the one key itself, or a temporary set (listed in *tmp*)."""
        if len(keys) == 1:
            return keys[0]
        dest = self.key("tmp", uuid.uuid4().hex)
        tmp.append(dest)
        p = self.r.pipeline()
        (p.zunionstore if how == "union" else p.zinterstore)(dest, keys, aggregate="MAX")
        p.expire(dest, 60)  # a reader that dies mid-query leaves nothing behind for long
        p.execute()
        return dest

    def feed_tail(self) -> str:
        """The id of the newest feed entry (``0-0`` when empty): where a live reader starts."""
        last = self.r.xrevrange(self.feed, count=1)
        return last[0][0].decode() if last else "0-0"
