"""Scale-out: workers in one consumer group give the alerts one process gives.

Partitions move between workers while tickets flow: when a second worker joins, and when
one of two is stopped with SIGTERM. The worker giving partitions away settles first
(window state flushed, how far each ticket partition was ingested recorded); the new
owner recovers both from the changelogs. No ticket may be counted twice or late, so the
alerts must equal offline ``detect`` on the same input.

The input is on the broker before any worker starts: a ticket partition counts as idle
only once it is read to its end, so event time cannot run ahead of tickets still unread.
(A pause in the input longer than ``idle_seconds`` is, by the documented rule, the end of
the input so far; tickets after it may be late, and the alerts may then differ.)
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from typing import Any

import orjson
import pytest

from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, generate
from streams.kafka_io import produce, read_topic

pytestmark = pytest.mark.broker


def canonical(alerts: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) for a in alerts)


def simulated() -> list[bytes]:
    """Ten simulated days with a group dispute and a concentrated demand (~7,200 tickets)."""
    tickets, _ = generate(SimConfig(seed=23, days=10, tickets_per_day=700, firms=800, warmup_days=7.5,
                                    incidents=(("prepaid_closure", 1), ("product_defect", 1)), decoys=()))
    return [orjson.dumps(t) for t in tickets]


def wait_for(pred: Any, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def owns_tickets(w: Any, env: Any) -> bool:
    """Whether worker *w* has ticket partitions assigned (its ``earlywarn_partitions_owned``)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{w.settings.web_port}/metrics", timeout=3) as r:
            text = r.read().decode()
    except OSError:
        return False
    owned = re.search(rf'^earlywarn_partitions_owned{{topic="{re.escape(env.settings.topic_tickets)}"}} (\S+)$', text, re.M)
    return owned is not None and float(owned.group(1)) > 0


def differences(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> str:
    g, e = canonical(got), canonical(expected)
    missing = [x for x in e if x not in g]
    extra = [x for x in g if x not in e]
    show = [b"missing " + x[:160] for x in missing[:3]] + [b"extra " + x[:160] for x in extra[:3]]
    # For an event in both with other contents: the fields that differ.
    event = lambda a: (a["alert_id"], a["status"], a["raised_at"])  # noqa: E731
    theirs = {event(a): a for a in expected}
    fields = []
    for a in got:
        b = theirs.get(event(a))
        if b is not None and a != b:
            fields.append(f"{event(a)}: " + "; ".join(f"{k}: {a.get(k)!r} (detect {b.get(k)!r})"
                                                       for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k))[:600])
    return (f"{len(got)} alerts, {len(expected)} expected, {len(missing)} missing, {len(extra)} extra:\n"
            + "\n".join(x.decode(errors="replace") for x in show) + "\n" + "\n".join(fields[:4]))


def alerts(env: Any, expected: int) -> list[dict[str, Any]]:
    """The alert topic once it holds *expected* alerts and nothing more came for a while."""
    topic = env.settings.topic_alerts
    read_topic(env.settings, topic, until=lambda got: len(got) >= expected, timeout=240)
    return [orjson.loads(v) for _, v in read_topic(env.settings, topic, idle=3.0)]


def test_two_workers_give_the_alerts_one_gives(stream_env: Any) -> None:
    lines = simulated()
    produce(stream_env.settings, lines)
    # Started together, so the second joins before the first has read everything (alone it
    # reads the input in seconds); the group then rebalances the partitions between them.
    first, second = stream_env.spawn_worker(), stream_env.spawn_worker()
    expected = list(detect(lines, stream_env.settings))
    got = alerts(stream_env, len(expected))
    stats = [first.stats(), second.stats()]
    assert sum(st["tickets"] for st in stats) == len(lines), "a ticket was counted twice, or lost"
    assert all(st["tickets"] > 0 for st in stats), "the second worker should have taken partitions"
    assert sum(st["late_tickets"] for st in stats) == 0
    assert expected and canonical(got) == canonical(expected), differences(got, expected)


# Forgetting after two days (of the ten) drops keys and renews returning ones mid-stream:
# the new owner of a partition must find in the table what the old one left.
@pytest.mark.parametrize("forget_days", [90.0, 2.0])
def test_when_a_worker_stops_the_other_takes_over_and_the_alerts_stay_the_same(stream_env: Any,
                                                                               forget_days: float) -> None:
    # Tickets keep arriving while the worker stops, so ticket partitions move mid-read. The
    # feed must never pause for idle_seconds (that would be an end of input): give it room.
    env = stream_env
    env.settings = env.settings.with_(idle_seconds=8.0, forget_days=forget_days)
    lines = simulated()
    head = len(lines) // 4
    produce(env.settings, lines[:head])
    leaving, staying = env.start_worker(), env.start_worker()
    # Owning, not having read: the first worker may read all of the head before the second joins.
    wait_for(lambda: owns_tickets(leaving, env) and owns_tickets(staying, env), "both workers to own ticket partitions")
    feed = threading.Thread(target=produce, args=(env.settings, lines[head:]), kwargs={"rate": 300.0})
    feed.start()
    try:
        before = leaving.stats()["tickets"]
        leaving.wait_stats(lambda st: st["tickets"] > before, timeout=120)
        assert feed.is_alive(), "the worker should stop while tickets still arrive"
        leaving.process.terminate()  # SIGTERM: it settles, then leaves the group
        rc = leaving.process.wait(timeout=60)  # a hang here is the bug this guards against
        assert rc == 0, leaving.log.read_text()[-3000:]
    finally:
        feed.join()
    expected = list(detect(lines, env.settings))
    got = alerts(env, len(expected))
    assert staying.stats()["late_tickets"] == 0, "the new owner counted tickets after their bucket was judged"
    assert expected and canonical(got) == canonical(expected), differences(got, expected)
