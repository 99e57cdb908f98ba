"""Abnormal firms: what must not be found (a one-day spike, a big steady firm, a whole category
rising), what must, and the stage's episodes over the daily judgements."""

from __future__ import annotations

import random

from detectors.firm_stage import FirmStage
from detectors.firms import FirmJudge, FirmTicket

DAY0 = 20000
END = DAY0 + 42  # six weeks: four of past, the last two judged
AT = END * 86400.0 - 8 * 3600  # local midnight ending the last day


def _poisson(rng: random.Random, lam: float) -> int:
    n, t = 0, rng.expovariate(1.0)
    while t < lam:
        n, t = n + 1, t + rng.expovariate(1.0)
    return n


def _claims(firm: str, day: int, n: int, *, category: str = "餐饮服务", district: str = "310115",
            issue: str = "价格", amount: float = 100.0) -> list[FirmTicket]:
    return [FirmTicket(firm, day * 86400.0 - 8 * 3600 + 36000 + k, "complaint", category, district, issue=issue,
                       amount=amount, ticket_id=f"{firm}-{day}-{k}-{issue}", label=firm) for k in range(n)]


def _background(seed: int = 1, *, rising: float = 1.0, big: bool = False) -> list[FirmTicket]:
    """Forty small firms in two categories and three districts, ~0.3-1.2 claims a day each, with
    issues in fixed proportions; *rising*: every 餐饮服务 firm at that multiple in the last two
    weeks (a season); *big*: one firm at 25 a day throughout."""
    rng = random.Random(seed)
    out: list[FirmTicket] = []
    firms = [(f"F{i}", ("餐饮服务", "美容美发服务")[i % 2], ("310115", "310104", "310112")[i % 3], 0.3 + 0.9 * rng.random())
             for i in range(40)]
    if big:
        firms.append(("BIG", "餐饮服务", "310115", 25.0))
    for day in range(DAY0, END):
        for firm, cat, district, rate in firms:
            lam = rate * (rising if cat == "餐饮服务" and day >= END - 14 else 1.0)
            for _ in range(_poisson(rng, lam)):
                issue = rng.choices(("价格", "质量", "退费", "食品安全"), (5, 3, 1, 1))[0]
                out.extend(_claims(firm, day, 1, category=cat, district=district, issue=issue,
                                   amount=round(rng.lognormvariate(5, 0.8))))
    return out


def _judge(tickets: list[FirmTicket]) -> set[str]:
    j = FirmJudge()
    j.add_many(tickets)
    return {f.firm for f in j.judge(AT)}


def test_a_one_day_spike_is_no_repeat_offender() -> None:
    spike = _claims("F3", END - 5, 30, issue="预付卡", amount=3000.0)  # a group dispute's business
    assert _judge(_background() + spike) == set()


def test_a_spike_lasting_two_days_is_none_either() -> None:
    spike = _claims("F3", END - 5, 25, issue="预付卡", amount=3000.0) + _claims("F3", END - 4, 20, issue="预付卡")
    assert _judge(_background() + spike) == set()


def test_a_big_steady_firm_is_not_abnormal_for_being_big() -> None:
    assert _judge(_background(big=True)) == set()


def test_a_whole_category_rising_together_is_a_season_not_a_firm() -> None:
    assert _judge(_background(rising=3.0)) == set()


def test_a_repeat_offender_is_found_beside_all_three() -> None:
    tickets = _background(rising=3.0, big=True)
    tickets += _claims("F7", END - 5, 30, issue="预付卡")
    for day in range(END - 14, END):
        tickets += _claims("F5", day, 3, category="美容美发服务", district="310112", issue="退费", amount=3000.0)
    assert _judge(tickets) == {"F5"}


def test_the_stage_opens_updates_and_resolves_one_episode() -> None:
    stage = FirmStage()
    tickets = _background()
    for day in range(END - 21, END - 7):  # three weeks of a firm souring, then it stops
        tickets += _claims("F5", day, 3, category="美容美发服务", district="310112", issue="退费")
    stage.add(sorted(tickets, key=lambda t: t.ts))
    stage.add(tickets[:50])  # a ticket seen again counts once
    ds = stage.advance(AT + 14 * 86400.0)
    assert {d.key for d in ds} == {"F5"} and len({d.alert_id for d in ds}) == 1
    assert [d.status for d in ds][0] == "open" and ds[-1].status == "resolved"
    opened = ds[0]
    assert opened.observed > 2 * opened.expected and opened.top_terms and 0 < len(opened.ticket_ids) <= 200
