"""The store rebuilt from a real alerts topic: a consumer group, commit after store, replay harmless."""

from __future__ import annotations

import time

import orjson
import pytest
from kafka import KafkaProducer

from desk.consumer import AlertConsumer
from desk.metrics import DeskMetrics
from desk.store import AlertQuery, AlertStore
from tests.test_desk.conftest import event, make_env

pytestmark = [pytest.mark.broker, pytest.mark.redis]


def run_until(consumer: AlertConsumer, pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while not pred():
            assert consumer.failed is None, consumer.failed
            assert time.monotonic() < deadline, "the consumer did not store the events in time"
            time.sleep(0.1)
    finally:
        consumer.close()


def test_consumer_group_rebuilds_the_store_and_a_replay_adds_nothing(broker, rds) -> None:  # type: ignore[no-untyped-def]
    env = make_env(rds, broker=broker.bootstrap, session_timeout=6.0)
    s = env.settings
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    events = [event(1), event(2, district_code="310104"), event(1, status="update", severity="critical",
                                                               raised_at="2025-03-04T11:00:00+08:00")]
    for ev in events:
        producer.send(s.topic_alerts, key=ev["alert_id"].encode(), value=orjson.dumps(ev))
    producer.send(s.topic_alerts, key=b"junk", value=b"not an alert")
    producer.flush()

    metrics = DeskMetrics()
    store: AlertStore = env.store
    run_until(AlertConsumer(s, store, metrics), lambda: store.count() == 2 and len(store.timeline(event(1)["alert_id"])) == 2)
    assert store.get(event(1)["alert_id"])["severity"] == "critical"
    assert metrics.events.labels("invalid")._value.get() == 1
    feed, timeline = store.r.xlen(store.feed), store.timeline(event(1)["alert_id"])

    # Another consumer group reads the whole topic again into the same store: nothing changes.
    replay = AlertConsumer(s.with_(group_id=s.group_id + "-replay"), store, DeskMetrics())
    run_until(replay, lambda: replay.metrics.events.labels("duplicate")._value.get() == 3)
    assert store.r.xlen(store.feed) == feed == 3
    assert store.timeline(event(1)["alert_id"]) == timeline
    assert store.query(AlertQuery(severity=["critical"])).total == 1
    producer.close()
