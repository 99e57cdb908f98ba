"""Quiet feeds: live, a pause in the input does not close the bucket in progress.

At Shanghai's rate (~0.25 tickets/s, far less at night) every ticket partition is often
silent for EARLYWARN_IDLE_SECONDS. That once ended event time: the bucket in progress
was judged, the rest of its tickets came late, and an alert opened with fewer people
than offline detection gave (19 vs 23).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, generate
from streams.kafka_io import produce, read_topic
from tests.test_streams.test_stream import canonical

pytestmark = pytest.mark.broker

SHANGHAI = timezone(timedelta(hours=8))
MARGIN = 45.0  # seconds from the start of the test until the bucket the burst is in closes


def test_live_with_a_pause_mid_bucket_gives_the_alerts_of_offline_detection(new_stream_env) -> None:  # type: ignore[no-untyped-def]
    # The burst is dated in the bucket that has just ended; the lateness is chosen so that
    # the wall clock passes its end plus lateness MARGIN seconds from now.
    t0 = time.time()
    boundary = t0 // 900 * 900
    close_at = t0 + MARGIN
    env = new_stream_env()
    env.settings = env.settings.with_(lateness_seconds=t0 - boundary + MARGIN)
    start = datetime.fromtimestamp(boundary - 1800 - 8 * 86400, SHANGHAI).isoformat()
    tickets, _ = generate(SimConfig(seed=31, start=start, days=8, tickets_per_day=300, firms=300,
                                    incidents=(), decoys=()))
    history = list(tickets)
    assert max(t["received_at"] for t in history) < datetime.fromtimestamp(boundary - 900, SHANGHAI).isoformat()
    burst = [orjson.dumps({
        "ticket_id": f"Q{i:03d}", "kind": "complaint", "district_code": "310115",
        "received_at": datetime.fromtimestamp(boundary - 850 + 20 * i, SHANGHAI).isoformat(),
        "firm_name": "上海静默健身有限公司", "complainant_id": f"person-{i}", "issue_category": "退费",
        "content": "健身房突然闭店，预付卡余额无法退费，要求退款。"}) for i in range(24)]
    lines = [orjson.dumps(t) for t in history]
    w = env.start_worker()
    produce(env.settings, [*lines, *burst[:12]])
    w.wait_stats(lambda st: st["messages"] >= len(lines) + 12, timeout=60)
    # Every ticket partition quiet for longer than idle_seconds, mid-bucket.
    time.sleep(env.settings.idle_seconds + 3.0)
    w.wait_stats(lambda st: st["deltas_applied"] >= st["delta_messages"], timeout=30)
    assert time.time() < close_at - 5, "too slow to pause before the bucket closes: the test shows nothing"
    produce(env.settings, burst[12:])
    # The bucket closes by the wall clock (the heartbeat says so while the input is quiet).
    time.sleep(max(0.0, close_at - time.time()) + env.settings.idle_seconds + 3.0)
    w.wait_stats(lambda st: st["deltas_applied"] >= st["delta_messages"], timeout=30)
    time.sleep(1.0)
    stream = [orjson.loads(v) for _, v in read_topic(env.settings, env.settings.topic_alerts, idle=3.0)]
    stats = w.stats()
    env.stop()
    offline = list(detect([*lines, *burst], env.settings))
    on_burst = [a for a in offline if a["subject"]["label"] == "上海静默健身有限公司" and a["status"] == "open"]
    assert on_burst and on_burst[0]["distinct_complainants"] == 24
    assert canonical(stream) == canonical(offline)
    assert stats["late_tickets"] == 0

