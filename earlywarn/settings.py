"""All configuration in one frozen object, read from the environment in one place.

Nothing else reads ``os.environ``: build a ``Settings`` here and pass it down.
``SETTINGS_DOC`` is the table the README's configuration section is made from; a test
checks they agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from detectors.calendar import CalendarError, load_calendar
from detectors.config import DetectConfig

DEV_SECRET = "earlywarn-dev-secret-change-me"


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what it wants."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    broker: str = "127.0.0.1:9092"
    app_id: str = "earlywarn"
    topic_tickets: str = "tickets"
    topic_deadletter: str = "tickets.deadletter"
    topic_alerts: str = "alerts"
    topic_inspection: str = "inspection.tasks"
    topic_deltas: str = "earlywarn-deltas"
    topic_decisions: str = "earlywarn-decisions"
    ticket_partitions: int = 4
    partitions: int = 8
    store: str = "memory://"
    data_dir: str = "./earlywarn-data"
    pseudonym_secret: str = DEV_SECRET
    max_message_bytes: int = 262144
    max_future_seconds: float = 86400.0
    batch_size: int = 500
    batch_seconds: float = 0.25
    flush_seconds: float = 30.0
    idle_seconds: float = 5.0
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    lateness_seconds: float = 600.0
    min_people: int = 5
    min_firms: int = 3
    false_alarms_per_day: float = 0.05
    calendar: str = ""
    forget_days: float = 90.0
    session_timeout: float = 30.0
    rebalance_timeout: float = 30.0
    log_level: str = "warn"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        """host:port list without a URL scheme, as Kafka clients want it."""
        return ",".join(b.split("://", 1)[-1] for b in self.broker.split(","))

    @property
    def detect(self) -> DetectConfig:
        return DetectConfig(
            partitions=self.partitions,
            sources=self.ticket_partitions,
            lateness_seconds=self.lateness_seconds,
            min_people=self.min_people,
            min_firms=self.min_firms,
            false_alarms_per_day=self.false_alarms_per_day,
            calendar=self.calendar,
            forget_days=self.forget_days,
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


# name -> (environment variable, meaning). Every Settings field but ``extra`` is here.
SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "broker": ("EARLYWARN_BROKER", "Kafka bootstrap servers, host:port[,host:port]"),
    "app_id": ("EARLYWARN_APP_ID", "Faust application id: consumer group and internal topic prefix"),
    "topic_tickets": ("EARLYWARN_TOPIC_TICKETS", "input topic (ticket contract v1)"),
    "topic_deadletter": ("EARLYWARN_TOPIC_DEADLETTER", "rejected input with original bytes and reason"),
    "topic_alerts": ("EARLYWARN_TOPIC_ALERTS", "output topic (alert contract v1, key = alert_id)"),
    "topic_inspection": ("EARLYWARN_TOPIC_INSPECTION", "inspection tasks (group disputes at warning or critical)"),
    "topic_deltas": ("EARLYWARN_TOPIC_DELTAS", "internal: pre-aggregated per-key deltas"),
    "topic_decisions": ("EARLYWARN_TOPIC_DECISIONS", "internal: every partition's decisions, to the alert stage (1 partition)"),
    "ticket_partitions": ("EARLYWARN_TICKET_PARTITIONS", "partitions of the tickets topic (the watermark waits for all)"),
    "partitions": ("EARLYWARN_PARTITIONS", "partitions keys are routed to; fixed for a deployment"),
    "store": ("EARLYWARN_STORE", "Faust table store: memory:// (the only one tested; see Operations)"),
    "data_dir": ("EARLYWARN_DATA_DIR", "where a worker keeps its local table store"),
    "pseudonym_secret": ("EARLYWARN_PSEUDONYM_SECRET", "HMAC key for complainant pseudonyms; set it in production"),
    "max_message_bytes": ("EARLYWARN_MAX_MESSAGE_BYTES", "larger input messages are dead-lettered as oversize"),
    "max_future_seconds": ("EARLYWARN_MAX_FUTURE_SECONDS", "tickets dated further than this ahead of the clock are dead-lettered as future_timestamp"),
    "batch_size": ("EARLYWARN_BATCH_SIZE", "ticket messages ingested per batch"),
    "batch_seconds": ("EARLYWARN_BATCH_SECONDS", "longest wait to fill an ingest batch"),
    "flush_seconds": ("EARLYWARN_FLUSH_SECONDS", "how often window state is written to the changelog (a crash replays at most this much of the delta topic)"),
    "idle_seconds": ("EARLYWARN_IDLE_SECONDS", "a ticket partition silent this long no longer holds back event time"),
    "web_port": ("EARLYWARN_WEB_PORT", "port of the worker's web server (/metrics)"),
    "web_host": ("EARLYWARN_WEB_HOST", "interface the web server binds"),
    "lateness_seconds": ("EARLYWARN_LATENESS_SECONDS", "allowed disorder of received_at before a ticket is late"),
    "min_people": ("EARLYWARN_MIN_PEOPLE", "distinct complainants that make a group"),
    "min_firms": ("EARLYWARN_MIN_FIRMS", "firms a concentrated demand must span"),
    "false_alarms_per_day": ("EARLYWARN_FALSE_ALARMS_PER_DAY", "false-alarm budget per alert type per day"),
    "calendar": ("EARLYWARN_CALENDAR", "calendar of known volume effects (CSV, see detectors/calendar.py); empty: the bundled one, none: no calendar"),
    "forget_days": ("EARLYWARN_FORGET_DAYS", "a key not seen for this many days of event time is cut down to a stub (label, category, district, peer rate) and starts afresh if it comes back"),
    "session_timeout": ("EARLYWARN_SESSION_TIMEOUT", "consumer session timeout, seconds"),
    "rebalance_timeout": ("EARLYWARN_REBALANCE_TIMEOUT", "consumer group rebalance timeout, seconds"),
    "log_level": ("EARLYWARN_LOG_LEVEL", "crit, error, warn, info or debug"),
}


def from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from *env* (default: the process environment), then *overrides*."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    defaults = Settings()
    for f in fields(Settings):
        if f.name == "extra":
            continue
        var = SETTINGS_DOC[f.name][0]
        if var not in env:
            continue
        raw = env[var]
        kind = type(getattr(defaults, f.name))
        try:
            values[f.name] = kind(raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r}: expected {kind.__name__}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    s = Settings(**values)
    if not s.pseudonym_secret:
        raise SettingsError("EARLYWARN_PSEUDONYM_SECRET is empty: set a long random secret")
    if s.forget_days < 2:
        raise SettingsError("EARLYWARN_FORGET_DAYS must be at least 2 (a day of windows, and baselines learn up to two days late)")
    if s.max_future_seconds < 0:
        raise SettingsError("EARLYWARN_MAX_FUTURE_SECONDS must be at least 0 (seconds a ticket may be dated ahead of the clock)")
    if s.partitions < 1 or s.ticket_partitions < 1:
        raise SettingsError("EARLYWARN_PARTITIONS and EARLYWARN_TICKET_PARTITIONS must be at least 1")
    try:
        load_calendar(s.calendar)
    except CalendarError as exc:
        raise SettingsError(f"EARLYWARN_CALENDAR: {exc}") from None
    return s
