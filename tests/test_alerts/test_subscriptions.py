"""Keyword subscriptions: kept in Redis, picked up without a restart, matched by notify in
the tickets topic (on the embedded broker, through a Redis outage and a restart) and in
alert events, rate-limited into digests and delivered once through the outbox, with no
personal data in what is pushed."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from typing import Any

import orjson
import pytest
import redis

from alerts.notify.metrics import NotifyMetrics
from alerts.notify.outbox import Deliverer, RetryPolicy
from alerts.notify.receivers import build
from alerts.notify.routing import load_text
from alerts.notify.subscriptions import MAX_PENDING, Digests, Live, SubscriptionStore, enqueue
from alerts.notify.tickets import TicketMatches
from detectors.watchlist import Sub, Watchlist, ticket_match
from tests.test_alerts.conftest import REDIS_URL, Hook, event

pytestmark = pytest.mark.redis


@pytest.fixture
def r() -> Any:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


def ticket(n: int, content: str = "老板跑路了，要求退费。", **over: Any) -> dict[str, Any]:
    t = {"ticket_id": f"T{n}", "kind": "complaint", "received_at": "2026-03-04T09:00:00+08:00",
         "district_code": "310115", "firm_name": "某健身（浦东店）", "content": content}
    t.update(over)
    return t


def routes(hook: Hook) -> Any:
    return load_text(f"""\
receivers:
  - {{name: duty, webhook: {{url: "{hook.url}"}}}}
route:
  receiver: duty
""", "routes.yml")


def deliver_all(r: Any, prefix: str, tree: Any) -> None:
    for spec in tree.receivers.values():
        d = Deliverer(r, prefix, build(spec), "t", RetryPolicy(2, 0.01, 0.01), NotifyMetrics())
        while d.run_once(block_ms=10):
            pass


# ---- the store and live reloading ---------------------------------------------------------

def test_store_add_list_remove_and_the_version_moves(r: Any, redis_prefix: str) -> None:
    store = SubscriptionStore(r, redis_prefix)
    v0 = store.version()
    a = store.add("term", " 跑路 ", "duty", "王科长")
    b = store.add("district", "浦东新区", "duty", "李四")
    assert [(s.kind, s.value, s.who) for s in store.all()] == [("term", "跑路", "王科长"), ("district", "310115", "李四")]
    assert store.version() == v0 + 2
    assert store.remove(a.id) and not store.remove(a.id)
    assert [s.id for s in store.all()] == [b.id]
    assert store.version() == v0 + 4
    for kind, value, who in (("colour", "红", "x"), ("term", "卡", "x"), ("district", "火星", "x"), ("term", "跑路", " ")):
        with pytest.raises(ValueError):
            store.add(kind, value, "duty", who)


def test_a_running_watchlist_picks_up_changes_without_a_restart(r: Any, redis_prefix: str) -> None:
    store = SubscriptionStore(r, redis_prefix)
    live = Live(store, poll=5.0)
    t = ticket(1)
    assert not live.refresh(now=0.0).match_ticket(t)
    sub = store.add("term", "跑路", "duty", "王科长")
    assert not live.refresh(now=1.0).match_ticket(t), "polls only every 5 s"
    assert [s.id for s, _ in live.refresh(now=5.0).match_ticket(t)] == [sub.id]
    store.remove(sub.id)
    assert not live.refresh(now=10.0).match_ticket(t)


# ---- digests: rate limit, batching, once only ----------------------------------------------

def test_matches_are_batched_into_digests_at_most_one_per_interval_and_told_once(
        r: Any, redis_prefix: str, hook: Hook) -> None:
    tree = routes(hook)
    store = SubscriptionStore(r, redis_prefix)
    sub = store.add("term", "跑路", "duty", "王科长")
    digests = Digests(r, redis_prefix, store, tree.receivers, wait=30, interval=300, max_items=20)
    matches = [ticket_match(sub, ("跑路",), ticket(i)) for i in range(25)]
    enqueue(r, redis_prefix, matches, wait=30, now=1000.0)
    assert digests.flush_due(now=1010.0).notifications == 0, "the first match waits for company"
    first = digests.flush_due(now=1030.0)
    assert first.notifications == 1 and first.matches["ticket"] == 20
    enqueue(r, redis_prefix, [ticket_match(sub, ("跑路",), ticket(99))], wait=30, now=1040.0)
    assert digests.flush_due(now=1100.0).notifications == 0, "rate-limited: one digest per 300 s"
    second = digests.flush_due(now=1330.0)
    assert second.notifications == 1 and second.matches["ticket"] == 6
    # The same matches again (a worker replaying a batch): nothing new to tell.
    enqueue(r, redis_prefix, matches, wait=30, now=1400.0)
    assert digests.flush_due(now=2000.0).notifications == 0
    deliver_all(r, redis_prefix, tree)
    bodies = hook.bodies()
    assert len(bodies) == 2
    told = [a["match"]["ticket_id"] for b in bodies for a in b["alerts"]]
    assert sorted(told) == sorted([f"T{i}" for i in range(25)] + ["T99"])
    assert all(a["type"] == "subscription_match" for b in bodies for a in b["alerts"])


def test_a_redriven_digest_is_not_told_twice(r: Any, redis_prefix: str, hook: Hook) -> None:
    from alerts.notify.outbox import redrive
    from alerts.notify.pipeline import outbox_key

    tree = routes(hook)
    store = SubscriptionStore(r, redis_prefix)
    sub = store.add("firm", "某健身", "duty", "王科长")
    enqueue(r, redis_prefix, [ticket_match(sub, ("某健身",), ticket(1))], wait=0, now=1000.0)
    Digests(r, redis_prefix, store, tree.receivers, wait=0).flush_due(now=1000.0)
    note = r.xrange(outbox_key(redis_prefix, "duty"))[0][1][b"note"]
    deliver_all(r, redis_prefix, tree)
    r.xadd(f"{redis_prefix}:deadletter", {"receiver": "duty", "note": note, "error": "x", "attempts": 1,
                                           "failed_at": 0})
    assert redrive(r, redis_prefix) == 1
    deliver_all(r, redis_prefix, tree)
    assert len(hook.bodies()) == 1


def test_a_subscription_whose_receiver_is_not_routed_keeps_its_matches(r: Any, redis_prefix: str, hook: Hook) -> None:
    tree = routes(hook)
    store = SubscriptionStore(r, redis_prefix)
    sub = store.add("term", "跑路", "nobody", "王科长")
    enqueue(r, redis_prefix, [ticket_match(sub, ("跑路",), ticket(1))], wait=0, now=1000.0)
    stats = Digests(r, redis_prefix, store, tree.receivers, wait=0).flush_due(now=1000.0)
    assert stats.unroutable == 1 and stats.notifications == 0
    assert r.llen(f"{redis_prefix}:sub:pending:{sub.id}") == 1


def test_a_flood_keeps_the_newest_matches_only(r: Any, redis_prefix: str) -> None:
    sub = Sub("s1", "term", "跑路", "duty")
    enqueue(r, redis_prefix, [ticket_match(sub, ("跑路",), ticket(i)) for i in range(MAX_PENDING + 50)], wait=0)
    kept = r.lrange(f"{redis_prefix}:sub:pending:s1", 0, 0)
    assert r.llen(f"{redis_prefix}:sub:pending:s1") == MAX_PENDING
    assert json.loads(kept[0])["match"]["ticket_id"] == "T50"


def test_alert_events_match_subscriptions_once_per_status_and_severity(r: Any, redis_prefix: str, hook: Hook) -> None:
    tree = routes(hook)
    store = SubscriptionStore(r, redis_prefix)
    firm = store.add("firm", "某健身3号", "duty", "王科长")
    term = store.add("term", "闭店", "duty", "王科长")
    store.add("district", "310104", "duty", "徐汇所")  # matches nothing here
    live = Live(store, poll=0)
    digests = Digests(r, redis_prefix, store, tree.receivers, wait=0, interval=1)
    ev = event(3)
    evs = [ev, ev, {**ev, "status": "update", "severity": "critical"}, {**ev, "status": "resolved"},
           {**event(4), "top_terms": ["退费"], "summary": "无关"}]
    assert digests.offer_alerts(live, evs, now=1000.0) == 6  # 3 events x 2 subscriptions; resolved not matched
    stats = digests.flush_due(now=1000.0)
    assert stats.notifications == 2 and stats.matches["alert"] == 4  # the repeated event is told once
    deliver_all(r, redis_prefix, tree)
    got = sorted((b["group_labels"]["subscription"], a["match"]["alert_id"], a["match"]["severity"])
                 for b in hook.bodies() for a in b["alerts"])
    assert got == sorted([(firm.id, ev["alert_id"], "warning"), (firm.id, ev["alert_id"], "critical"),
                          (term.id, ev["alert_id"], "warning"), (term.id, ev["alert_id"], "critical")])


# ---- personal data -------------------------------------------------------------------------

@pytest.mark.parametrize("content, personal", [
    ("我叫蔡明琳，电话13812345678，老板跑路了", ["蔡明琳", "13812345678"]),
    ("身份证号310101199001011234，跑路的店长王建国拒绝退款", ["310101199001011234"]),
    ("联系电话 021-6234 5678，店员廖俊峰说老板跑路了", ["021-6234 5678", "6234", "廖俊峰"]),
    ("邮箱 caimingl@example.com，跑路", ["caimingl@example.com"]),
])
def test_a_ticket_match_carries_no_personal_data(content: str, personal: list[str]) -> None:
    from detectors.text import Segmenter

    seg = Segmenter()
    sub = Sub("s1", "term", "跑路", "duty")
    t = ticket(1, content, complainant_name="蔡明琳", complainant_phone="13812345678",
               complainant_id="310101199001011234")
    (found, words), = Watchlist([sub]).match_ticket(t)
    ev = ticket_match(found, words, t, cut=seg.cut, names=seg.names)
    text = json.dumps(ev, ensure_ascii=False)
    assert "跑路" in ev["match"]["excerpt"] and ev["match"]["ticket_id"] == "T1"
    assert ev["match"]["firm"] == "某健身（浦东店）" and ev["match"]["district_code"] == "310115"
    for p in personal:
        assert p not in text, p


# ---- against the tickets topic, in notify ----------------------------------------------------

def notify_on(broker: Any, redis_url: str, prefix: str, hook: Hook, stamp: str = "", **over: Any) -> tuple[Any, str]:
    """A NotifyService on the embedded broker with topics and groups named by *stamp* (new
    ones, the tickets topic with 2 partitions, unless given), and its tickets topic."""
    from kafka.admin import KafkaAdminClient, NewTopic

    from alerts.notify.config import NotifyConfig
    from alerts.notify.service import NotifyService
    from alerts.redis_client import client

    if not stamp:
        stamp = uuid.uuid4().hex[:8]
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic(f"tickets-{stamp}", 2, 1), NewTopic(f"alerts-{stamp}", 1, 1)])
        admin.close()
    config = NotifyConfig(broker=broker.bootstrap, topic_alerts=f"alerts-{stamp}", topic_tickets=f"tickets-{stamp}",
                          group_id=f"notify-{stamp}", redis_url=redis_url, prefix=prefix, consumer="n1",
                          tick_seconds=0.1, backoff_seconds=0.2, session_timeout=6.0, rebalance_timeout=10.0,
                          subscription_poll_seconds=0.5, subscription_wait_seconds=0,
                          subscription_interval_seconds=1).with_(**over)
    return NotifyService(config, routes(hook), client(redis_url)), config.topic_tickets


def send(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i, v in enumerate(values):
        producer.send(topic, v, partition=i % 2)
    producer.flush()
    producer.close()


def wait_until(pred: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def told_tickets(hook: Hook) -> Counter:
    """(subscription, ticket id) the receiver was told, each with how many times."""
    return Counter((b["group_labels"]["subscription"], a["match"]["ticket_id"])
                   for b in hook.bodies() for a in b["alerts"])


@pytest.mark.broker
def test_notify_matches_tickets_on_the_topic_and_pushes_digests(broker: Any, r: Any, redis_prefix: str,
                                                                hook: Hook) -> None:
    """Tickets sent to the tickets topic (one a message, a bulk array, some that ingest would
    dead-letter) end as subscription_match digests at the receiver, through notify alone."""
    from tests.test_streams.test_pii import with_personal_data

    notify, topic = notify_on(broker, REDIS_URL, redis_prefix, hook, subscription_digest_max=100)
    threads = notify.start()
    try:
        store = SubscriptionStore(r, redis_prefix)
        term = store.add("term", "跑路", "duty", "王科长")  # added while notify runs
        firm = store.add("firm", "某健身", "duty", "王科长")
        time.sleep(1.5)  # a poll or two
        base = [orjson.dumps(ticket(i, "老板跑路了，要求退费。" if i % 2 else "课程质量差。",
                                    firm_name="某健身（浦东店）" if i % 3 == 0 else "某超市"))
                for i in range(60)]
        lines, personal = with_personal_data(base, random.Random(5), {})
        bulk = b"[" + b",".join(lines[50:]) + b"]"  # a bulk feed's message: ten tickets
        bad = [b"not json", orjson.dumps(ticket(98, received_at="2099-01-01T00:00:00+08:00")),
               orjson.dumps({"ticket_id": "T99", "content": "老板跑路了"})]
        send(broker.bootstrap, topic, lines[:50] + [bulk] + bad)
        want = {(term.id, f"T{i}") for i in range(60) if i % 2} | {(firm.id, f"T{i}") for i in range(60) if i % 3 == 0}
        wait_until(lambda: set(told_tickets(hook)) >= want, "every match told")
        time.sleep(1.0)  # time for a duplicate to show
        told = told_tickets(hook)
        assert set(told) == want and set(told.values()) == {1}
        raw = json.dumps(hook.bodies(), ensure_ascii=False)
        for p in personal:
            assert p not in raw, p
        assert notify.metrics.tickets.labels("checked")._value.get() == 60
        assert notify.metrics.tickets.labels("invalid")._value.get() == 3
        assert not notify.errors
    finally:
        notify.stop.set()
        for t in threads:
            t.join(10)
        notify.close()


@pytest.mark.broker
def test_no_match_is_lost_to_a_redis_outage_mid_batch_nor_to_a_restart_before_queueing(
        broker: Any, own_redis: Any, hook: Hook) -> None:
    """Redis dies with a batch read and matched, not queued: the same notify reads it again
    once Redis is back; then a notify stopped in that state and a new one started in its
    place (the same group): no match lost, none told twice."""
    prefix = "ew:notify"
    r = redis.Redis.from_url(own_redis.url)
    sub = SubscriptionStore(r, prefix).add("term", "跑路", "duty", "王科长")
    lines = [orjson.dumps(ticket(i, "老板跑路了，要求退费。" if i % 2 else "课程质量差。")) for i in range(81)]
    want = {(sub.id, f"T{i}") for i in range(81) if i % 2}
    # Polled once a minute: after the first batch the watchlist is in hand, and a batch fails
    # where it is queued, its matches found and their events built.
    over = {"subscription_poll_seconds": 60.0, "subscription_digest_max": 1000}

    def queued() -> set[tuple[str, str]]:
        return {(sub.id, json.loads(x)["match"]["ticket_id"]) for x in r.lrange(f"{prefix}:sub:pending:{sub.id}", 0, -1)}

    first, topic = notify_on(broker, own_redis.url, prefix, hook, **over)
    stamp = topic.removeprefix("tickets-")
    errors = first.metrics.redis_errors.labels("write")
    loop = first._guard("tickets", first._tickets_loop())  # the ticket loop alone: the failures counted are its
    try:
        send(broker.bootstrap, topic, lines[79:80])
        wait_until(lambda: queued() == {(sub.id, "T79")}, "the first match queued")
        own_redis.kill()  # ---- an outage mid-batch --------------------------------------------
        send(broker.bootstrap, topic, lines[:40])
        wait_until(lambda: errors._value.get() >= 2, "the batch to fail (twice)")
        own_redis.start()
        wait_until(lambda: queued() == {w for w in want if int(w[1][1:]) < 40 or w[1] == "T79"}, "the batch queued")

        own_redis.kill()  # ---- the same, and this notify goes ---------------------------------
        failed = errors._value.get()
        send(broker.bootstrap, topic, lines[40:79] + lines[80:])
        wait_until(lambda: errors._value.get() >= failed + 2, "the next batch to fail")
    finally:
        first.stop.set()
        loop.join(10)
        first.close()
    own_redis.start()
    assert queued() != want
    second, _ = notify_on(broker, own_redis.url, prefix, hook, stamp=stamp, **over)
    threads = second.start()
    try:
        wait_until(lambda: set(told_tickets(hook)) >= want, "every match told")
        time.sleep(1.0)  # time for a duplicate to show
        told = told_tickets(hook)
        assert set(told) == want and set(told.values()) == {1}
        assert not first.errors and not second.errors
    finally:
        second.stop.set()
        for t in threads:
            t.join(10)
        second.close()


def test_notify_lists_a_budget_of_matches_a_subscription_and_counts_the_rest(r: Any, redis_prefix: str,
                                                                              hook: Hook) -> None:
    store = SubscriptionStore(r, redis_prefix)
    sub = store.add("term", "跑路", "duty", "王科长")
    matches = TicketMatches(r, redis_prefix, Live(store, poll=0), wait=0, interval=300, digest_max=5,
                            max_bytes=262144, max_future_seconds=86400)
    got = matches.take([orjson.dumps(ticket(i)) for i in range(8)] + [orjson.dumps([ticket(i) for i in range(8, 12)])])
    assert (got.tickets, got.invalid, got.matches, got.queued) == (12, 0, 12, 5)
    tree = routes(hook)
    stats = Digests(r, redis_prefix, store, tree.receivers, wait=0, max_items=5).flush_due()
    assert stats.notifications == 1 and stats.matches["ticket"] == 5
    deliver_all(r, redis_prefix, tree)
    [body] = hook.bodies()
    assert [a["match"]["ticket_id"] for a in body["alerts"]] == [f"T{i}" for i in range(5)]
    assert body["alerts"][-1]["unlisted"] == 7 and "另有7条" in body["alerts"][-1]["summary"]
    assert int(r.get(f"{redis_prefix}:sub:unlisted:{sub.id}")) == 0
