"""End to end through the real (embedded) broker: tickets in, alerts out, bad input dead-lettered.

The worker is a real subprocess (`python -m earlywarn worker`) with the real Faust app.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson
import pytest

from earlywarn.detect import detect
from earlywarn.simulate import Incident, SimConfig, generate
from streams import deadletter
from streams.kafka_io import produce, read_topic


pytestmark = pytest.mark.broker


def simulated(**kw: Any) -> tuple[list[bytes], list[Incident]]:
    # Ten days: the engine judges nothing in its first week (baselines learn first).
    cfg = SimConfig(**{"seed": 23, "days": 10, "tickets_per_day": 700, "firms": 800, "warmup_days": 7.5, **kw})
    tickets, incidents = generate(cfg)
    return [orjson.dumps(t) for t in tickets], incidents


def with_poison(lines: list[bytes]) -> list[bytes]:
    """Valid-looking tickets that once stopped judging: two complaints about one firm whose
    amounts summed to infinity (the windows agent then crashed every ~5 s), and one ticket
    dated a year ahead a third of the way in (every later ticket was late)."""
    third = len(lines) // 3
    ticket = orjson.loads(lines[third])
    huge = [orjson.dumps({**ticket, "ticket_id": f"HUGE{i}", "kind": "complaint", "firm_name": "上海巨额有限公司",
                          "amount": 1.7e308}) for i in range(2)]
    ahead = orjson.dumps({**ticket, "ticket_id": "AHEAD", "received_at": "2026" + ticket["received_at"][4:]})
    return [*lines[:third], huge[0], ahead, huge[1], *lines[third:]]


def drain(env: Any, w: Any, expected_messages: int) -> list[dict[str, Any]]:
    """Wait until the worker has read everything and event time has run to its end, then read alerts."""
    w.wait_stats(lambda st: st["messages"] >= expected_messages, timeout=180)
    # Quiet partitions end event time after idle_seconds; give that, then the last deltas.
    time.sleep(env.settings.idle_seconds + 1.5)
    w.wait_stats(lambda st: st["deltas_applied"] >= st["delta_messages"], timeout=60)
    time.sleep(1.0)
    return [orjson.loads(v) for _, v in read_topic(env.settings, env.settings.topic_alerts, idle=3.0)]


def canonical(alerts: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) for a in alerts)


@pytest.fixture(scope="module")
def incident_run(new_stream_env) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One stream run over a simulated firehose with one group dispute and one concentrated demand."""
    lines, incidents = simulated(incidents=(("prepaid_closure", 1), ("product_defect", 1)), decoys=())
    lines = with_poison(lines)
    env = new_stream_env()
    w = env.start_worker()
    produce(env.settings, lines)
    stream_alerts = drain(env, w, len(lines))
    stats = w.stats()
    tasks = [(k, orjson.loads(v)) for k, v in read_topic(env.settings, env.settings.topic_inspection, idle=2.0)]
    env.stop()
    offline = list(detect(lines, env.settings))
    return {"lines": lines, "incidents": incidents, "stream": stream_alerts, "offline": offline, "stats": stats,
            "tasks": tasks}


def test_the_injected_group_dispute_and_concentrated_demand_arrive_with_evidence(incident_run) -> None:  # type: ignore[no-untyped-def]
    incidents = {i.family: i for i in incident_run["incidents"]}
    opened = [a for a in incident_run["stream"] if a["status"] == "open"]
    gd = [a for a in opened if a["type"] == "group_dispute"]
    cd = [a for a in opened if a["type"] == "concentrated_demand"]
    # Each incident is caught under its own subject, with evidence from its own tickets.
    closure, defect = incidents["prepaid_closure"], incidents["product_defect"]
    on_closure = [a for a in gd if a["subject"]["key"].split("|")[0] in closure.keys]
    on_defect = [a for a in cd if a["subject"]["key"] in defect.keys]
    # One alert per subject key; a shop whose tickets sometimes lack a valid credit code is
    # counted under its code and its name, and may alert under both.
    assert 1 <= len(on_closure) <= len(closure.keys) and on_defect
    assert len({a["subject"]["key"] for a in on_closure}) == len(on_closure)
    for alert, inc in ((on_closure[0], closure), (on_defect[0], defect)):
        evidence = set(alert["ticket_ids"])
        assert evidence and evidence <= set(inc.ticket_ids)
        assert alert["distinct_complainants"] >= 5
        assert alert["observed"] > alert["expected"]
        assert alert["summary"] and alert["schema_version"] == "1"
    # And no group dispute or concentrated demand that is not about an injected incident:
    # most of every such alert's evidence is one incident's tickets.
    incident_ids = [set(i.ticket_ids) for i in incident_run["incidents"]]
    for alert in gd + cd:
        evidence = set(alert["ticket_ids"])
        assert max(len(evidence & ids) for ids in incident_ids) >= 0.5 * len(evidence), alert["summary"]
    assert incident_run["stats"]["tickets"] == len(incident_run["lines"]) - 2
    assert incident_run["stats"]["deadletter_reasons"] == {"implausible_amount": 2}


def test_group_disputes_at_warning_or_worse_become_inspection_tasks(incident_run) -> None:  # type: ignore[no-untyped-def]
    # Every open or update event of a group dispute at warning or critical, and nothing else,
    # has its task on inspection.tasks, keyed by task_id, about the alert's firm.
    wanted = [a for a in incident_run["stream"] if a["type"] == "group_dispute"
              and a["status"] in ("open", "update") and a["severity"] in ("warning", "critical")]
    assert wanted, "the prepaid closure should reach warning (it has dozens of people)"
    tasks = incident_run["tasks"]
    assert [t["alert_id"] for _, t in tasks] == [a["alert_id"] for a in wanted]
    assert incident_run["stats"]["inspection_tasks"] == len(tasks)
    closure = next(i for i in incident_run["incidents"] if i.family == "prepaid_closure")
    for (key, task), a in zip(tasks, wanted):
        assert key == task["task_id"].encode()
        assert task["severity"] == a["severity"] and task["ticket_ids"] == a["ticket_ids"]
        assert task["firm"]["key"] == a["subject"]["key"].split("|")[0] and task["firm"]["key"] in closure.keys


def test_offline_detect_gives_the_alerts_the_stream_gives(incident_run) -> None:  # type: ignore[no-untyped-def]
    assert incident_run["offline"], "the input should raise alerts at all"
    assert canonical(incident_run["stream"]) == canonical(incident_run["offline"])


def test_with_keys_forgotten_the_alerts_stay_those_of_detect(new_stream_env) -> None:  # type: ignore[no-untyped-def]
    # Keys unseen for two days are forgotten (renewed when they come back, cut down to
    # stubs in the table meanwhile); the worker raises the alerts offline detection raises.
    lines, _ = simulated(days=9, tickets_per_day=500, incidents=(("prepaid_closure", 1),), decoys=())
    env = new_stream_env()
    env.settings = env.settings.with_(forget_days=2.0)
    w = env.start_worker()
    produce(env.settings, lines)
    stream_alerts = drain(env, w, len(lines))
    stats = w.stats()
    env.stop()
    assert stats["tickets"] == len(lines)
    offline = list(detect(lines, env.settings))
    assert offline and canonical(stream_alerts) == canonical(offline)
    # Forgetting changed what was decided here (the test would pass without it otherwise).
    assert canonical(offline) != canonical(list(detect(lines, env.settings.with_(forget_days=90.0))))


def test_a_date_only_source_gives_the_alerts_of_detect(new_stream_env) -> None:  # type: ignore[no-untyped-def]
    # Every ticket at noon of its date (issue 16, item 6): the worker judges such days by
    # the day as detect does, and finds the dispute.
    from earlywarn.evalrun import date_only

    cfg = SimConfig(seed=23, days=10, tickets_per_day=700, firms=800, warmup_days=7.5,
                    incidents=(("prepaid_closure", 1),), decoys=())
    tickets, incidents = date_only(*generate(cfg), 12)
    lines = [orjson.dumps(t) for t in tickets]
    env = new_stream_env()
    w = env.start_worker()
    produce(env.settings, lines)
    stream_alerts = drain(env, w, len(lines))
    env.stop()
    offline = list(detect(lines, env.settings))
    firm = incidents[0].keys[0]
    assert any(a["type"] == "group_dispute" and a["subject"]["key"].startswith(firm) for a in offline)
    assert canonical(stream_alerts) == canonical(offline)


GOOD = {"ticket_id": "G0", "kind": "complaint", "received_at": "2025-03-03T10:00:00+08:00",
        "district_code": "310115", "firm_name": "上海某某健身有限公司", "content": "办卡后门店关闭，要求退费。"}


def good(i: int) -> bytes:
    return orjson.dumps({**GOOD, "ticket_id": f"G{i}"})


BAD: list[tuple[bytes, str]] = [
    (b"this is not json", "not_json"),
    (b"\xff\xfe\x00\x01 not utf-8", "not_utf8"),
    (b'{"ticket_id": "B1"}', "missing_field"),
    (orjson.dumps({**GOOD, "ticket_id": "B2", "amount": "lots"}), "wrong_type"),
    (orjson.dumps({**GOOD, "ticket_id": "B3", "received_at": "yesterday afternoon"}), "bad_timestamp"),
    (orjson.dumps({**GOOD, "ticket_id": "B4", "amount": -5}), "negative_amount"),
    (orjson.dumps({**GOOD, "ticket_id": "B5", "content": "长" * 200_000}), "oversize"),
    (orjson.dumps({**GOOD, "ticket_id": "B6", "content": "   "}), "empty_content"),
    (orjson.dumps({**GOOD, "ticket_id": "B7", "kind": "praise"}), "unknown_kind"),
    (b"42", "not_object"),
    (b"[]", "empty_batch"),
    (orjson.dumps({**GOOD, "ticket_id": "B8", "district_code": "Pudong"}), "bad_district"),
    (orjson.dumps({**GOOD, "ticket_id": "B9", "amount": 1.7e308}), "implausible_amount"),
    (orjson.dumps({**GOOD, "ticket_id": "B10", "received_at": "2099-01-01T00:00:00+08:00"}), "future_timestamp"),
]


def test_every_kind_of_bad_input_is_dead_lettered_and_the_worker_keeps_going(stream_env: Any) -> None:
    batch_with_one_bad = orjson.dumps([{**GOOD, "ticket_id": "A1"}, {**GOOD, "ticket_id": "A2", "kind": 7},
                                       {**GOOD, "ticket_id": "A3"}])
    messages = [good(i) for i in range(20)]
    for i, (payload, _) in enumerate(BAD):
        messages += [payload, good(100 + i)]
    messages += [batch_with_one_bad] + [good(i) for i in range(200, 220)]
    w = stream_env.start_worker()
    produce(stream_env.settings, messages)
    expected_good = 20 + len(BAD) + 2 + 20
    st = w.wait_stats(lambda s: s["tickets"] + s["deadlettered"] >= expected_good + len(BAD) + 1, timeout=180)
    assert st["tickets"] == expected_good
    dead = [orjson.loads(v) for _, v in read_topic(stream_env.settings, stream_env.settings.topic_deadletter,
                                                   until=lambda got: len(got) >= len(BAD) + 1, idle=3.0)]
    assert Counter(d["reason"] for d in dead) == Counter([r for _, r in BAD] + ["wrong_type"])
    by_reason = {d["reason"]: d for d in dead if d["index"] is None}
    for payload, reason in BAD:
        # The original bytes, encrypted under the dead-letter key (but for one too large to keep).
        kept = deadletter.original(by_reason[reason], stream_env.settings.deadletter_key)
        assert kept == (None if reason == "oversize" else payload)
        assert by_reason[reason]["source"]["topic"] == stream_env.settings.topic_tickets
    element = next(d for d in dead if d["index"] is not None)
    assert element["index"] == 1 and element["ticket"]["ticket_id"] == "A2"
    assert orjson.loads(deadletter.original(element, stream_env.settings.deadletter_key))["kind"] == 7
    oversize = by_reason["oversize"]
    assert not oversize["payload_kept"] and oversize["size"] == len(BAD[6][0]) and len(orjson.dumps(oversize)) < 2000
