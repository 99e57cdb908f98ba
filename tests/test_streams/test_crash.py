"""A worker killed with SIGKILL and restarted gives what an uninterrupted worker gives.

The worker dies (``tests/test_streams/crashing_worker.py``) at three points: right after a
windows commit before its offsets are committed, halfway through a windows commit, and
mid-publication of alerts; and halfway through a windows commit with ``rocksdb://``, its
successor on the killed worker's data directory (streams.store). (It can also die
mid-ingest, ``ingest``: re-read tickets are dropped by their ids there, which the
duplicate tests cover; left out to keep the suite short.) A fresh worker then takes over
from what the broker holds. Compared with an
uninterrupted run over the same input: the alert events, the inspection tasks and every
key's window state must be the same, none of them twice.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, generate
from streams.checkpoint import stored
from streams.kafka_io import produce, read_topic

pytestmark = [
    pytest.mark.broker, pytest.mark.slow,
    # Off by default: it takes 4-8 minutes here (a reference run and three kill runs, each a
    # worker start, a 10-s session timeout and quiet waits), over the suite's minute for a
    # slow test. EARLYWARN_CRASH_TEST=1 runs it (all three kill points pass since the
    # consumer's skipped messages are read back and ingest acknowledges only what was sent:
    # docs/performance.md, Restarts and hand-overs exact).
    pytest.mark.skipif(not os.environ.get("EARLYWARN_CRASH_TEST"),
                       reason="4-8 minutes: EARLYWARN_CRASH_TEST=1 runs it"),
]

CRASHING_WORKER = Path(__file__).with_name("crashing_worker.py")
SECRET = "crash-test"  # the same pseudonyms in every run, so that window states compare


def simulated() -> list[bytes]:
    """Ten simulated days with a group dispute and a concentrated demand (~7,200 tickets)."""
    tickets, _ = generate(SimConfig(seed=23, days=10, tickets_per_day=700, firms=800, warmup_days=7.5,
                                    incidents=(("prepaid_closure", 1), ("product_defect", 1)), decoys=()))
    return [orjson.dumps(t) for t in tickets]


def settled(w: Any, quiet: float) -> None:
    """Wait until the worker has applied every delta it sent and nothing moved for *quiet* seconds."""
    last = None
    while True:
        st = w.wait_stats(lambda s: s["deltas_applied"] >= s["delta_messages"] and s["deltas_applied"] > 0, timeout=240)
        now = (st["messages"], st["deltas_applied"], st["alerts"])
        if now == last:
            return
        last = now
        time.sleep(quiet)


def outcome(env: Any) -> dict[str, Any]:
    s = env.settings
    alerts = [orjson.loads(v) for _, v in read_topic(s, s.topic_alerts, idle=2.0)]
    tasks = [orjson.loads(v) for _, v in read_topic(s, s.topic_inspection, idle=2.0)]
    state: dict[str, Any] = {}
    for k, v in read_topic(s, f"{s.app_id}-{s.app_id}-state-changelog", idle=2.0):
        key = k.decode()
        if not key.startswith("~"):  # the windows, not a partition's bookkeeping
            if v is None:
                state.pop(key, None)
            else:
                state[key] = windows(orjson.loads(stored(v)))
    return {"alerts": alerts, "tasks": tasks, "state": state}


def run(env: Any, lines: list[bytes], expected: int, kill: tuple[str, int] | None,
        store: str = "memory://") -> dict[str, Any]:
    """Run a worker over *lines* (killed at *kill* and replaced by a fresh one: with
    ``rocksdb://``, on the killed one's data directory), until the alerts topic holds
    *expected* events and the worker has been quiet a while."""
    env.settings = env.settings.with_(pseudonym_secret=SECRET, store=store)
    produce(env.settings, lines)  # all on the broker first: no pause can end the input early
    data = "" if store == "memory://" else "data"
    if kill is not None:
        w = env.spawn_worker([sys.executable, str(CRASHING_WORKER), kill[0], str(kill[1])], data=data)
        rc = w.process.wait(timeout=240)
        assert rc == -9, f"the worker should have been killed at {kill}, exited {rc}:\n{w.log.read_text()[-3000:]}"
    w = env.start_worker(data=data)
    read_topic(env.settings, env.settings.topic_alerts, until=lambda got: len(got) >= expected, timeout=300)
    settled(w, env.settings.idle_seconds + 3.0)
    return {**outcome(env), "successor": w.stats()}


def event(a: dict[str, Any]) -> tuple[str, str, str]:
    return a["alert_id"], a["status"], a["raised_at"]


def doubled(got: dict[str, Any]) -> dict[str, int]:
    """What came twice: alert events, opens of one episode, evidence ids within an alert, task messages."""
    alerts, tasks = got["alerts"], got["tasks"]
    return {
        "duplicate_events": sum(n - 1 for n in Counter(map(event, alerts)).values()),
        "second_opens": sum(n - 1 for n in Counter(a["alert_id"] for a in alerts if a["status"] == "open").values()),
        "repeated_evidence_ids": sum(len(a["ticket_ids"]) - len(set(a["ticket_ids"])) for a in alerts),
        "repeated_tasks": sum(n - 1 for n in Counter((t["task_id"], t["raised_at"]) for t in tasks).values()),
    }


def windows(v: dict[str, Any]) -> dict[str, Any]:
    """A key's stored state, less what depends on how the tickets were batched: the order
    of a bucket's evidence ids, and its label and category (kept only until its tick)."""
    return {**v, "b": [[b, n, sorted(people), sorted(ids), terms, firms, issues, districts, round(amount, 2)]
                       for b, n, people, ids, terms, firms, issues, districts, amount, *_ in v["b"]]}


def window_counts(state: dict[str, Any]) -> int:
    """Tickets counted in the buckets every key keeps, summed over the keys."""
    return sum(b[1] for v in state.values() for b in v["b"])


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return simulated()


@pytest.fixture(scope="module")
def offline(new_stream_env, lines) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """What ``earlywarn detect`` raises on the input (the stream raises the same)."""
    return list(detect(lines, new_stream_env().settings.with_(pseudonym_secret=SECRET)))


@pytest.fixture(scope="module")
def uninterrupted(new_stream_env, lines, offline) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    env = new_stream_env()
    try:
        got = run(env, lines, len(offline), None)
    finally:
        env.stop()
    assert offline and got["tasks"], "the input should raise alerts and tasks"
    assert sorted(map(event, got["alerts"])) == sorted(map(event, offline))
    return got


@pytest.mark.parametrize("point,n,store", [("windows", 3, "memory://"), ("mid-commit", 3, "memory://"),
                                           ("publish", 1, "memory://"), ("mid-commit", 3, "rocksdb://")])
def test_a_worker_killed_and_restarted_gives_what_an_uninterrupted_one_gives(
        new_stream_env, lines, uninterrupted, point: str, n: int, store: str) -> None:  # type: ignore[no-untyped-def]
    env = new_stream_env()
    ref = uninterrupted
    try:
        got = run(env, lines, len(ref["alerts"]), (point, n), store)
    finally:
        env.stop()
    (env.tmp / "outcome.json").write_bytes(orjson.dumps({"got": got, "ref": ref}))
    figures = {**doubled(got), "counted": window_counts(got["state"]), "counted_uninterrupted": window_counts(ref["state"]),
               "keys_differing": sum(got["state"].get(k) != v for k, v in ref["state"].items())
               + len(got["state"].keys() - ref["state"].keys()),
               "events": len(got["alerts"]), "events_uninterrupted": len(ref["alerts"]),
               "tasks": len(got["tasks"]), "tasks_uninterrupted": len(ref["tasks"]),
               "successor_read_again": got["successor"]["duplicate_tickets"]}
    print(f"\nkilled at {point} #{n} ({store}): {figures} ({env.tmp})")
    if store != "memory://":
        assert got["successor"]["tables_discarded"], "the killed worker's tables should have been discarded"
    assert not any(doubled(got).values()), figures
    assert sorted(map(event, got["alerts"])) == sorted(map(event, ref["alerts"])), figures
    assert sorted(got["alerts"], key=event) == sorted(ref["alerts"], key=event), figures
    assert sorted(orjson.dumps(t, option=orjson.OPT_SORT_KEYS) for t in got["tasks"]) == \
        sorted(orjson.dumps(t, option=orjson.OPT_SORT_KEYS) for t in ref["tasks"]), figures
    assert figures["keys_differing"] == 0, figures
