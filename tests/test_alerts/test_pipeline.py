"""Grouping, repeat, inhibition, silences, acks and the outbox, on a real Redis, with a
clock the test moves (no sleeping through group waits or backoffs)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import redis

from alerts.notify.metrics import NotifyMetrics
from alerts.notify.outbox import Deliverer, RetryPolicy, dead_letters, redrive
from alerts.notify.pipeline import Pipeline
from alerts.notify.receivers import build
from alerts.notify.routing import load_text
from alerts.notify.silences import Silences
from tests.test_alerts.conftest import REDIS_URL, Hook, event

pytestmark = pytest.mark.redis
T0 = 1_800_000_000.0


class Rig:
    """A pipeline and a deliverer per receiver on the test's own Redis prefix."""

    def __init__(self, prefix: str, routes: str, max_attempts: int = 12) -> None:
        self.r = redis.Redis.from_url(REDIS_URL)
        self.tree = load_text(routes)
        self.silences = Silences(self.r, prefix)
        self.pipeline = Pipeline(self.r, prefix, self.tree, self.silences)
        self.metrics = NotifyMetrics()
        self.prefix = prefix
        self.deliverers = [Deliverer(self.r, prefix, build(spec), "test", RetryPolicy(max_attempts, 2.0, 30.0),
                                     self.metrics) for spec in self.tree.receivers.values()]

    def step(self, now: float) -> None:
        self.pipeline.flush_due(now)
        for d in self.deliverers:
            while d.run_once(now, block_ms=0):
                pass

    def pushes(self, kind: str, outcome: str) -> float:
        return self.metrics.registry.get_sample_value("earlywarn_pushes_total", {"receiver": kind, "outcome": outcome})


def routes(url: str, **route: Any) -> str:
    settings = {"group_wait": "10s", "group_interval": "60s", "repeat_interval": "100s", **route}
    return f"""\
receivers:
  - name: hook
    webhook: {{url: "{url}"}}
route:
  receiver: hook
""" + "".join(f"  {k}: {v}\n" for k, v in settings.items())


def told(hook: Hook) -> list[tuple[str, str, str, str]]:
    """(alert_id, status, severity, change) of every alert in every notification the hook received."""
    return [(a["alert_id"], a["status"], a["severity"], a["change"]) for b in hook.bodies() for a in b["alerts"]]


def firm_issue(n: int, firm: str = "firm-1", **over: Any) -> dict[str, Any]:
    return event(n, subject={"dimension": "firm_issue", "key": f"{firm}|退费{n}", "label": f"某健身·退费{n}"}, **over)


def test_events_about_one_firm_within_the_group_wait_go_out_as_one(redis_prefix: str, hook: Hook) -> None:
    rig = Rig(redis_prefix, routes(hook.url))
    rig.pipeline.ingest([firm_issue(1), firm_issue(2), event(3, subject={"dimension": "firm", "key": "firm-1",
                                                                        "label": "某健身"})], now=T0)
    rig.pipeline.ingest([firm_issue(4, firm="firm-2")], now=T0 + 1)
    rig.step(T0 + 9)
    assert hook.bodies() == []
    rig.step(T0 + 10)
    assert [len(b["alerts"]) for b in hook.bodies()] == [3]
    assert hook.bodies()[0]["group_labels"] == {"story": "firm:firm-1"}
    rig.step(T0 + 11)
    assert len(hook.bodies()) == 2  # firm-2's own group, its own wait
    rig.pipeline.ingest([firm_issue(5), firm_issue(1, status="update")], now=T0 + 12)
    rig.step(T0 + 69)
    assert len(hook.bodies()) == 2  # within group_interval of the last flush
    rig.step(T0 + 70)
    assert [(a[0][-1], a[1], a[3]) for a in told(hook)[-2:]] == [("1", "update", "update"), ("5", "open", "new")]


def test_a_critical_episode_is_repeated_every_repeat_interval_and_a_warning_is_not(redis_prefix: str,
                                                                                   hook: Hook) -> None:
    rig = Rig(redis_prefix, routes(hook.url))
    rig.pipeline.ingest([event(1, severity="critical"), event(2, severity="warning")], now=T0)
    rig.step(T0 + 10)
    rig.step(T0 + 70)
    assert [x[3] for x in told(hook)] == ["new", "new"]
    rig.step(T0 + 130)  # 120 s after it was told: due again
    assert [x[0][-1] + x[3] for x in told(hook)][2:] == ["1repeat"]
    rig.step(T0 + 190)
    rig.step(T0 + 250)
    assert [x[3] for x in told(hook)][2:] == ["repeat", "repeat"]
    rig.pipeline.ingest([event(1, severity="critical", status="resolved")], now=T0 + 260)
    rig.step(T0 + 310)
    assert told(hook)[-1][1:] == ("resolved", "critical", "resolved")
    rig.step(T0 + 500)
    assert told(hook)[-1][3] == "resolved"  # a resolved episode is never repeated


def test_a_critical_group_dispute_inhibits_info_term_surges_about_the_same_firm(redis_prefix: str,
                                                                               hook: Hook) -> None:
    rules = """
inhibit_rules:
  - source_matchers: ['type="group_dispute"', 'severity="critical"']
    target_matchers: ['type="term_surge"', 'severity="info"']
    shared_evidence: 0.5
"""
    rig = Rig(redis_prefix, routes(hook.url) + rules)
    dispute = event(1, severity="critical", ticket_ids=[f"T{i}" for i in range(10)])
    same = event(2, type="term_surge", severity="info", subject={"dimension": "term", "key": "退卡", "label": "退卡"},
                 ticket_ids=["T1", "T2", "T3", "X9"])
    other = event(3, type="term_surge", severity="info", subject={"dimension": "term", "key": "爆雷", "label": "爆雷"},
                  ticket_ids=["X1", "X2", "T1"])
    warning = event(4, type="term_surge", severity="warning", subject={"dimension": "term", "key": "跑路",
                                                                       "label": "跑路"}, ticket_ids=["T1", "T2"])
    rig.pipeline.ingest([dispute, same, other, warning], now=T0)
    assert rig.pipeline.flush_due(T0 + 10).muted["inhibited"] == 1
    rig.step(T0 + 10)
    assert sorted(x[0][-1] for x in told(hook)) == ["1", "3", "4"]
    rig.pipeline.ingest([event(1, severity="critical", status="resolved", ticket_ids=dispute["ticket_ids"])],
                        now=T0 + 20)
    rig.step(T0 + 70)
    assert sorted(x[0][-1] + x[3] for x in told(hook)[3:]) == ["1resolved", "2new"]  # the source gone, it is told


def test_a_silence_mutes_what_it_matches_until_it_ends(redis_prefix: str, hook: Hook) -> None:
    rig = Rig(redis_prefix, routes(hook.url))
    s = rig.silences.add(["firm=firm-1"], who="王科长", why="已约谈经营者", until=T0 + 100, now=T0)
    rig.pipeline.ingest([event(1), event(2)], now=T0)
    rig.step(T0 + 10)
    assert [x[0][-1] for x in told(hook)] == ["2"]
    rig.step(T0 + 70)
    assert len(told(hook)) == 1
    rig.step(T0 + 130)  # the silence ended at T0 + 100: told at the group's next flush
    assert [x[0][-1] + x[3] for x in told(hook)] == ["2new", "1new"]
    assert rig.silences.expire(s.id, now=T0 + 140)
    with pytest.raises(ValueError, match="unknown label"):
        rig.silences.add(["colour=red"], who="x", why="y", until=T0 + 10, now=T0)


def test_an_acked_alert_is_not_renotified_until_it_escalates(redis_prefix: str, hook: Hook) -> None:
    rig = Rig(redis_prefix, routes(hook.url, repeat_severity="warning"))
    rig.pipeline.ingest([event(1, severity="warning")], now=T0)
    rig.step(T0 + 10)
    rig.silences.ack(event(1)["alert_id"], who="李四", why="已派员核查", severity="warning", now=T0 + 20)
    rig.pipeline.ingest([event(1, severity="warning", status="update")], now=T0 + 30)
    for t in (70, 130, 190, 250):  # no update, no repeat while acknowledged
        rig.step(T0 + t)
    assert [x[3] for x in told(hook)] == ["new"]
    rig.pipeline.ingest([event(1, severity="critical", status="update")], now=T0 + 260)
    rig.step(T0 + 310)
    assert [x[3] for x in told(hook)] == ["new", "escalated"]
    rig.pipeline.ingest([event(1, severity="critical", status="resolved")], now=T0 + 320)
    rig.step(T0 + 370)
    assert [x[3] for x in told(hook)][-1] == "resolved"


def test_after_a_receiver_outage_every_event_reaches_each_routed_receiver_once(redis_prefix: str) -> None:
    down = Hook(fail_first=25).start()  # the webhook is down for ~4 minutes of backoff
    am = Hook(fail_first=3, fail_status=502).start()
    try:
        text = f"""\
receivers:
  - {{name: hook, webhook: {{url: "{down.url}"}}}}
  - {{name: am, alertmanager: {{url: "{am.url}"}}}}
  - {{name: quiet, console: {{}}}}
route:
  receiver: quiet
  group_by: [alert_id]
  group_wait: 0s
  group_interval: 10s
  routes:
    - {{receiver: hook, continue: true}}
    - {{matchers: ['severity="critical"'], receiver: am}}
"""
        rig = Rig(redis_prefix, text)
        evs = [event(i, severity="critical" if i % 2 else "warning") for i in range(1, 21)]
        rig.pipeline.ingest(evs, now=T0)
        rig.pipeline.ingest(evs, now=T0 + 1)  # a replayed batch changes nothing
        t = T0
        while t < T0 + 600:
            rig.step(t)
            t += 5
        hook_told = Counter((a["alert_id"], a["status"], a["severity"]) for b in down.bodies() for a in b["alerts"])
        assert set(hook_told) == {(e["alert_id"], "open", e["severity"]) for e in evs}
        assert set(hook_told.values()) == {1}
        am_told = Counter((a["fingerprint"]) for b in am.bodies() for a in b["alerts"])
        assert len(am_told) == 10 and set(am_told.values()) == {1}
        assert rig.pushes("webhook", "delivered") == 20 and rig.pushes("webhook", "retried") >= 1
        assert dead_letters(rig.r, redis_prefix) == [] and all(d.depth() == 0 for d in rig.deliverers)
    finally:
        down.stop()
        am.stop()


def test_a_permanent_failure_is_dead_lettered_and_redriven_once(redis_prefix: str) -> None:
    hook = Hook(fail_first=1, fail_status=400).start()
    try:
        rig = Rig(redis_prefix, routes(hook.url, group_wait="0s"))
        rig.pipeline.ingest([event(1)], now=T0)
        rig.step(T0)
        (dead,) = dead_letters(rig.r, redis_prefix)
        assert dead[1]["receiver"] == "hook" and "HTTP 400" in dead[1]["error"]
        assert rig.pushes("webhook", "failed") == 1
        assert redrive(rig.r, redis_prefix, receiver="hook") == 1
        rig.step(T0 + 1)
        assert redrive(rig.r, redis_prefix) == 0
        rig.step(T0 + 2)
        assert len(told(hook)) == 1 and dead_letters(rig.r, redis_prefix) == []
    finally:
        hook.stop()


def test_a_robot_beyond_its_rate_folds_pending_events_into_one_digest(redis_prefix: str, hook: Hook) -> None:
    text = f"""\
receivers:
  - {{name: robot, wecom: {{url: "{hook.url}", rate_per_minute: 2}}}}
route: {{receiver: robot, group_by: [alert_id], group_wait: 0s}}
"""
    rig = Rig(redis_prefix, text)
    rig.pipeline.ingest([event(1), event(2)], now=T0)
    rig.step(T0)
    rig.pipeline.ingest([event(i) for i in range(3, 8)], now=T0 + 1)
    rig.step(T0 + 1)
    rig.step(T0 + 30)
    assert len(hook.bodies()) == 2  # the minute's budget is spent
    rig.step(T0 + 61)
    contents = [b["markdown"]["content"] for b in hook.bodies()]
    assert len(contents) == 3 and "预警汇总（5条）" in contents[2]
    assert all(f"某健身{i}号店" in contents[2] for i in range(3, 8))


def test_an_episode_opened_and_resolved_before_its_group_flushed_is_told_unless_it_was_muted(
        redis_prefix: str, hook: Hook) -> None:
    # Notify catching up (after a Redis outage, or a replay) reads an episode's open and its
    # resolution in one batch: staff still hear of it, once, as resolved.
    rig = Rig(redis_prefix, routes(hook.url))
    rig.silences.add(["firm=firm-2"], who="王科长", why="已约谈经营者", until=T0 + 50, now=T0)
    rig.pipeline.ingest([event(1), event(1, status="resolved"), event(2)], now=T0)
    rig.step(T0 + 10)
    assert [x[0][-1] + x[3] for x in told(hook)] == ["1resolved"]
    rig.pipeline.ingest([event(2, status="resolved")], now=T0 + 60)  # muted while open: not told once over
    rig.step(T0 + 70)
    rig.step(T0 + 130)
    assert [x[0][-1] + x[3] for x in told(hook)] == ["1resolved"]
