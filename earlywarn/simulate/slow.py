"""Slow-building disputes (opt-in, ``SimConfig.slow_disputes``): people write over weeks, a few a day.

What a real housing or training-school dispute looks like (issue 16, item 1): 30-70 people
against one small firm over 14-35 days, two or three a day on working days, never a crowd
within 24 hours. Each is labelled ``slow_dispute`` (a group dispute of the firm), and is
to be raised before half of its people have written.

Planned from its own generator (``slow``), after everything else, so a config without
them plans and writes exactly what it did before.
"""

from __future__ import annotations

from typing import Any

from earlywarn.simulate.records import Incident
from earlywarn.simulate.senders import labels
from earlywarn.simulate.rhythm import _DAY, _HOUR
from earlywarn.simulate.state import _ScenarioState
from earlywarn.simulate.writer import _Writer

SLOW_DISPUTE = "slow_dispute"
_STORIES = (
    ("房产中介", "质量", ("{firm}代理的小区交房后普遍漏水，多次报修无人处理，", "同小区已有多户业主反映墙面开裂、漏水，",
                          "中介承诺的车位和配套至今没有兑现，"),
     ("要求{firm}出面协调维修并赔偿。", "请市场监管部门督促{firm}履行承诺。")),
    ("教育培训", "退费", ("{firm}课程一再停课、换老师，申请退费一直拖延，", "{firm}校区人去楼空的传言越来越多，课时费退不回来，",
                          "签约时承诺随时可退，现在退费要扣一半，"),
     ("要求{firm}按合同退还剩余课时费。", "请帮助协调退费。")),
    ("健身", "退费", ("{firm}装修停业后迟迟不开门，会员卡无法使用，", "{firm}私教课程被强制转店，距离太远无法上课，"),
     ("要求{firm}退还剩余会费。", "请督促{firm}给出退费方案。")),
)


def plan_slow(sim: _ScenarioState) -> list[tuple[int, dict[str, Any]]]:
    """(ts, ticket) for every complaint of every slow dispute (``sim.cfg.slow_disputes``)."""
    n = sim.cfg.slow_disputes
    if n <= 0:
        return []
    rng = sim._rng("slow")
    w = _Writer(sim, rng)
    # History before it: at least two weeks, so its firm's days before are known.
    start = sim._t0 + int(max(sim.cfg.warmup_days, 14.0) * _DAY)
    out: list[tuple[int, dict[str, Any]]] = []
    used: set[int] = set()
    for k in range(n):
        sector, issue, problems, demands = _STORIES[k % len(_STORIES)]
        pool = [f for f in sim._small((sector,)) if f.idx not in used]
        span_days = rng.randint(14, 35)
        last_start = sim._t1 - span_days * _DAY - _DAY
        if not pool or last_start <= start:
            continue
        firm = rng.choice(pool)
        used.add(firm.idx)
        t0 = sim._midnight0 + sim._day_index(start + rng.randrange(last_start - start)) * _DAY
        people = rng.randint(30, 70)
        per_day = people / span_days
        made = 0
        for d in range(span_days):
            due = round(per_day * (d + 1)) - made
            for _ in range(max(0, min(due, 4))):
                ts = t0 + d * _DAY + 8 * _HOUR + rng.randrange(12 * _HOUR)
                person = sim._new_person()
                t = w.background_ticket(0, firm.idx, person, ts, issue=issue)
                t["complainant_id"] = sim._person_id(person)
                t["content"] = rng.choice(problems).format(firm=firm.name) + rng.choice(demands).format(firm=firm.short)
                t["_slow"] = k
                out.append((ts, t))
                made += 1
    return out


def slow_labels(sim: _ScenarioState, planned: list[tuple[int, dict[str, Any]]]) -> list[Incident]:
    """The label of each slow dispute (its tickets carry their ids by now)."""
    return labels(sim, planned, "_slow", SLOW_DISPUTE, "group_dispute",
                  "a dispute that builds over weeks, a few people a day")
