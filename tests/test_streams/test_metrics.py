"""Metrics: Prometheus naming, closed label sets, and the numbers a real worker exports.

The unit tests build their own registry. The broker test runs a real worker subprocess,
feeds it simulated tickets and bad messages, and reads ``/metrics`` over HTTP.
"""

from __future__ import annotations

import doctest
import time
import urllib.request
from collections import Counter
from datetime import datetime
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from detectors.decisions import Decision
from earlywarn.simulate import SimConfig, generate
from schemas.regions import SHANGHAI_DISTRICTS
from streams import metrics as m
from streams.kafka_io import produce
from streams.metrics import Metrics
from streams.release import OpenAlerts

# Every label a metric may carry -> a check of its value. Only closed sets; ``partition``
# and ``topic`` are bounded by the deployment's own configuration.
LABELS: dict[str, Any] = {
    "kind": set(m.KINDS),
    "district": set(m.ALERT_DISTRICTS),  # tickets' are m.DISTRICTS (checked below); alerts' may be none
    "reason": set(m.DEADLETTER_REASONS),
    "type": set(m.ALERT_TYPES),
    "severity": set(m.ALERT_SEVERITIES),
    "status": set(m.ALERT_STATUSES),
    "stage": set(m.STAGES),
    "operation": set(m.REDIS_OPERATIONS) | set(m.BROKER_OPERATIONS),
    "agent": set(m.AGENTS),
    "input": set(m.REFETCHED_INPUTS),
    "partition": lambda v: v.isdigit() and int(v) < 1024,
    "topic": lambda v: bool(v) and len(v) < 250,
    "le": lambda v: True,  # histogram buckets
}


def label_problems(families: Any) -> list[str]:
    """Names and labels that break the conventions, as readable strings (empty when all is well)."""
    problems = []
    for fam in families:
        if not fam.name.startswith("earlywarn_"):
            problems.append(f"{fam.name}: no earlywarn_ prefix")
        if not fam.documentation:
            problems.append(f"{fam.name}: no help text")
        for s in fam.samples:
            if fam.type == "counter" and not (s.name.endswith("_total") or s.name.endswith("_created")):
                problems.append(f"{s.name}: a counter sample must end in _total")
            if fam.type != "counter" and s.name.endswith("_total"):
                problems.append(f"{s.name}: only counters end in _total")
            for label, value in s.labels.items():
                allowed = LABELS.get(label)
                if allowed is None:
                    problems.append(f"{s.name}: label {label!r} is not from a closed set")
                elif not (allowed(value) if callable(allowed) else value in allowed):
                    problems.append(f"{s.name}{{{label}={value!r}}}: value outside the closed set")
        if any(w in fam.name for w in ("_milliseconds", "_minutes", "_hours", "_ms")):
            problems.append(f"{fam.name}: use base units (seconds)")
    return problems


def decision(alert_id: str, status: str, severity: str = "warning", type_: str = "group_dispute") -> Decision:
    return Decision(alert_id=alert_id, type=type_, status=status, severity=severity, dimension="firm",
                    key="name:x", label="x", district_code="310115", window_start=0.0, window_end=3600.0,
                    raised_at=3600.0, observed=9, expected=1.0, score=0.999, distinct_complainants=6,
                    ticket_ids=("T1",), top_terms=("退费",))


def test_names_follow_prometheus_conventions_and_labels_come_from_closed_sets() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.count_tickets({("complaint", "310115"): 4, ("report", "440305"): 1, ("praise", "310115"): 9})
    metrics.count_deadletter("not_json")
    metrics.engine_keys.labels("3").set(10)
    metrics.consumer_lag.labels("tickets").set(0)
    metrics.stage("ingest_batch").observe(0.01)
    families = list(metrics.registry.collect())
    assert families and label_problems(families) == []
    # Base units: every histogram of time is in seconds; the hot-path helpers did their sums.
    get = metrics.registry.get_sample_value
    assert get("earlywarn_tickets_total", {"kind": "complaint", "district": "310115"}) == 4
    assert get("earlywarn_tickets_total", {"kind": "report", "district": "other"}) == 1
    assert sum(s.value for f in families if f.name == "earlywarn_tickets" for s in f.samples
               if s.name.endswith("_total")) == 5  # a kind outside the contract never becomes a series
    assert get("earlywarn_deadletters_total", {"reason": "not_json"}) == 1
    # Closed sets are there at zero from the start (a board shows 0, not "no data").
    assert get("earlywarn_deadletters_total", {"reason": "bad_district"}) == 0
    assert get("earlywarn_alerts_raised_total", {"type": "group_dispute", "district": "none"}) == 0
    assert get("earlywarn_pushes_total", {"receiver": "webhook", "outcome": "failed"}) is None  # notify's
    assert {s.labels["district"] for f in families if f.name == "earlywarn_tickets" for s in f.samples} == set(
        m.DISTRICTS)
    assert get("earlywarn_broker_errors_total", {"operation": "produce"}) == 0
    assert len(m.DISTRICTS) == len(SHANGHAI_DISTRICTS) + 1


def test_the_module_examples_run() -> None:
    # streams/ is not in pytest's doctest paths; the module's examples are part of its spec.
    assert doctest.testmod(m).failed == 0


def test_each_metrics_object_has_its_own_registry_and_the_global_one_stays_clean() -> None:
    a, b = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())  # no "duplicated timeseries"
    a.input_messages.inc(3)
    assert b.registry.get_sample_value("earlywarn_input_messages_total") == 0
    assert REGISTRY.get_sample_value("earlywarn_input_messages_total") is None


def test_open_alerts_are_told_by_the_stage_owner_from_its_recovery_and_leave_with_the_stage() -> None:
    metrics = Metrics(CollectorRegistry())
    tracker = OpenAlerts(metrics)

    def gauge(severity: str, type_: str = "group_dispute") -> float | None:
        return metrics.registry.get_sample_value("earlywarn_open_alerts", {"type": type_, "severity": severity})

    def recovered_at() -> float | None:
        return metrics.registry.get_sample_value("earlywarn_alert_stage_recovered_timestamp_seconds",
                                                 {"partition": "0"})

    # A worker that does not own the stage tells nothing: no series, not 0.
    assert (gauge("warning"), recovered_at()) == (None, None)
    # The owner sets them from the stage it recovers, before any event comes: every known
    # type and severity, 0 included, and when it recovered the stage.
    tracker.reset({"a1": ("group_dispute", "warning"), "a2": ("group_dispute", "warning")}, now=1000.0)
    assert (gauge("warning"), gauge("critical"), recovered_at()) == (2, 0, 1000.0)
    tracker.event(decision("a1", "update", "critical"))  # escalated: moves, is not counted twice
    assert (gauge("warning"), gauge("critical")) == (1, 1)
    tracker.event(decision("a1", "resolved", "critical"))
    tracker.event(decision("never-seen", "resolved", "critical"))  # opened before this worker owned it
    assert (gauge("warning"), gauge("critical")) == (1, 0)
    tracker.reset({"a3": ("group_dispute", "critical"), "a4": ("term_surge", "info")}, now=2000.0)
    tracker.reset({"a3": ("group_dispute", "critical"), "a4": ("term_surge", "info")}, now=2000.0)  # idempotent
    assert (gauge("warning"), gauge("critical"), gauge("info", "term_surge")) == (0, 1, 1)
    # The stage goes elsewhere: its series go (Prometheus keeps their last values for the boards).
    tracker.leave()
    assert (gauge("critical"), gauge("info", "term_surge"), recovered_at()) == (None, None, None)
    assert not [s for f in metrics.registry.collect() if f.name in ("earlywarn_open_alerts",
                "earlywarn_alert_stage_recovered_timestamp_seconds") for s in f.samples]


# ---------------------------------------------------------------- a real worker


def scrape(port: int) -> tuple[str, dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        content_type = r.headers["Content-Type"]
        text = r.read().decode()
    return content_type, {f.name: f for f in text_string_to_metric_families(text)}


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    """The sum of *sample*'s values over the series matching *labels*."""
    family = next(f for f in families.values() if any(s.name == sample for s in f.samples))
    return sum(s.value for s in family.samples if s.name == sample and labels.items() <= s.labels.items())


@pytest.mark.broker
def test_a_worker_exports_what_it_did(stream_env: Any) -> None:
    tickets, _ = generate(SimConfig(seed=5, days=2, tickets_per_day=300))
    good = list(tickets)
    good[0] = {**good[0], "district_code": "440305"}  # Shenzhen: counted under "other"
    # Most tickets one per message, the last 100 as one bulk-feed batch with a bad element.
    batch = [*good[-100:-50], {**good[-50], "kind": 7}, *good[-49:]]
    bad = [b"this is not json", b'{"ticket_id": "B1"}', orjson.dumps({**good[1], "district_code": "Pudong"})]
    messages = [orjson.dumps(t) for t in good[:-100]] + bad + [orjson.dumps(batch)]
    counted = good[:-100] + good[-100:-50] + good[-49:]

    stream_env.settings = stream_env.settings.with_(cold_days=7.0)  # no strong evidence judged in the warm-up either
    w = stream_env.start_worker()
    produce(stream_env.settings, messages)
    w.wait_stats(lambda s: s["tickets"] + s["deadlettered"] >= len(counted) + len(bad) + 1, timeout=60)
    deadline = time.monotonic() + 30
    while True:
        content_type, fams = scrape(w.settings.web_port)
        lag = {s.labels["topic"]: s.value for s in fams["earlywarn_consumer_lag_messages"].samples}
        flushed = value(fams, "earlywarn_processing_seconds_count", stage="flush") > 0
        sent = value(fams, "earlywarn_delta_send_seconds_count") > 0
        if (flushed and sent and lag.get(stream_env.settings.topic_tickets) == 0) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    stats = w.stats()

    assert content_type.startswith("text/plain")
    assert label_problems(fams.values()) == []
    # Every good ticket counted once, by kind and by district (Shenzhen's as "other").
    assert value(fams, "earlywarn_tickets_total") == len(counted) == stats["tickets"]
    for kind, n in Counter(t["kind"] for t in counted).items():
        assert value(fams, "earlywarn_tickets_total", kind=kind) == n
    assert value(fams, "earlywarn_tickets_total", district="other") == 1
    assert value(fams, "earlywarn_tickets_total", district="310115") == sum(
        t["district_code"] == "310115" for t in counted)
    assert value(fams, "earlywarn_input_messages_total") == len(messages)
    # Every bad one by its reason.
    for reason, n in {"not_json": 1, "missing_field": 1, "bad_district": 1, "wrong_type": 1, "oversize": 0}.items():
        assert value(fams, "earlywarn_deadletters_total", reason=reason) == n, reason
    # The stages ran and were timed; deltas went out and came back in.
    assert value(fams, "earlywarn_processing_seconds_count", stage="ingest_batch") > 0
    assert value(fams, "earlywarn_processing_seconds_count", stage="windows_message") > 0
    assert value(fams, "earlywarn_processing_seconds_count", stage="flush") > 0
    assert value(fams, "earlywarn_delta_send_seconds_count") > 0
    assert value(fams, "earlywarn_delta_messages_sent_total") == stats["delta_messages"] > 0
    assert 0 < value(fams, "earlywarn_delta_messages_applied_total") <= stats["delta_messages"]
    assert value(fams, "earlywarn_state_flushes_total") >= 1
    assert value(fams, "earlywarn_engine_keys") > 0
    # Event time: the furthest of the ticket partitions' fronts (each its third newest ticket,
    # detectors.front); produce() sends message i to partition i % 4.
    by_partition: dict[int, list[float]] = {}
    for i, msg in enumerate(messages):
        decoded = orjson.loads(msg) if msg.startswith((b"{", b"[")) else None
        for t in decoded if isinstance(decoded, list) else [decoded]:
            if t in counted:
                by_partition.setdefault(i % 4, []).append(datetime.fromisoformat(t["received_at"]).timestamp())
    front = max(sorted(times)[-3] for times in by_partition.values())
    assert value(fams, "earlywarn_ingest_event_time_seconds") == front
    # Lag: both consumed topics reported, the tickets all committed.
    assert set(lag) == {stream_env.settings.topic_tickets, stream_env.settings.topic_deltas,
                        stream_env.settings.topic_decisions}
    assert lag[stream_env.settings.topic_tickets] == 0
    assert value(fams, "earlywarn_broker_errors_total") == 0
    # Two days are inside the engine's warm-up (cold start off): no alerts yet, and the alert metrics say so.
    assert value(fams, "earlywarn_alerts_total") == stats["alerts"] == 0


@pytest.mark.broker
def test_late_input_is_counted_under_its_keys(stream_env: Any) -> None:
    """Tickets dated before buckets already judged are counted, and told: once per key they
    count under (issue 16, item 5), as the worker's ``late_tickets``."""
    tickets, _ = generate(SimConfig(seed=7, days=2, tickets_per_day=300))
    tickets = list(tickets)
    on_time = [orjson.dumps(t) for t in tickets]
    late = [orjson.dumps({**t, "ticket_id": f"LATE{i}"}) for i, t in enumerate(tickets[:5])]  # a day and more behind
    w = stream_env.start_worker()
    produce(stream_env.settings, on_time)
    w.wait_stats(lambda s: s["tickets"] >= len(on_time) and s["deltas_applied"] >= s["delta_messages"] > 0,
                 timeout=60)
    time.sleep(stream_env.settings.idle_seconds + 2.0)  # the input idle: event time reaches its end
    assert w.stats()["late_tickets"] == 0
    produce(stream_env.settings, late)
    w.wait_stats(lambda s: s["tickets"] >= len(on_time) + len(late)
                 and s["deltas_applied"] >= s["delta_messages"] and s["late_tickets"] > 0, timeout=60)
    time.sleep(2.0)  # any delta message of the late batch still in flight is applied
    stats = w.stats()
    _, fams = scrape(w.settings.web_port)
    assert value(fams, "earlywarn_late_key_tickets_total") == stats["late_tickets"] >= len(late)


@pytest.mark.broker
def test_a_feed_outage_is_counted_as_a_gap(stream_env: Any) -> None:
    """A feed outage is recognised by the partitions and told (issue 16, item 4): each
    partition counts the one outage once, with its length in event time."""
    tickets, _ = generate(SimConfig(seed=7, days=4, tickets_per_day=400))
    start = datetime.fromisoformat(SimConfig().start).timestamp()
    lost = (start + 1.5 * 86400, start + 3.0 * 86400)  # a day and a half of the feed lost
    kept = [orjson.dumps(t) for t in tickets
            if not lost[0] <= datetime.fromisoformat(t["received_at"]).timestamp() < lost[1]]
    w = stream_env.start_worker()
    produce(stream_env.settings, kept)
    w.wait_stats(lambda s: s["tickets"] >= len(kept) and s["deltas_applied"] >= s["delta_messages"] > 0,
                 timeout=60)
    time.sleep(stream_env.settings.idle_seconds + 2.0)  # the input idle: event time reaches its end
    _, fams = scrape(w.settings.web_port)
    per_partition = {s.labels["partition"]: s.value for s in fams["earlywarn_feed_gaps"].samples
                     if s.name == "earlywarn_feed_gaps_total"}
    assert per_partition and set(per_partition.values()) == {1.0}
    seconds = [s.value for s in fams["earlywarn_feed_gap_seconds"].samples if s.name.endswith("_total")]
    # From the afternoon it stopped to the morning after it came back at midnight (a quiet night
    # after an outage cannot be told from more of it).
    assert all(1.4 * 86400 <= x <= 1.8 * 86400 for x in seconds), seconds
