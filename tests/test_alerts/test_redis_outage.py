"""Redis down and back while everything runs: the stream never stops, the Redis-backed views
catch up exactly, and the push outbox loses nothing and sends nothing twice.

On the embedded broker and a redis-server of the test's own, append-only as compose runs
it (so a restart keeps what Redis acknowledged): a worker ingests a simulated firehose with
the top-10 boards on, ``notify`` matches a keyword subscription against the same tickets and
delivers to two loopback webhooks, and the desk's consumer keeps its alert store; Redis is killed (SIGKILL) once the
first fifth is counted, stays down while the next seven tenths arrive (and for at least
the outage's length), and is started again on the same port for the rest. Then:

- the worker never stopped nor went unready, told ``/health`` that Redis was down, and
  published exactly the alerts ``earlywarn detect`` gives for the same tickets;
- the boards equal a brute-force recount of the tickets;
- each receiver was told every alert routed to it, its last state included, and no
  (alert, status, severity) twice; every ticket the subscription matched was told once;
- the desk's store equals the same topic folded into a store that saw no outage;
- ``earlywarn_redis_errors_total`` counted the failures, and with backoff, not a hot loop.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from typing import Any

import orjson
import pytest
import redis

from alerts.boards import RedisBoards
from alerts.notify.config import NotifyConfig
from alerts.notify.metrics import NotifyMetrics
from alerts.notify.routing import load_text
from alerts.notify.service import NotifyService
from alerts.notify.subscriptions import SubscriptionStore
from alerts.redis_client import client
from desk.consumer import AlertConsumer
from desk.metrics import DeskMetrics
from desk.settings import from_env as desk_settings
from desk.store import AlertQuery, AlertStore
from detectors.aggregate import Aggregator
from detectors.boards import CITY, entries, period_of
from detectors.enrich import Enricher, take
from detectors.watchlist import Watchlist
from schemas.tickets import Ticket, decode
from streams.kafka_io import produce, read_topic
from streams.routing import router
from tests.test_alerts.conftest import REDIS_URL, Hook, RedisServer
from tests.test_detectors.test_boards import brute
from tests.test_streams.test_scaleout import alerts, canonical, detect, differences, simulated, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.redis]

BOARDS, NOTIFY, DESK = "ew:boards", "ew:notify", "ew:desk"
TERM = "闭店"  # in 65 of the 7,201 simulated narratives


def routes(hook: Hook) -> Any:
    return load_text(f"""\
receivers:
  - {{name: duty, webhook: {{url: "{hook.url}"}}}}
  - {{name: chief, webhook: {{url: "{hook.url}"}}}}
route:
  receiver: duty
  group_by: [alert_id]
  group_wait: 0s
  group_interval: 1s
  routes:
    - {{receiver: duty, continue: true}}
    - {{matchers: ['type="group_dispute"'], receiver: chief}}
""", "routes.yml")


def scrape(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def told(hook: Hook) -> tuple[Counter, Counter]:
    """What the receivers were told: (receiver, alert_id, status, severity) and, for the
    subscription's digests, (receiver, ticket_id), each with how many times."""
    alerts_told: Counter = Counter()
    tickets_told: Counter = Counter()
    for body in hook.bodies():
        for a in body["alerts"]:
            if a["type"] == "subscription_match":
                if a["match"]["source"] == "ticket":
                    tickets_told[(body["receiver"], a["match"]["ticket_id"])] += 1
            else:
                alerts_told[(body["receiver"], a["alert_id"], a["status"], a["severity"])] += 1
    return alerts_told, tickets_told


def outage_run(new_stream_env: Any, server: RedisServer, outage: float) -> None:
    env = new_stream_env()
    env.settings = env.settings.with_(
        redis_url=server.url, boards="on", boards_prefix=BOARDS, notify_prefix=NOTIFY,
        subscription_poll_seconds=0.5, subscription_wait_seconds=0, subscription_interval_seconds=1,
        subscription_digest_max=100_000)
    s = env.settings
    lines = simulated()
    r = redis.Redis.from_url(server.url)
    sub = SubscriptionStore(r, NOTIFY).add("term", TERM, "duty", "王科长")

    # What a run without the outage gives: the same core over the same tickets.
    wl = Watchlist([sub])
    matched = [t.ticket_id for line in lines for t in decode(line) if isinstance(t, Ticket) and wl.match_ticket(t)]
    mine = take(lines, Enricher(s.secret()), Aggregator(s.detect, router(s.partitions)), s.max_message_bytes,
                boards=True).board_tickets
    board_tickets = sum(1 for t in mine if entries(t))
    expected = list(detect(lines, s))
    assert expected and matched

    hook = Hook().start()
    config = NotifyConfig(broker=s.bootstrap, topic_alerts=s.topic_alerts, topic_tickets=s.topic_tickets,
                          group_id=f"notify-{uuid.uuid4().hex[:8]}",
                          redis_url=server.url, prefix=NOTIFY, consumer="n1", tick_seconds=0.1, backoff_seconds=0.2,
                          session_timeout=6.0, rebalance_timeout=10.0, subscription_poll_seconds=0.5,
                          subscription_wait_seconds=0, subscription_interval_seconds=1,
                          subscription_digest_max=100_000)
    notify = NotifyService(config, routes(hook), client(server.url))
    notify_threads = notify.start()
    desk_metrics = DeskMetrics()
    desk = AlertConsumer(desk_settings({}, redis_url=server.url, prefix=DESK, broker=s.bootstrap,
                                       topic_alerts=s.topic_alerts, group_id=f"desk-{uuid.uuid4().hex[:8]}",
                                       session_timeout=6.0),
                         AlertStore(client(server.url), DESK), desk_metrics)
    desk.start()
    try:
        w = env.start_worker()
        port = w.settings.web_port
        head, mid = len(lines) // 5, len(lines) * 9 // 10
        produce(s, lines[:head])
        w.wait_stats(lambda st: st["tickets"] >= head)
        wait_for(lambda: sum(r.scard(k) for k in r.scan_iter(f"{BOARDS}:counted:*")) > 0, "the boards to count")
        published_before = len(read_topic(s, s.topic_alerts, idle=1.0))

        server.kill()  # ---- the outage -------------------------------------------------------
        down_at = time.monotonic()
        feed = threading.Thread(target=produce, args=(s, lines[head:mid]), kwargs={"rate": (mid - head) / outage})
        feed.start()
        saw_down = False
        while feed.is_alive() or time.monotonic() - down_at < outage:
            status, body = scrape(port, "/health")
            assert status == 200, body  # ready for Kafka work all along
            saw_down = saw_down or orjson.loads(body).get("redis_up") is False
            assert w.process.poll() is None
            time.sleep(0.5)
        feed.join()
        w.wait_stats(lambda st: st["tickets"] >= mid)  # counted while Redis is down ...
        assert saw_down, "/health never said Redis was down"
        wait_for(lambda: len(read_topic(s, s.topic_alerts, idle=1.0)) > published_before,
                 "alerts published while Redis is down", timeout=120)
        assert server.process.poll() is not None
        server.start()  # ---- back, on the same port, with its append-only file ----------------

        produce(s, lines[mid:])
        got = alerts(env, len(expected))
        assert canonical(got) == canonical(expected), differences(got, expected)
        assert w.stats()["tickets"] == len(lines)

        # The boards: every ticket counted once, equal to the recount.
        wait_for(lambda: sum(r.scard(k) for k in r.scan_iter(f"{BOARDS}:counted:*")) >= board_tickets,
                 "every ticket counted on the boards", timeout=120)
        boards = RedisBoards(r, BOARDS)
        last = max(t.ts for t in mine)
        for kind in ("day", "week", "month", "quarter"):
            period = period_of(last - 86400.0, kind)
            for scope in (CITY, "310115", "310104"):
                for dim in ("firm", "product", "issue", "term"):
                    want = sorted(brute(mine, kind, period, scope, dim).items(), key=lambda kv: (-kv[1], kv[0]))[:10]
                    assert [(x["key"], x["count"]) for x in boards.board(kind, period, scope, dim)["items"]] == want

        # Notify: each receiver was told every alert routed to it, its last state included, once.
        final: dict[str, dict[str, Any]] = {}
        for ev in got:  # the topic's order (one partition)
            final[ev["alert_id"]] = ev
        routed = {"duty": set(final), "chief": {a for a, ev in final.items() if ev["type"] == "group_dispute"}}
        want_last = {(rec, a, final[a]["status"], final[a]["severity"]) for rec, ids in routed.items() for a in ids}
        want_tickets = {("duty", t) for t in matched}

        def complete() -> bool:
            a, t = told(hook)
            return want_last <= set(a) and want_tickets <= set(t)

        wait_for(complete, "every alert and subscription match told", timeout=120)
        time.sleep(2.0)  # time for a duplicate to show
        alerts_told, tickets_told = told(hook)
        assert {(rec, a) for rec, a, _, _ in alerts_told} == {(rec, a) for rec, ids in routed.items() for a in ids}
        assert set(alerts_told.values()) == {1}, [k for k, n in alerts_told.items() if n > 1]
        assert set(tickets_told) == want_tickets and set(tickets_told.values()) == {1}
        assert not notify.errors
        assert notify.metrics.redis_errors.labels("write")._value.get() > 0

        # The desk: the same store as the topic folded where Redis never went away.
        reference = AlertStore(redis.Redis.from_url(REDIS_URL), f"ewtest:{uuid.uuid4().hex[:12]}")
        try:
            reference.apply(got)
            store = desk.store
            wait_for(lambda: store.count() == reference.count()
                     and all(store.get(a) == reference.get(a) for a in final), "the desk to catch up", timeout=60)
            assert desk.failed is None
            for a in final:
                assert store.timeline(a) == reference.timeline(a)
            assert store.query(AlertQuery(), limit=1000).items == reference.query(AlertQuery(), limit=1000).items
        finally:
            for k in reference.r.scan_iter(f"{reference.p}:*"):
                reference.r.delete(k)
        assert desk_metrics.redis_errors.labels("write")._value.get() > 0

        # The worker: Redis is back in /health, the failures were counted, with backoff.
        status, body = scrape(port, "/health")
        assert status == 200 and orjson.loads(body)["redis_up"] is True
        text = scrape(port, "/metrics")[1].decode()
        errors = metric(text, "earlywarn_redis_errors_total")
        assert 0 < errors < 10 * (time.monotonic() - down_at), errors
        assert metric(text, "earlywarn_board_tickets_dropped_total") == 0
    finally:
        notify.stop.set()
        for t in notify_threads:
            t.join(10)
        notify.close()
        desk.close()
        hook.stop()


@pytest.mark.parametrize("outage", [pytest.param(8.0, id="8s"), pytest.param(60.0, id="60s", marks=pytest.mark.slow)])
def test_a_redis_outage_stops_no_stream_and_loses_nothing(new_stream_env: Any, own_redis: RedisServer,
                                                           outage: float) -> None:
    outage_run(new_stream_env, own_redis, outage)


# ---- the parts, each through a short outage -------------------------------------------------

def test_a_notification_a_receiver_took_as_redis_died_is_recorded_when_it_returns_and_not_sent_again(
        own_redis: RedisServer, hook: Hook) -> None:
    from alerts.notify.outbox import Deliverer, RetryPolicy
    from alerts.notify.pipeline import Pipeline
    from alerts.notify.receivers import WebhookReceiver
    from alerts.notify.silences import Silences
    from alerts.redis_client import RedisHealth
    from tests.test_alerts.conftest import event

    class Dying(WebhookReceiver):
        """Takes the notification, and Redis dies right then; it is back 1.5 s later."""

        def send(self, notes: Any) -> None:
            super().send(notes)
            own_redis.kill()
            threading.Timer(1.5, own_redis.start).start()

    r = client(own_redis.url)
    tree = routes(hook)
    pipeline = Pipeline(r, NOTIFY, tree, Silences(r, NOTIFY))
    pipeline.ingest([event(1)])
    pipeline.flush_due()
    metrics = NotifyMetrics()
    health = RedisHealth(metrics.redis_errors, metrics.redis_up)
    d = Deliverer(r, NOTIFY, Dying(tree.receivers["duty"]), "n1", RetryPolicy(3, 0.01, 0.01), metrics, health=health)
    assert d.run_once(block_ms=0) == 1  # returns once Redis has recorded it
    assert own_redis.process.poll() is None and health.up
    while d.run_once(block_ms=0):
        pass
    assert len(hook.bodies()) == 1 and d.depth() == 0
    assert metrics.redis_errors.labels("write")._value.get() > 0


def test_the_desk_rebuilds_its_store_from_the_topic_when_redis_comes_back_empty(broker: Any, tmp_path: Any) -> None:
    from kafka import KafkaProducer

    from tests.test_desk.conftest import event

    server = RedisServer(tmp_path, appendonly=False).start()  # no persistence: a restart is empty
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    events = [event(1), event(2), event(1, status="update", severity="critical", raised_at="2025-03-04T11:00:00+08:00")]
    for ev in events:
        producer.send(topic, key=ev["alert_id"].encode(), value=orjson.dumps(ev))
    producer.flush()
    metrics = DeskMetrics()
    store = AlertStore(client(server.url), DESK)
    desk = AlertConsumer(desk_settings({}, redis_url=server.url, prefix=DESK, broker=broker.bootstrap, topic_alerts=topic,
                                       group_id=f"desk-{topic}", session_timeout=6.0), store, metrics)
    desk.start()
    try:
        wait_for(lambda: store.count() == 2 and len(store.timeline(event(1)["alert_id"])) == 2, "the store", 30)
        server.kill()
        producer.send(topic, key=event(3)["alert_id"].encode(), value=orjson.dumps(event(3)))  # to store meanwhile
        producer.flush()
        wait_for(lambda: metrics.redis_errors.labels("write")._value.get() > 0, "the consumer to find Redis gone", 30)
        server.start()
        wait_for(lambda: metrics.events.labels("new")._value.get() == 7, "the topic read again", 30)
        assert store.count() == 3 and len(store.timeline(event(1)["alert_id"])) == 2
        assert store.get(event(1)["alert_id"])["severity"] == "critical" and desk.failed is None
    finally:
        producer.close()
        desk.close()
        server.stop()


def test_the_desks_ticket_consumer_rides_out_an_outage_and_stores_what_came_meanwhile(broker: Any, tmp_path: Any) -> None:
    from desk.tickets import TicketConsumer, TicketStore
    from tests.test_desk.test_tickets import ticket

    server = RedisServer(tmp_path).start()
    topic = f"tickets-{uuid.uuid4().hex[:8]}"
    s = desk_settings({}, redis_url=server.url, prefix=DESK, broker=broker.bootstrap, topic_tickets=topic,
                      group_id=f"desk-{topic}", session_timeout=6.0, pseudonym_secret="k")
    tickets = TicketStore(client(server.url), DESK, s.ticket_days)
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)

    def send(*ts: dict[str, Any]) -> None:
        for t in ts:
            producer.send(topic, orjson.dumps(t))
        producer.flush()

    send(ticket(1), ticket(2))
    consumer = TicketConsumer(s, tickets)
    consumer.start()
    try:
        wait_for(lambda: consumer.stored == 2, "the first tickets", 30)
        server.kill()
        send(ticket(3))  # comes while Redis is away
        time.sleep(2.0)  # the consumer polls it and cannot store it
        server.start()
        wait_for(lambda: consumer.stored == 3, "the ticket read again once Redis answers", 30)
        assert consumer.failed is None and tickets.get("SH000003") is not None
    finally:
        producer.close()
        consumer.close()
        server.stop()


def test_a_full_board_queue_drops_the_oldest_and_counts_them(tmp_path: Any) -> None:
    from prometheus_client import CollectorRegistry
    from prometheus_client import Counter as PromCounter

    from alerts.boards import BoardWriter
    from alerts.redis_client import RedisHealth
    from tests.test_detectors.test_boards import board_tickets

    server = RedisServer(tmp_path).start()
    tickets = [t for t in board_tickets(seed=3, days=2) if t.kind != "consultation"][:300]
    dropped = PromCounter("dropped", "", registry=CollectorRegistry())
    writer = BoardWriter(RedisBoards(client(server.url), BOARDS), RedisHealth(), limit=200, dropped=dropped,
                         batch=50)
    server.kill()
    writer.start()
    writer.offer(tickets[:150])
    writer.offer(tickets[150:])  # Redis away: 300 offered, 200 kept, the 100 oldest dropped
    assert dropped._value.get() == 100 and writer.pending == 200
    server.start()
    try:
        wait_for(lambda: writer.pending == 0, "the queue to be written", 30)
        r = redis.Redis.from_url(server.url)
        assert sum(r.scard(k) for k in r.scan_iter(f"{BOARDS}:counted:*")) == 200
        assert writer.close(1.0) == 0
    finally:
        server.stop()


def test_the_desk_health_says_redis_is_down(own_redis: RedisServer) -> None:
    from fastapi.testclient import TestClient

    from desk.app import create_app

    settings = desk_settings({}, redis_url=own_redis.url, prefix=DESK, consume=False, broker="127.0.0.1:1")
    with TestClient(create_app(settings, client(own_redis.url), publisher=object())) as http:  # type: ignore[arg-type]
        up = http.get("/health")
        assert up.status_code == 200 and up.json()["redis_up"] is True
        own_redis.kill()
        down = http.get("/health")
        assert down.status_code == 503 and down.json() == {"ok": False, "redis_up": False}
