"""The desk's settings: one frozen object read from the environment in one place.

Kept apart from ``earlywarn/settings.py`` for now (that module is being reworked); the
names follow its ``EARLYWARN_*`` convention so they can be folded in unchanged. The
shared ones (``EARLYWARN_REDIS_URL``, ``EARLYWARN_BROKER``, the topics and
``EARLYWARN_NOTIFY_PREFIX``) are the names the worker and notify read, so the desk sets
the very silences and acks notify honours.

>>> s = from_env({"EARLYWARN_DESK_PORT": "9000", "EARLYWARN_DESK_SECURE_COOKIES": "true"})
>>> s.host, s.port, s.secure_cookies, s.notify_prefix
('127.0.0.1', 9000, True, 'earlywarn:notify')
>>> from_env({"EARLYWARN_DESK_PORT": "x"})
Traceback (most recent call last):
...
desk.settings.SettingsError: EARLYWARN_DESK_PORT='x': expected int
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEV_SECRET = "earlywarn-desk-development-secret"  # noqa: S105 - refused outside 127.0.0.1 binds (see check)


class SettingsError(ValueError):
    """A setting we cannot use; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class DeskSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker: str = "127.0.0.1:9092"
    topic_alerts: str = "alerts"
    topic_inspection: str = "inspection.tasks"
    notify_prefix: str = "earlywarn:notify"  # where notify keeps silences and acks
    host: str = "127.0.0.1"  # secure default: only this machine reaches the desk
    port: int = 6068
    prefix: str = "earlywarn:desk"  # the desk's own Redis keys
    group_id: str = "earlywarn-desk"  # Kafka consumer group of the alert store
    consume: bool = True  # run the alerts-topic consumer inside the desk process
    secret: str = DEV_SECRET  # signs session cookies
    session_minutes: float = 480.0  # a console login lasts a working shift
    secure_cookies: bool = False  # set true behind TLS
    login_attempts: int = 5  # failed logins per user name (and per address x4) ...
    login_window_seconds: float = 300.0  # ... within this window, then 429 until it passes
    hash_time_cost: int = 3  # Argon2id passes (argon2-cffi's default) ...
    hash_memory_kib: int = 65536  # ... and memory: ~0.3 s a hash here; each hash records its own
    feed_max: int = 10000  # alert events kept in the live feed stream (SSE resume)
    page_size: int = 50
    remember_days: float = 30.0  # acks' lifetime, as notify's EARLYWARN_NOTIFY_REMEMBER_DAYS
    session_timeout: float = 30.0  # the consumer group's
    link_base: str = ""  # public base URL, for links in messages

    def with_(self, **changes: Any) -> DeskSettings:
        return replace(self, **changes)

    @property
    def dev_secret(self) -> bool:
        return self.secret == DEV_SECRET


_SHARED = {"redis_url": "EARLYWARN_REDIS_URL", "broker": "EARLYWARN_BROKER",
           "topic_alerts": "EARLYWARN_TOPIC_ALERTS", "topic_inspection": "EARLYWARN_TOPIC_INSPECTION",
           "notify_prefix": "EARLYWARN_NOTIFY_PREFIX", "remember_days": "EARLYWARN_NOTIFY_REMEMBER_DAYS",
           "session_timeout": "EARLYWARN_SESSION_TIMEOUT"}
ENV: dict[str, str] = {f.name: _SHARED.get(f.name, "EARLYWARN_DESK_" + f.name.upper()) for f in fields(DeskSettings)}


def _parse(kind: type, text: str) -> Any:
    if kind is bool:
        low = text.strip().lower()
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(text)
    return kind(text)


def from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> DeskSettings:
    """The settings in *env* (default: the process environment), then *overrides*."""
    env = os.environ if env is None else env
    defaults = DeskSettings()
    values: dict[str, Any] = {}
    for name, var in ENV.items():
        if var in env:
            kind = type(getattr(defaults, name))
            try:
                values[name] = _parse(kind, env[var])
            except ValueError:
                raise SettingsError(f"{var}={env[var]!r}: expected {kind.__name__}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    s = DeskSettings(**values)
    if s.dev_secret and s.host not in {"127.0.0.1", "localhost", "::1"}:
        raise SettingsError(f"EARLYWARN_DESK_HOST={s.host} but EARLYWARN_DESK_SECRET is the development value: "
                            "set a long random secret before serving beyond this machine")
    if s.login_attempts < 1 or s.session_minutes <= 0:
        raise SettingsError("EARLYWARN_DESK_LOGIN_ATTEMPTS and EARLYWARN_DESK_SESSION_MINUTES must be positive")
    return s
