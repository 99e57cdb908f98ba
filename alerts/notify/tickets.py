"""Keyword subscriptions matched against the tickets topic: what notify's ticket loop does with a batch.

``earlywarn notify`` reads the tickets topic in a Kafka consumer group of its own
(``EARLYWARN_NOTIFY_TICKETS_GROUP_ID``) and hands each polled batch's message values to
:meth:`TicketMatches.take`: decoded and validated as ingest does (``schemas.tickets.decode``,
the same size limit and clock skew; what ingest would dead-letter is skipped here and
counted), matched with the current watchlist (reloaded from Redis when the subscriptions'
version moves, :class:`alerts.notify.subscriptions.Live`), each match's event built (the
masked excerpt needs a segmenter, built on the first match) and queued for the digests
(:func:`alerts.notify.subscriptions.enqueue`, one transaction). The service commits the
batch's offsets only after that, so matches are at-least-once: a notify killed before the
commit, or a Redis outage (the batch is read again once Redis answers), loses none, and a
match queued twice is told once (the digests remember what they told, by subscription and
ticket). The workers do none of this: ingest's cost does not depend on the subscriptions.

Each subscription's budget: its digests list at most ``subscription_digest_max`` matches
an interval, so a notify builds (segments, masks) no more than that per
``subscription_interval_seconds`` and only counts the rest (told as a number in the next
digest). A batch's budget is spent only once its matches are queued. While there are no
subscriptions a batch is not even decoded.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from alerts.notify.subscriptions import Live, enqueue
from schemas.tickets import Rejection, decode

SHAPED_MEMO = 50_000  # tokens whose name-shape is remembered (at most a few MB)


@dataclass
class Taken:
    """What one batch came to: valid tickets, messages or elements skipped as invalid,
    matches, and events queued (the matches within their subscription's budget)."""

    tickets: int = 0
    invalid: int = 0
    matches: int = 0
    queued: int = 0


class TicketMatches:
    def __init__(self, client: redis.Redis, prefix: str, live: Live, *, wait: float, interval: float,
                 digest_max: int, max_bytes: int, max_future_seconds: float, segmenter: Any = None) -> None:
        self.r = client
        self.prefix = prefix
        self.live = live
        self.wait = wait
        self.interval = interval
        self.budget = digest_max
        self.max_bytes = max_bytes
        self.max_future = max_future_seconds
        self.segmenter = segmenter  # built on the first match (jieba's dictionary: a second or two)
        self._shaped: Any = None  # the segmenter's names.shaped, remembering
        self._taken: dict[str, int] = {}  # subscription id -> matches built this interval
        self._window_ends = time.monotonic() + interval

    def take(self, values: Sequence[bytes | None]) -> Taken:
        """Match a batch of ticket messages and queue the matches; raises what Redis raises
        (nothing is spent of the budget then: the caller reads the batch again)."""
        wl = self.live.refresh()
        out = Taken()
        if not wl:
            return out
        now = time.monotonic()
        if now >= self._window_ends:
            self._window_ends = now + self.interval
            self._taken = {}
        taken, over, items = dict(self._taken), {}, []
        match, budget, not_after = wl.match_ticket, self.budget, time.time() + self.max_future
        for v in values:
            for t in decode(v, max_bytes=self.max_bytes, not_after=not_after):
                if isinstance(t, Rejection):
                    out.invalid += 1
                    continue
                out.tickets += 1
                for sub, words in match(t):
                    out.matches += 1
                    n = taken.get(sub.id, 0)
                    if n < budget:
                        taken[sub.id] = n + 1
                        items.append((sub, words, t))
                    else:
                        over[sub.id] = over.get(sub.id, 0) + 1
        if items:
            from detectors.watchlist import ticket_match

            seg = self._segmenter()
            events = [ticket_match(sub, words, t, cut=seg.cut, names=seg.names, shaped=self._shaped)
                      for sub, words, t in items]
        else:
            events = []
        if events or over:
            out.queued = enqueue(self.r, self.prefix, events, self.wait, unlisted=over)
        self._taken = taken
        return out

    def _segmenter(self) -> Any:
        if self.segmenter is None:
            from detectors.text import Segmenter

            self.segmenter = Segmenter()
        if self._shaped is None:  # tokens repeat across narratives: each one's answer is worked out once
            self._shaped = functools.lru_cache(maxsize=SHAPED_MEMO)(self.segmenter.names.shaped)
        return self.segmenter
