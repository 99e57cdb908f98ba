"""Scale-out: workers in one consumer group give the alerts one process gives.

The second worker joins while the first is running, so partitions move between them:
state is flushed on revocation and recovered from the changelog by the new owner.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, generate
from streams.kafka_io import produce, read_topic

pytestmark = pytest.mark.broker


def canonical(alerts: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) for a in alerts)


@pytest.mark.xfail(strict=False, reason=(
    "known gap: ingest is at-least-once. When a ticket partition moves to the joining worker, "
    "it re-ingests tickets whose deltas were already sent but whose offsets were not yet "
    "committed, so they are counted twice. Delta replays are already skipped by offset."))
def test_two_workers_give_the_alerts_one_gives(stream_env: Any) -> None:
    tickets, _ = generate(SimConfig(seed=23, days=10, tickets_per_day=700, firms=800, warmup_days=7.5,
                                    incidents=(("prepaid_closure", 1), ("product_defect", 1)), decoys=()))
    lines = [orjson.dumps(t) for t in tickets]
    half = len(lines) // 2
    first = stream_env.start_worker()
    produce(stream_env.settings, lines[:half])
    first.wait_stats(lambda st: st["messages"] >= 1000, timeout=120)
    second = stream_env.start_worker()  # joins mid-stream: a rebalance moves partitions to it
    produce(stream_env.settings, lines[half:])
    workers = [first, second]

    def total(field: str) -> int:
        return sum(w.stats()[field] for w in workers)

    deadline = time.monotonic() + 240
    while total("tickets") < len(lines) and time.monotonic() < deadline:
        time.sleep(1)
    assert total("tickets") >= len(lines)
    assert all(w.stats()["tickets"] > 0 for w in workers), "the second worker should have taken partitions"
    time.sleep(stream_env.settings.idle_seconds + 2)
    while total("deltas_applied") < total("delta_messages") and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(2)
    got = [orjson.loads(v) for _, v in read_topic(stream_env.settings, stream_env.settings.topic_alerts, idle=3)]
    expected = list(detect(lines, stream_env.settings))
    assert expected and canonical(got) == canonical(expected)
