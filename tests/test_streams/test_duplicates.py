"""Deduplication by ticket_id in the stream: a resent export and lines repeated in place count once."""

from __future__ import annotations

import urllib.request
import pytest

from earlywarn.detect import DetectStats, detect
from streams.kafka_io import produce
from tests.test_streams.test_stream import canonical, drain, simulated

pytestmark = pytest.mark.broker


def test_a_resent_export_and_repeated_lines_give_the_alerts_of_the_file_once(new_stream_env) -> None:  # type: ignore[no-untyped-def]
    # Two-thirds of the file is sent twice over, then the rest with every line twice. The
    # producer spreads messages round-robin, so a copy comes on another ticket partition.
    lines, _ = simulated(days=9, tickets_per_day=500, incidents=(("prepaid_closure", 1),), decoys=())
    cut = 2 * len(lines) // 3
    sent = [*lines[:cut], *lines[:cut], *(raw for raw in lines[cut:] for _ in range(2))]
    env = new_stream_env()
    w = env.start_worker()
    produce(env.settings, sent)
    stream_alerts = drain(env, w, len(sent))
    stats = w.stats()
    with urllib.request.urlopen(f"http://127.0.0.1:{w.settings.web_port}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    env.stop()
    once = list(detect(lines, env.settings))
    offline_stats = DetectStats()
    offline = list(detect(sent, env.settings, stats=offline_stats))
    assert once and canonical(stream_alerts) == canonical(once) == canonical(offline)
    copies = len(sent) - len(lines)
    # Every copy is left out, as a duplicate or, past the horizon behind event time, as
    # expired: which of the two depends on how far event time had got when it came.
    assert stats["duplicate_tickets"] + stats["expired_tickets"] == copies
    assert offline_stats.duplicates + offline_stats.expired == copies
    assert stats["duplicate_tickets"] > len(lines) - cut  # every in-place copy, and the last horizon of the resend
    value = next(float(line.split()[-1]) for line in metrics.splitlines()
                 if line.startswith("earlywarn_duplicate_tickets_total "))
    assert value == stats["duplicate_tickets"]
    assert all(len(set(a["ticket_ids"])) == len(a["ticket_ids"]) for a in stream_alerts)
