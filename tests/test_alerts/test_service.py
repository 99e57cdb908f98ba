"""``earlywarn notify`` as a process: alert events from the embedded broker to a loopback
webhook, through a SIGKILL mid-delivery and a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.broker import EmbeddedBroker, free_port
from tests.test_alerts.conftest import REDIS_URL, Hook, event

pytestmark = [pytest.mark.broker, pytest.mark.redis]


def wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_notify_killed_mid_delivery_and_restarted_delivers_every_event_once(
        broker: EmbeddedBroker, redis_prefix: str, tmp_path: Path) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    hook = Hook(delay=0.03).start()
    routes = tmp_path / "routes.yml"
    routes.write_text(f"""\
receivers:
  - {{name: hook, webhook: {{url: "{hook.url}"}}}}
  - {{name: am, alertmanager: {{url: "{hook.url}"}}}}
route:
  receiver: hook
  group_by: [alert_id]
  group_wait: 0s
  group_interval: 1s
  routes:
    - {{receiver: hook, continue: true}}
    - {{matchers: ['severity="critical"'], receiver: am}}
""")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EARLYWARN_")},
           "EARLYWARN_BROKER": broker.bootstrap, "EARLYWARN_TOPIC_ALERTS": topic,
           "EARLYWARN_NOTIFY_GROUP_ID": f"notify-{topic}", "EARLYWARN_REDIS_URL": REDIS_URL,
           "EARLYWARN_NOTIFY_PREFIX": redis_prefix, "EARLYWARN_NOTIFY_ROUTES": str(routes),
           "EARLYWARN_NOTIFY_CONSUMER": "notify-1", "EARLYWARN_NOTIFY_METRICS_PORT": str(port),
           "EARLYWARN_NOTIFY_TICK_SECONDS": "0.1", "EARLYWARN_NOTIFY_BACKOFF_SECONDS": "0.2",
           "EARLYWARN_NOTIFY_SESSION_TIMEOUT": "6", "EARLYWARN_NOTIFY_REBALANCE_TIMEOUT": "6"}

    def spawn(n: int) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"notify-{n}.log").open("wb")
        return subprocess.Popen([sys.executable, "-m", "earlywarn", "notify"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)

    evs = [event(i, severity="critical" if i % 3 == 0 else "warning") for i in range(1, 61)]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for ev in evs[:40]:
        producer.send(topic, json.dumps(ev).encode(), key=ev["alert_id"].encode())
    producer.flush()
    want = {"hook": {e["alert_id"] for e in evs}, "am": {e["alert_id"] for e in evs if e["severity"] == "critical"}}

    def deliveries() -> list[tuple[str, str, str]]:
        """(receiver, alert_id, idempotency key) of every alert the hook was told."""
        out = []
        for req in list(hook.requests):
            body, key = req["json"], req["headers"]["Idempotency-Key"]
            for a in body["alerts"]:
                out.append((body["receiver"], a.get("alert_id") or a["labels"]["alert_id"], key))
        return out

    first = spawn(1)
    try:
        wait(lambda: len(hook.requests) >= 12, 60, "the first deliveries")
        first.send_signal(signal.SIGKILL)  # mid-delivery: each answer takes 30 ms
        first.wait(5)
        for ev in evs[40:]:
            producer.send(topic, json.dumps(ev).encode(), key=ev["alert_id"].encode())
        producer.flush()
        producer.close()
        second = spawn(2)
        try:
            def complete() -> bool:
                got = deliveries()
                return all({a for r, a, _ in got if r == name} >= ids for name, ids in want.items())

            wait(complete, 60, "every event at every receiver")
            time.sleep(1.0)  # time for any duplicate to show
            got = deliveries()
            per_event = Counter((r, a) for r, a, _ in got)
            distinct = Counter((r, a) for r, a, _ in set(got))
            assert set(distinct) == {(r, a) for r, ids in want.items() for a in ids}
            assert set(distinct.values()) == {1}  # once per (receiver, event) by idempotency key
            extra = sum(per_event.values()) - len(per_event)
            # At most the notification each receiver's deliverer had in flight at the kill is sent
            # twice, with the same Idempotency-Key (the one window at-least-once leaves).
            assert extra <= len(want), f"{extra} duplicate deliveries"
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            assert 'earlywarn_pushes_total{outcome="delivered",receiver="webhook"}' in metrics
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(15) == 0, (tmp_path / "notify-2.log").read_text()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
        hook.stop()
