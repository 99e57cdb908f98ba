"""Keyword subscriptions matched at ingest, without putting Redis on ingest's path.

The ingest agent hands every batch's valid tickets to :meth:`IngestWatch.offer`, which
runs the current watchlist over them (one Aho-Corasick pass a narrative, dictionary
look-ups for firms and districts; nothing at all while there are no subscriptions) and
puts the matches on an in-memory queue: at most ``subscription_digest_max`` a
subscription per ``subscription_interval_seconds`` (what its digests can list), the rest
only counted, so a subscription to a common word costs a count, not an excerpt. A daemon thread does the rest, off the event
loop: every ``subscription_poll_seconds`` it reloads the watchlist when the
subscriptions' version in Redis moved (so workers pick up changes without a restart),
builds each match's event (the masked excerpt needs a segmenter) and queues it for
notify's digests (``alerts.notify.subscriptions.enqueue``).

Matches are best effort next to the engine's own guarantees: a worker killed between a
batch and the thread's next round loses that round's matches (at most a few seconds).
While Redis does not answer, ingest goes on matching and the thread keeps the matches
(at most ``MAX_QUEUED``, the newest) and retries with backoff (counted in
``earlywarn_redis_errors_total``). Ingest never waits for either.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis

from alerts.notify.subscriptions import Live, SubscriptionStore, enqueue
from alerts.redis_client import OUTAGE, Backoff, RedisHealth, client
from detectors.watchlist import Sub, ticket_match
from streams.settings import Settings

log = logging.getLogger("earlywarn.subscriptions")
MAX_QUEUED = 10_000
SHAPED_MEMO = 50_000  # tokens whose name-shape the thread remembers (at most a few MB)


class IngestWatch:
    def __init__(self, settings: Settings, r: redis.Redis | None = None, health: RedisHealth | None = None) -> None:
        self.settings = settings
        self.r = r or client(settings.redis_url)
        self.health = health or RedisHealth()
        self.live = Live(SubscriptionStore(self.r, settings.notify_prefix), settings.subscription_poll_seconds)
        self.watchlist = self.live.watchlist
        self._queue: deque[tuple[Sub, tuple[str, ...], Any]] = deque(maxlen=MAX_QUEUED)
        self._stop = threading.Event()
        self.segmenter: Any = None  # ingest's (Segmenter.cut keeps no state); else built on the first match
        self._shaped: Any = None  # the segmenter's names.shaped, remembering (the thread's alone)
        self.matched = 0
        self._thread: threading.Thread | None = None
        # Each subscription's budget: its digests list at most digest_max matches an interval,
        # so a worker builds (segments, masks) no more than that and only counts the rest.
        self._budget = settings.subscription_digest_max
        self._taken: dict[str, int] = {}
        self._over: dict[str, int] = {}
        self._window_ends = time.monotonic() + settings.subscription_interval_seconds

    def start(self) -> IngestWatch:
        self._thread = threading.Thread(target=self._run, name="earlywarn-subscriptions", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def offer(self, tickets: Sequence[Any]) -> None:
        """Called by ingest with a batch's valid tickets: match, queue, return (no I/O)."""
        wl = self.watchlist
        if not wl:
            return
        match, queue, taken, over, budget = wl.match_ticket, self._queue, self._taken, self._over, self._budget
        for t in tickets:
            for sub, words in match(t):
                self.matched += 1
                n = taken.get(sub.id, 0)
                if n < budget:
                    taken[sub.id] = n + 1
                    queue.append((sub, words, t))
                else:
                    over[sub.id] = over.get(sub.id, 0) + 1

    # ---- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(first=min(1.0, self.settings.subscription_poll_seconds), cap=10.0)
        while not self._stop.is_set():
            try:
                self.round()
            except OUTAGE as exc:
                self.health.failed("write", exc)
                self._stop.wait(backoff.next())
                continue
            except redis.RedisError as exc:
                log.warning("subscriptions: Redis at %s: %s; retrying", self.settings.redis_url, exc)
            else:
                self.health.answered()
                backoff.reset()
            self._stop.wait(min(1.0, self.settings.subscription_poll_seconds))

    def round(self) -> int:
        """Reload the watchlist when due, and queue what matched since the last round; how many."""
        self.watchlist = self.live.refresh()
        now = time.monotonic()
        if now >= self._window_ends:
            self._window_ends = now + self.settings.subscription_interval_seconds
            self._taken = {}  # ingest's thread reads the new dict from its next batch on
        over, self._over = self._over, {}
        items = []
        while self._queue:
            items.append(self._queue.popleft())
        if not items and not over:
            return 0
        seg = self._segmenter_for_masks()
        if self._shaped is None:  # tokens repeat across narratives: each one's answer is worked out once
            self._shaped = functools.lru_cache(maxsize=SHAPED_MEMO)(seg.names.shaped)
        events = [ticket_match(sub, words, t, cut=seg.cut, names=seg.names, shaped=self._shaped)
                  for sub, words, t in items]
        try:
            return enqueue(self.r, self.settings.notify_prefix, events, self.settings.subscription_wait_seconds,
                           unlisted=over)
        except redis.RedisError:
            self._queue.extendleft(reversed(items))  # try again next round (the deque keeps the newest)
            for sid, n in over.items():
                self._over[sid] = self._over.get(sid, 0) + n
            raise

    def _segmenter_for_masks(self) -> Any:
        if self.segmenter is None:
            from detectors.text import Segmenter

            self.segmenter = Segmenter()
        return self.segmenter


def maybe_start(settings: Settings, health: RedisHealth | None = None) -> IngestWatch | None:
    """A started watch, or None when ``subscription_poll_seconds`` is 0 (matching off); Redis
    need not answer yet."""
    if settings.subscription_poll_seconds <= 0:
        return None
    return IngestWatch(settings, health=health).start()


def wait_for(watch: IngestWatch, pending: int = 0, timeout: float = 10.0) -> bool:
    """Until the queue holds at most *pending* items (tests)."""
    deadline = time.monotonic() + timeout
    while len(watch._queue) > pending and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(watch._queue) <= pending
