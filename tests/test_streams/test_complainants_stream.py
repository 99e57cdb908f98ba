"""Abnormal complainants judged in the stream: the alerts and flags ``earlywarn detect`` gives, one worker or two.

A simulated firehose with three claimant rings (one template each, swept across firms), and
on its last day every ring member complains about one firm within an hour. Offline, with
``EARLYWARN_COMPLAINANTS=on``, the rings are flagged and, by due process, that burst is no
group dispute (without the judge it is one). The stream must raise exactly the alerts
detect raises, ``abnormal_complainant`` among them and no dispute at that firm, and mirror
the same flags to Redis.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import redis

from alerts.complainants import PREFIX, FlagStore
from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, Simulation
from streams.kafka_io import produce, read_topic

pytestmark = [pytest.mark.broker, pytest.mark.redis]

VICTIM = "上海甲乙丙贸易有限公司"
REDIS_DB = "redis://127.0.0.1:6379/11"  # the flags' default prefix, in a database of their own
SECRET = "complainants-stream-test-" + "0" * 32  # detect and the workers must pseudonymise alike


def simulated() -> list[bytes]:
    sim = Simulation(SimConfig(seed=23, days=12, tickets_per_day=400, firms=800, warmup_days=7.5, rings=3,
                               decoys=()))
    tickets = list(sim.tickets())
    at = max(datetime.fromisoformat(t["received_at"]) for t in tickets).replace(hour=10, minute=0, second=0)
    at -= timedelta(days=1)
    base = next(t for t in tickets if t.get("firm_name"))
    people = [p for ring in sim.claimant_rings for p in ring]
    burst = [{**base, "ticket_id": f"RINGX{i}", "kind": "complaint", "complainant_id": p, "complainant_phone": None,
              "complainant_name": None, "firm_name": VICTIM, "firm_id": None,
              "received_at": (at + timedelta(minutes=3 * i)).isoformat(), "content": "该店铺销售过期食品，要求退一赔三。"}
             for i, p in enumerate(people)]
    return [orjson.dumps(t) for t in sorted(tickets + burst, key=lambda t: t["received_at"])]


def canonical(alerts: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) for a in alerts)


def streamed(env: Any, lines: list[bytes], workers: int, expected: int) -> list[dict[str, Any]]:
    """The alerts *workers* workers raise over *lines*, all on the broker before they start
    (no partition looks idle before its end), once *expected* came and nothing more for a while."""
    produce(env.settings, lines)
    started = [env.spawn_worker() for _ in range(workers)]
    for w in started:  # serving: the worker has made its topics
        w.wait_stats(lambda st: True, timeout=60)
    topic = env.settings.topic_alerts
    read_topic(env.settings, topic, until=lambda got: len(got) >= expected, timeout=240)
    got = [orjson.loads(v) for _, v in read_topic(env.settings, topic, idle=3.0)]
    env.stop()
    return got


@pytest.fixture
def flag_db() -> Any:
    """The flags' database, empty before and after."""
    r = redis.Redis.from_url(REDIS_DB)
    for k in r.scan_iter(f"{PREFIX}:*"):
        r.delete(k)
    yield r
    for k in r.scan_iter(f"{PREFIX}:*"):
        r.delete(k)


@pytest.fixture(scope="module")
def offline() -> dict[str, Any]:
    from streams.settings import from_env

    lines = simulated()
    settings = from_env({}).with_(pseudonym_secret=SECRET, ticket_partitions=4, partitions=4)
    flags: dict[str, Any] = {}
    on = list(detect(lines, settings.with_(complainants="on"), workers=0, on_flags=flags.update))
    off = list(detect(lines, settings, workers=0))
    return {"lines": lines, "on": on, "off": off, "flags": flags}


def test_the_scenario_needs_due_process(offline: dict[str, Any]) -> None:
    # Without the judge the rings' burst is a group dispute; with it, none, and the rings are told.
    assert any(a["type"] == "group_dispute" and a["subject"]["label"] == VICTIM for a in offline["off"])
    assert not any(a["subject"]["label"] == VICTIM for a in offline["on"])
    assert sum(a["type"] == "abnormal_complainant" and a["status"] == "open" for a in offline["on"]) >= 3
    assert offline["flags"]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_stream_raises_what_detect_raises_and_mirrors_its_flags(new_stream_env: Any, offline: dict[str, Any],
                                                                   workers: int, flag_db: Any) -> None:
    env = new_stream_env()
    env.settings = env.settings.with_(complainants="on", redis_url=REDIS_DB, pseudonym_secret=SECRET)
    expected = offline["on"]
    assert canonical(streamed(env, offline["lines"], workers, len(expected))) == canonical(expected)
    assert FlagStore(flag_db).flags() == orjson.loads(orjson.dumps(offline["flags"]))


@pytest.mark.slow  # about 80 s here: a rate-limited feed, a stop and a recovery
def test_a_worker_restarted_mid_stream_recovers_the_stage_and_raises_what_detect_raises(
        new_stream_env: Any, offline: dict[str, Any], flag_db: Any) -> None:
    # The worker stops (SIGTERM) while claims still arrive and another process takes over
    # from the tables alone: the stage is rebuilt from the claims topic up to its last commit.
    env = new_stream_env()
    env.settings = env.settings.with_(complainants="on", redis_url=REDIS_DB, pseudonym_secret=SECRET,
                                      idle_seconds=8.0)
    lines, expected = offline["lines"], offline["on"]
    head = len(lines) // 4
    produce(env.settings, lines[:head])
    first = env.start_worker()
    feed = threading.Thread(target=produce, args=(env.settings, lines[head:]), kwargs={"rate": 150.0})
    feed.start()
    try:
        first.wait_stats(lambda st: st["tickets"] >= len(lines) * 0.6, timeout=120)
        assert feed.is_alive(), "the worker should stop while tickets still arrive"
        first.process.terminate()
        assert first.process.wait(timeout=60) == 0, first.log.read_text()[-3000:]
        second = env.start_worker()
    finally:
        feed.join()
    topic = env.settings.topic_alerts
    read_topic(env.settings, topic, until=lambda got: len(got) >= len(expected), timeout=240)
    got = [orjson.loads(v) for _, v in read_topic(env.settings, topic, idle=3.0)]
    stats = second.stats()
    env.stop()
    assert stats["late_tickets"] == 0
    assert canonical(got) == canonical(expected)


@pytest.fixture(scope="module")
def firm_case() -> dict[str, Any]:
    from earlywarn.evalfirms import scenario
    from streams.settings import from_env

    lines = [orjson.dumps(t) for t in Simulation(scenario(7, days=30, per_day=300, n=1)).tickets()]
    settings = from_env({}).with_(pseudonym_secret=SECRET, ticket_partitions=4, partitions=4, firms="on")
    return {"lines": lines, "on": list(detect(lines, settings, workers=0))}


@pytest.mark.parametrize("workers", [1, 2])
def test_abnormal_firms_in_the_stream_are_those_detect_finds(new_stream_env: Any, firm_case: dict[str, Any],
                                                            workers: int) -> None:
    # Judged by the claims partition's owner at each midnight the watermark passes, as offline.
    env = new_stream_env()
    env.settings = env.settings.with_(firms="on", pseudonym_secret=SECRET)
    expected = firm_case["on"]
    assert any(a["type"] == "abnormal_firm" for a in expected)
    assert canonical(streamed(env, firm_case["lines"], workers, len(expected))) == canonical(expected)
