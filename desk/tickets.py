"""Ticket display fields: what the desk shows of a ticket, masked, kept as long as an alert may need it.

The desk reads the ``tickets`` topic (contract v1) in a consumer group of its own (the
desk's group id + ``.tickets``) and keeps, for each valid ticket, its **display record**:
id, kind, time, district, firm, product, issue, amount, channel, platform, and its title
and narrative with phone, id and other long numbers, e-mail addresses, the complainant's
own name and name-shaped words masked (``detectors.watchlist.mask``, the same masking as
keyword-subscription excerpts); the complainant only as the keyed pseudonym the workers
use (when ``EARLYWARN_PSEUDONYM_SECRET`` is set; none is shown otherwise). Rejected
tickets are the workers' to dead-letter: the desk skips them.

How long: a ticket is kept ``EARLYWARN_DESK_TICKET_DAYS`` (7) after the desk read it,
long enough for any episode it may join (a day of windows, the lateness, an episode
growing over days), and for as long as the desk keeps an alert that names it as evidence:
an alert's evidence is **pinned** when the alert is stored. Pinning and storing are each
atomic (a Lua script stores a ticket without expiry when it is pinned already; a pin
removes the expiry of a stored ticket), so whichever arrives first, a pinned ticket stays.

Keys under the desk's prefix ``P``: ``P:ticket:<id>`` (the record, JSON), ``P:pinned`` (set
of ticket ids alerts name), ``P:tickets:by_time`` (ticket ids by received time, trimmed to
the same days: what similar-ticket search looks through) and ``P:tickets:signatures`` (hash:
ticket id -> its MinHash signature, 256 bytes, trimmed alike; see ``desk.similar``). ``earlywarn desk-bench
--tickets N`` measures what this costs in Redis (docs/desk.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis

from desk.background import ConsumerThread, group_consumer
from desk.similar import signature, ticket_tokens
from schemas.normalise import firm_key, pseudonym
from schemas.tickets import Rejection, Ticket, decode

# KEYS: the record's key, the pinned set; ARGV: ticket id, record, seconds to keep.
_PUT = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""


class Masker:
    """Display records of tickets; one per process (the segmenter takes ~2 s and ~100 MB to build)."""

    def __init__(self, secret: bytes | None = None) -> None:
        from detectors.text import Segmenter

        self.secret = secret
        self.segmenter = Segmenter()

    def mask(self, text: str | None, own_name: str | None) -> str | None:
        from detectors.watchlist import mask

        if not text:
            return text
        return mask(text, own_name=own_name, cut=self.segmenter.cut, names=self.segmenter.names)

    def record(self, t: Ticket) -> dict[str, Any]:
        person = pseudonym(self.secret, t.complainant_id, t.complainant_phone) if self.secret else None
        return {"ticket_id": t.ticket_id, "kind": str(t.kind), "received_at": t.received_at,
                "district_code": t.district_code, "firm_name": t.firm_name, "firm_key": firm_key(t.firm_id, t.firm_name),
                "product_category": t.product_category, "product_name": t.product_name,
                "issue_category": t.issue_category, "amount": t.amount, "channel": t.channel, "platform": t.platform,
                "title": self.mask(t.title, t.complainant_name), "content": self.mask(t.content, t.complainant_name),
                "complainant": person}


class TicketStore:
    def __init__(self, client: redis.Redis, prefix: str, days: float = 7.0) -> None:
        self.r = client
        self.p = prefix
        self.days = days
        self._put = client.register_script(_PUT)

    def key(self, ticket_id: str) -> str:
        return f"{self.p}:ticket:{ticket_id}"

    @property
    def pinned(self) -> str:
        return f"{self.p}:pinned"

    @property
    def by_time(self) -> str:
        return f"{self.p}:tickets:by_time"

    @property
    def signatures(self) -> str:
        return f"{self.p}:tickets:signatures"

    def put(self, records: Iterable[tuple[dict[str, Any], float, bytes | None]]) -> int:
        """Store display records, each with its received time (epoch s) and similarity signature
        (``desk.similar``); a record stored again replaces itself."""
        keep = int(self.days * 86400)
        p = self.r.pipeline(transaction=False)
        newest = float("-inf")
        n = 0
        for rec, ts, sig in records:
            self._put(keys=[self.key(rec["ticket_id"]), self.pinned], args=[rec["ticket_id"], orjson.dumps(rec), keep],
                      client=p)
            p.zadd(self.by_time, {rec["ticket_id"]: ts})
            if sig is not None:
                p.hset(self.signatures, rec["ticket_id"], sig)
            newest = max(newest, ts)
            n += 1
        p.execute()
        if n:  # search looks through the days kept before the newest ticket (event time: a replay trims alike)
            old = self.r.zrangebyscore(self.by_time, "-inf", f"({newest - keep}")
            if old:
                p = self.r.pipeline()
                p.hdel(self.signatures, *old)
                p.zrem(self.by_time, *old)
                p.execute()
        return n

    def pin(self, ticket_ids: Sequence[str]) -> None:
        """Keep these tickets for as long as the alert naming them is kept (an alert's evidence)."""
        if not ticket_ids:
            return
        p = self.r.pipeline()  # MULTI: atomic against _PUT
        p.sadd(self.pinned, *ticket_ids)
        for t in ticket_ids:
            p.persist(self.key(t))
        p.execute()

    def many(self, ticket_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        if not ticket_ids:
            return []
        return [orjson.loads(x) if x else None for x in self.r.mget([self.key(t) for t in ticket_ids])]

    def get(self, ticket_id: str) -> dict[str, Any] | None:
        return self.many([ticket_id])[0]


def pin_evidence(tickets: TicketStore, events: Iterable[dict[str, Any]]) -> None:
    """Pin the evidence of alert events the desk stores (called by the alert consumer after each batch)."""
    ids = sorted({t for ev in events for t in ev.get("ticket_ids") or ()})
    for start in range(0, len(ids), 1000):
        tickets.pin(ids[start:start + 1000])


class TicketConsumer(ConsumerThread):
    """Reads the tickets topic into :class:`TicketStore`; a thread beside the alert consumer."""

    name = "desk-tickets"

    def __init__(self, settings: Any, tickets: TicketStore, masker: Masker | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.tickets = tickets
        self.masker = masker
        self.stored = self.skipped = 0

    def _clients(self) -> tuple[Any]:
        s = self.settings
        return (group_consumer(s, s.topic_tickets, f"{s.group_id}.tickets", "earlywarn-desk-tickets"),)

    def handle(self, payloads: Iterable[bytes | None]) -> int:
        if self.masker is None:
            self.masker = Masker(self.settings.pseudonym_secret.encode() or None)
        out = []
        for raw in payloads:
            for t in decode(raw or b""):
                if isinstance(t, Rejection):
                    self.skipped += 1
                else:
                    rec = self.masker.record(t)
                    out.append((rec, t.ts, signature(ticket_tokens(rec)).tobytes()))
        self.stored += self.tickets.put(out)
        return len(out)

    def take(self, records: list[Any]) -> None:  # type: ignore[override]
        self.handle(rec.value for rec in records)
