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

A worker counts through a :class:`BoardWriter`: ingest hands it each batch's tickets and
goes on (no I/O on the event loop); its thread writes them, and while Redis is away or slow
it keeps them (at most ``limit``, the oldest dropped and counted beyond that) and tries
again with backoff, so the boards catch up exactly when Redis is back. Counting twice is
harmless (the Lua dedup), so a batch whose write failed half-way is simply written again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
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
from alerts.redis_client import Backoff, RedisHealth, ride_out

log = logging.getLogger("earlywarn.boards")

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


class BoardWriter:
    """Counts tickets into *boards* from a thread of its own (see the module docstring).

    *dropped* is a Prometheus counter of tickets dropped from a full queue (never counted on
    the boards); *health* tells whether Redis answers and counts failed writes.
    """

    def __init__(self, boards: RedisBoards, health: RedisHealth, limit: int = 100_000, dropped: Any = None,
                 batch: int = 2000) -> None:
        self.boards = boards
        self.health = health
        self.limit = limit
        self.batch = batch
        self._dropped = dropped
        self._queue: deque[BoardTicket] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writing = 0  # tickets taken from the queue and not yet written
        self._thread: threading.Thread | None = None

    def offer(self, tickets: Sequence[BoardTicket]) -> None:
        """Ingest's call: queue a batch's tickets and return (no I/O)."""
        if not tickets:
            return
        with self._lock:
            self._queue.extend(tickets)
            over = len(self._queue) - self.limit
            for _ in range(max(0, over)):
                self._queue.popleft()
        if over > 0:
            if self._dropped is not None:
                self._dropped.inc(over)
            log.warning("boards: %d tickets dropped (%d queued while Redis does not answer): the boards will "
                        "miss them", over, self.limit)
        self._wake.set()

    @property
    def pending(self) -> int:
        """Tickets offered and not yet written."""
        return len(self._queue) + self._writing

    def start(self) -> BoardWriter:
        self._thread = threading.Thread(target=self._run, name="earlywarn-boards", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            with self._lock:
                take = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
                self._writing = len(take)
            if not take:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            written = ride_out(lambda: self.boards.add(take), self.health, "write", self._stop, backoff)
            if written is None:  # stopped while Redis was away: put them back for close() to report
                with self._lock:
                    self._queue.extendleft(reversed(take))
            else:
                backoff.reset()
            self._writing = 0

    def close(self, timeout: float = 5.0) -> int:
        """Wait up to *timeout* seconds for the queue to be written, then stop; how many tickets
        were left unwritten (lost from the boards, and logged)."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline and self._thread is not None and self._thread.is_alive():
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)
        left = self.pending
        if left:
            log.warning("boards: stopping with %d tickets not yet written to Redis: the boards will miss them", left)
        return left


def start_writer(settings: Any, health: RedisHealth, dropped: Any = None) -> BoardWriter:
    """A started writer for a worker's *settings* (``streams.settings.Settings``); Redis need
    not answer yet. At exit it is given a few seconds to write what it holds."""
    import atexit

    from alerts.redis_client import client

    w = BoardWriter(RedisBoards(client(settings.redis_url, settings.data_dir), settings.boards_prefix), health,
                    settings.boards_queue_max, dropped).start()
    atexit.register(w.close)
    return w
