"""The desk's settings: one frozen object read from the environment in one place.

Every variable is declared once in ``streams/settings.py`` (the project's one settings
object); this is the desk's view of them. The shared ones (``EARLYWARN_REDIS_URL``, ``EARLYWARN_BROKER``, the topics and
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
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEV_SECRET = "earlywarn-desk-development-secret"  # noqa: S105 - refused outside 127.0.0.1 binds (see check)


class SettingsError(ValueError):
    """A setting we cannot use; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class DeskSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker: str = "127.0.0.1:9092"
    topic_alerts: str = "alerts"
    topic_tickets: str = "tickets"
    topic_inspection: str = "inspection.tasks"
    topic_inspection_results: str = "inspection.results"
    topic_inspection_results_deadletter: str = "inspection.results.deadletter"
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
    ticket_days: float = 7.0  # ticket display fields kept (0: tickets not read)
    pseudonym_secret: str = field(default="", repr=False)  # the workers' key: complainants shown as their pseudonyms
    remember_days: float = 30.0  # acks' lifetime, as notify's EARLYWARN_NOTIFY_REMEMBER_DAYS
    session_timeout: float = 30.0  # the consumer group's
    link_base: str = ""  # public base URL, for links in messages

    def with_(self, **changes: Any) -> DeskSettings:
        return replace(self, **changes)

    @property
    def dev_secret(self) -> bool:
        return self.secret == DEV_SECRET


_SHARED = {"redis_url": "redis_url", "broker": "broker", "topic_alerts": "topic_alerts", "topic_tickets": "topic_tickets",
           "pseudonym_secret": "pseudonym_secret",
           "topic_inspection": "topic_inspection", "topic_inspection_results": "topic_inspection_results",
           "topic_inspection_results_deadletter": "topic_inspection_results_deadletter", "notify_prefix": "notify_prefix",
           "remember_days": "notify_remember_days", "session_timeout": "session_timeout"}


def _declared_as(name: str) -> str:
    """The ``streams.settings.Settings`` field a desk setting is declared as."""
    return _SHARED.get(name, "desk_" + name)


ENV: dict[str, str] = {f.name: "EARLYWARN_" + _declared_as(f.name).upper() for f in fields(DeskSettings)}


def from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> DeskSettings:
    """The settings in *env* (default: the process environment), then *overrides*.

    Read, parsed and checked by ``streams.settings``, where each is declared; this picks
    the desk's out of them and adds the desk's own rules.
    """
    from streams.settings import SettingsError as Invalid
    from streams.settings import from_env as settings_from_env

    try:
        settings = settings_from_env(os.environ if env is None else env)
    except Invalid as exc:
        raise SettingsError(str(exc)) from None
    values: dict[str, Any] = {f.name: getattr(settings, _declared_as(f.name)) for f in fields(DeskSettings)}
    values.update({k: v for k, v in overrides.items() if v is not None})
    s = DeskSettings(**values)
    if s.dev_secret and s.host not in {"127.0.0.1", "localhost", "::1"}:
        raise SettingsError(f"EARLYWARN_DESK_HOST={s.host} but EARLYWARN_DESK_SECRET is the development value: "
                            "set a long random secret before serving beyond this machine")
    if s.login_attempts < 1 or s.session_minutes <= 0:
        raise SettingsError("EARLYWARN_DESK_LOGIN_ATTEMPTS and EARLYWARN_DESK_SESSION_MINUTES must be positive")
    return s
