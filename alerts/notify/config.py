"""Notify's settings: one frozen object read from the environment in one place.

Every variable is declared once in ``streams/settings.py`` (the project's one settings
object); this is notify's view of them, a small frozen object its modules take.

>>> c = from_env({"EARLYWARN_NOTIFY_ROUTES": "r.yml", "EARLYWARN_NOTIFY_MAX_ATTEMPTS": "3"})
>>> c.routes, c.max_attempts, c.redis_url
('r.yml', 3, 'redis://127.0.0.1:6379/0')
>>> from_env({"EARLYWARN_NOTIFY_MAX_ATTEMPTS": "x"})
Traceback (most recent call last):
...
alerts.notify.config.ConfigError: EARLYWARN_NOTIFY_MAX_ATTEMPTS='x': expected int
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


class ConfigError(ValueError):
    """A setting we cannot use; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class NotifyConfig:
    broker: str = "127.0.0.1:9092"
    topic_alerts: str = "alerts"
    topic_tickets: str = "tickets"  # read for keyword subscriptions (alerts.notify.tickets)
    group_id: str = "earlywarn-notify"
    tickets_group_id: str = ""  # the tickets topic's consumer group; default: group_id + "-tickets"
    max_message_bytes: int = 262144  # tickets are decoded as ingest decodes them: the same limits
    max_future_seconds: float = 86400.0
    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "earlywarn:notify"
    routes: str = "deploy/notify-routes.yml"
    consumer: str = ""  # this instance's name in the outbox consumer groups; default: the host name
    metrics_port: int = 6067
    metrics_host: str = "127.0.0.1"
    tick_seconds: float = 0.5
    max_attempts: int = 12
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 300.0
    claim_idle_seconds: float = 60.0
    session_timeout: float = 30.0  # the Kafka consumer group's: a killed notify's partitions move after this
    rebalance_timeout: float = 30.0
    http_timeout: float = 10.0
    link_base: str = ""  # where a message's link points: <link_base><alert_id>; empty: no link
    remember_days: float = 30.0  # how long idempotency keys and the notification log are kept
    subscription_poll_seconds: float = 5.0  # keyword subscriptions: see streams/settings.py
    subscription_wait_seconds: float = 30.0
    subscription_interval_seconds: float = 300.0
    subscription_digest_max: int = 20

    @property
    def tickets_group(self) -> str:
        return self.tickets_group_id or f"{self.group_id}-tickets"

    @property
    def consumer_name(self) -> str:
        return self.consumer or socket.gethostname()

    def with_(self, **changes: Any) -> NotifyConfig:
        return replace(self, **changes)


def _declared_as(name: str) -> str:
    """The ``streams.settings.Settings`` field a notify setting is declared as."""
    shared = (name in {"broker", "topic_alerts", "topic_tickets", "redis_url", "max_message_bytes",
                       "max_future_seconds"} or name.startswith("subscription_"))
    return name if shared else "notify_" + name


ENV: dict[str, str] = {f.name: "EARLYWARN_" + _declared_as(f.name).upper() for f in fields(NotifyConfig)}


def from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> NotifyConfig:
    """The settings in *env* (default: the process environment), then *overrides*.

    Read, parsed and checked by ``streams.settings`` (where each one is declared, with its
    meaning, and listed in the README's table); this picks notify's out of them.
    """
    from streams.settings import SettingsError
    from streams.settings import from_env as settings_from_env

    try:
        s = settings_from_env(os.environ if env is None else env)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    values = {f.name: getattr(s, _declared_as(f.name)) for f in fields(NotifyConfig)}
    values.update({k: v for k, v in overrides.items() if v is not None})
    c = NotifyConfig(**values)
    if c.max_attempts < 1:
        raise ConfigError("EARLYWARN_NOTIFY_MAX_ATTEMPTS must be at least 1")
    return c
