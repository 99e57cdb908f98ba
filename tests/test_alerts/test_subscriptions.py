"""Keyword subscriptions: kept in Redis, picked up without a restart, matched at ingest by a
real worker on the embedded broker and in alert events by notify, rate-limited into
digests and delivered once through the outbox, with no personal data in what is pushed."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import orjson
import pytest
import redis

from alerts.notify.metrics import NotifyMetrics
from alerts.notify.outbox import Deliverer, RetryPolicy
from alerts.notify.receivers import build
from alerts.notify.routing import load_text
from alerts.notify.subscriptions import MAX_PENDING, Digests, Live, SubscriptionStore, enqueue
from detectors.watchlist import Sub, Watchlist, ticket_match
from streams.kafka_io import produce
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


# ---- at ingest, in a real worker -----------------------------------------------------------

@pytest.mark.broker
def test_a_worker_matches_tickets_at_ingest_and_notify_pushes_digests(
        new_stream_env: Any, r: Any, redis_prefix: str, hook: Hook) -> None:
    from tests.test_streams.test_pii import with_personal_data

    env = new_stream_env()
    env.settings = env.settings.with_(redis_url=REDIS_URL, notify_prefix=redis_prefix,
                                      subscription_poll_seconds=0.5, subscription_wait_seconds=0,
                                      subscription_digest_max=100)
    w = env.start_worker()
    store = SubscriptionStore(r, redis_prefix)
    term = store.add("term", "跑路", "duty", "王科长")  # added while the worker runs
    firm = store.add("firm", "某健身", "duty", "王科长")
    time.sleep(1.5)  # a poll or two
    base = [orjson.dumps(ticket(i, "老板跑路了，要求退费。" if i % 2 else "课程质量差。",
                                firm_name="某健身（浦东店）" if i % 3 == 0 else "某超市"))
            for i in range(60)]
    lines, personal = with_personal_data(base, random.Random(5), {})
    produce(env.settings, lines)
    w.wait_stats(lambda st: st["tickets"] >= 60, timeout=60)
    want = {term.id: {f"T{i}" for i in range(60) if i % 2}, firm.id: {f"T{i}" for i in range(60) if i % 3 == 0}}

    def pending() -> dict[str, set[str]]:
        return {sid: {json.loads(x)["match"]["ticket_id"] for x in r.lrange(f"{redis_prefix}:sub:pending:{sid}", 0, -1)}
                for sid in want}

    deadline = time.monotonic() + 20
    while pending() != want and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pending() == want
    raw = b"".join(x for sid in want for x in r.lrange(f"{redis_prefix}:sub:pending:{sid}", 0, -1)).decode()
    for p in personal:
        assert p not in raw, p
    tree = routes(hook)
    stats = Digests(r, redis_prefix, store, tree.receivers, wait=0, max_items=100).flush_due()
    assert stats.notifications == 2 and stats.matches["ticket"] == 50
    deliver_all(r, redis_prefix, tree)
    told = {b["group_labels"]["subscription"]: {a["match"]["ticket_id"] for a in b["alerts"]} for b in hook.bodies()}
    assert told == want


def test_a_worker_lists_a_budget_of_matches_a_subscription_and_counts_the_rest(r: Any, redis_prefix: str,
                                                                               hook: Hook) -> None:
    from streams.settings import from_env
    from streams.subscriptions import IngestWatch

    store = SubscriptionStore(r, redis_prefix)
    sub = store.add("term", "跑路", "duty", "王科长")
    settings = from_env({}).with_(redis_url=REDIS_URL, notify_prefix=redis_prefix, subscription_poll_seconds=0.01,
                                  subscription_digest_max=5, subscription_wait_seconds=0)
    watch = IngestWatch(settings, r)
    watch.round()  # loads the watchlist
    watch.offer([ticket(i) for i in range(12)])
    assert watch.round() == 5
    tree = routes(hook)
    stats = Digests(r, redis_prefix, store, tree.receivers, wait=0, max_items=5).flush_due()
    assert stats.notifications == 1 and stats.matches["ticket"] == 5
    deliver_all(r, redis_prefix, tree)
    [body] = hook.bodies()
    assert [a["match"]["ticket_id"] for a in body["alerts"]] == [f"T{i}" for i in range(5)]
    assert body["alerts"][-1]["unlisted"] == 7 and "另有7条" in body["alerts"][-1]["summary"]
    assert int(r.get(f"{redis_prefix}:sub:unlisted:{sub.id}")) == 0
