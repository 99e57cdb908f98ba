"""Silences and acknowledgements, kept in Redis.

A silence mutes every alert its matchers select, from now until ``until``, and says who
set it and why (Alertmanager's ``silence/``). An acknowledgement says someone is on an
alert: it is not re-notified (no repeats, no updates at its severity or below) until it
escalates past the severity it had when acknowledged; its resolution is still told.

Keys, under the service's prefix: ``silence:<id>`` (JSON) with ``silences`` (a sorted set
by end time), and ``ack:<alert_id>`` (JSON, kept ``remember_days``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis

from alerts.notify.labels import SEVERITY_RANK, Matcher, matches_all, parse_matcher


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[str, ...]
    who: str
    why: str
    starts: float
    until: float

    def parsed(self) -> tuple[Matcher, ...]:
        return tuple(parse_matcher(m) for m in self.matchers)


@dataclass(frozen=True)
class Ack:
    alert_id: str
    who: str
    why: str
    severity: str
    at: float

    def holds(self, severity: str) -> bool:
        """Whether an event at *severity* is still covered (it has not escalated past the ack)."""
        return SEVERITY_RANK.get(severity, 0) <= SEVERITY_RANK.get(self.severity, 0)


class Silences:
    def __init__(self, client: redis.Redis, prefix: str, remember_days: float = 30.0) -> None:
        self.r = client
        self.prefix = prefix
        self.remember = int(remember_days * 86400)

    def add(self, matchers: Sequence[str], who: str, why: str, until: float, now: float | None = None) -> Silence:
        """A new silence; ValueError when a matcher is malformed or it would end before it starts."""
        now = time.time() if now is None else now
        if not matchers:
            raise ValueError("a silence needs at least one matcher (e.g. firm=91310115MA1K3ABCD8)")
        parsed = tuple(str(parse_matcher(m)) for m in matchers)
        if until <= now:
            raise ValueError("the silence would end before it starts")
        if not who.strip() or not why.strip():
            raise ValueError("say who sets the silence and why")
        s = Silence(uuid.uuid4().hex[:12], parsed, who, why, now, until)
        p = self.r.pipeline()
        p.set(f"{self.prefix}:silence:{s.id}", json.dumps(asdict(s), ensure_ascii=False),
              exat=int(until) + self.remember)
        p.zadd(f"{self.prefix}:silences", {s.id: until})
        p.execute()
        return s

    def expire(self, silence_id: str, now: float | None = None) -> bool:
        """End a silence now; False when there is no such active silence."""
        now = time.time() if now is None else now
        return bool(self.r.zadd(f"{self.prefix}:silences", {silence_id: now}, xx=True, ch=True))

    def active(self, now: float | None = None) -> list[Silence]:
        now = time.time() if now is None else now
        ids = self.r.zrangebyscore(f"{self.prefix}:silences", now, "+inf")
        if not ids:
            return []
        raw = self.r.mget([f"{self.prefix}:silence:{i.decode()}" for i in ids])
        return [s for s in (Silence(**{**json.loads(x), "matchers": tuple(json.loads(x)["matchers"])})
                            for x in raw if x) if s.starts <= now]

    def silencing(self, labels: Mapping[str, str], active: Sequence[Silence]) -> Silence | None:
        for s in active:
            if matches_all(s.parsed(), labels):
                return s
        return None

    # ---- acknowledgements ---------------------------------------------------------------

    def ack(self, alert_id: str, who: str, why: str, severity: str, now: float | None = None) -> Ack:
        if severity not in SEVERITY_RANK:
            raise ValueError(f"severity {severity!r}: expected info, warning or critical")
        a = Ack(alert_id, who, why, severity, time.time() if now is None else now)
        self.r.set(f"{self.prefix}:ack:{alert_id}", json.dumps(asdict(a), ensure_ascii=False), ex=self.remember)
        return a

    def acks(self, alert_ids: Sequence[str]) -> dict[str, Ack]:
        if not alert_ids:
            return {}
        raw = self.r.mget([f"{self.prefix}:ack:{a}" for a in alert_ids])
        return {a: Ack(**json.loads(x)) for a, x in zip(alert_ids, raw, strict=True) if x}


def describe(s: Silence | Ack) -> dict[str, Any]:
    return asdict(s)
