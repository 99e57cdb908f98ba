"""Redis down and back while everything runs: the stream never stops, the Redis-backed views
catch up exactly, and the push outbox loses nothing and sends nothing twice.

On the embedded broker and a redis-server of the test's own, append-only as compose runs
it (so a restart keeps what Redis acknowledged): a worker ingests a simulated firehose with
the top-10 boards and a keyword subscription on, ``notify`` delivers to two loopback
webhooks and the desk's consumer keeps its alert store; Redis is killed (SIGKILL) once the
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
    matched: list[str] = []
    wl = Watchlist([sub])
    mine = take(lines, Enricher(s.secret()), Aggregator(s.detect, router(s.partitions)), s.max_message_bytes,
                boards=True, watch=lambda ts: matched.extend(t.ticket_id for t in ts for _ in wl.match_ticket(t)),
                ).board_tickets
    board_tickets = sum(1 for t in mine if entries(t))
    expected = list(detect(lines, s))
    assert expected and matched

    hook = Hook().start()
    config = NotifyConfig(broker=s.bootstrap, topic_alerts=s.topic_alerts, group_id=f"notify-{uuid.uuid4().hex[:8]}",
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
        consumer = getattr(notify, "_consumer", None)
        if consumer is not None:
            consumer.close(autocommit=False)
        desk.close()
        hook.stop()


@pytest.mark.parametrize("outage", [pytest.param(8.0, id="8s"), pytest.param(60.0, id="60s", marks=pytest.mark.slow)])
def test_a_redis_outage_stops_no_stream_and_loses_nothing(new_stream_env: Any, own_redis: RedisServer,
                                                           outage: float) -> None:
    outage_run(new_stream_env, own_redis, outage)
