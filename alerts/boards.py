"""Top-10 boards in Redis: sorted sets per period, scope and dimension, counted once per ticket, served as JSON.

Layout under a prefix ``P`` (``detectors/boards.py`` says what counts and how it ranks):

- ``P:board:{kind}:{period}:{scope}:{dimension}``: sorted set, member = key, score = tickets;
- ``P:label:{dimension}``: hash, key -> label (the least spelling seen, as in the pure core);
- ``P:counted:{day}``: set of ticket ids already counted, by the ticket's local day.

One Lua script counts a ticket: it adds the ticket id to its day's ``counted`` set and
only when that is new increments every counter the ticket touches. So a ticket
delivered twice (a restart replaying the delta topic, a rebalance) counts once, and two
workers counting disjoint partitions sum to what one would count. Every key is given an
expiry on each write (``RETENTION_SECONDS``: the period and the one after it, which
compares to it, plus a margin; the ``counted`` sets as long as a day board). Firm names
are Redis data served as JSON here, never Prometheus labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import redis

from detectors.boards import (
    RETENTION_SECONDS,
    TOP,
    BoardTicket,
    compose,
    entries,
    period_of,
    previous,
)

_COUNT = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local zkey = ARGV[4 + 5 * i]
  local member = ARGV[5 + 5 * i]
  local ttl = tonumber(ARGV[6 + 5 * i])
  local hkey = ARGV[7 + 5 * i]
  local label = ARGV[8 + 5 * i]
  redis.call('ZINCRBY', zkey, 1, member)
  redis.call('EXPIRE', zkey, ttl)
  local old = redis.call('HGET', hkey, member)
  if (not old) or label < old then redis.call('HSET', hkey, member, label) end
  redis.call('EXPIRE', hkey, ttl)
end
return 1
"""
# Lua compares strings bytewise: for UTF-8 that is code point order, as Python's str < is.


class RedisBoards:
    """The boards in Redis under *prefix*; ``add`` counts tickets, ``board`` serves one."""

    def __init__(self, client: redis.Redis, prefix: str = "earlywarn") -> None:
        self.client = client
        self.prefix = prefix
        self._count = client.register_script(_COUNT)

    def _zkey(self, kind: str, period: str, scope: str, dim: str) -> str:
        return f"{self.prefix}:board:{kind}:{period}:{scope}:{dim}"

    def add(self, tickets: Iterable[BoardTicket]) -> int:
        """Count tickets (each once, whatever is redelivered); how many were new. Pipelined."""
        pipe = self.client.pipeline(transaction=False)
        n = 0
        for t in tickets:
            es = entries(t)
            if not es:
                continue
            args: list[Any] = [t.ticket_id, RETENTION_SECONDS["day"], len(es)]
            for kind, period, scope, dim, key, label in es:
                args += [self._zkey(kind, period, scope, dim), key, RETENTION_SECONDS[kind],
                         f"{self.prefix}:label:{dim}", label]
            self._count(keys=[f"{self.prefix}:counted:{period_of(t.ts, 'day')}"], args=args, client=pipe)
            n += 1
        return sum(int(x) for x in pipe.execute()) if n else 0

    def _top(self, zkey: str, n: int) -> list[tuple[str, int]]:
        """Top *n* by count then key: the n-th score's ties are all read, then ordered by key."""
        head = self.client.zrevrange(zkey, n - 1, n - 1, withscores=True)
        if head:
            rows = self.client.zrangebyscore(zkey, head[0][1], "+inf", withscores=True)
        else:
            rows = self.client.zrange(zkey, 0, -1, withscores=True)
        ranked = sorted(((m.decode(), int(s)) for m, s in rows), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:n]

    def board(self, kind: str, period: str, scope: str, dimension: str, n: int = TOP) -> dict[str, Any]:
        """One board as a dict (``detectors.boards.compose``): the top *n* with the change against the previous period."""
        top = self._top(self._zkey(kind, period, scope, dimension), n)
        prev_key = self._zkey(kind, previous(period, kind), scope, dimension)
        before_top = self._top(prev_key, n)
        keys = [k for k, _ in top]
        before = dict(zip(keys, (int(s or 0) for s in self.client.zmscore(prev_key, keys)))) if keys else {}
        labels: dict[str, str] = {}
        if keys:
            got = self.client.hmget(f"{self.prefix}:label:{dimension}", keys)
            labels = {k: v.decode() for k, v in zip(keys, got) if v is not None}
        ranks = {k: i for i, (k, _) in enumerate(before_top, start=1)}
        return compose(kind, period, scope, dimension, top, before, ranks, labels)

    def board_json(self, kind: str, period: str, scope: str, dimension: str, n: int = TOP) -> bytes:
        """The board as JSON bytes, for the duty desk and Grafana's JSON data source."""
        return orjson.dumps(self.board(kind, period, scope, dimension, n))

    def board_at(self, kind: str, ts: float, scope: str, dimension: str, n: int = TOP) -> dict[str, Any]:
        """The board of the period holding event time *ts*."""
        return self.board(kind, period_of(ts, kind), scope, dimension, n)
