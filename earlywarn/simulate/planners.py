"""One planner per incident family: whom it hits, when, and what its tickets say.

:meth:`_FamilyPlanners._plan_incidents` runs the planners a config asks for, each until
one fits (up to 100 tries; a family that finds no room is listed in ``unplaced``). A
planner returns a :class:`~earlywarn.simulate.incidents._Planned` incident, or None when
its choice does not fit the scenario. The families' tables are in
:mod:`earlywarn.simulate.families` (from ``data/incidents.json``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import timedelta

from earlywarn.simulate.draws import _cum, _pick
from earlywarn.simulate.families import (
    _POLICIES,
    _PRACTICES,
    _PREPAID_DEMANDS,
    _PREPAID_DETAILS,
    _PREPAID_PROBLEMS,
    _PRODUCTS,
    _SAFETY_DEMANDS,
    _SAFETY_FOOD_PROBLEMS,
    _SAFETY_RIDE_PROBLEMS,
    _SURGES,
    DECOY_FAMILIES,
    FAMILIES,
)
from earlywarn.simulate.incidents import _firm_issue_keys_of, _firm_keys_of, _IncidentScheduler, _Planned
from earlywarn.simulate.records import text_key
from earlywarn.simulate.rhythm import _CALENDAR_BY_DAY, _DAY, _HOUR, _KINDS
from earlywarn.simulate.vocab import (
    _BIG_FIRMS,
    _CONTEXTS,
    _DETAILS_OFFLINE,
    _DETAILS_ONLINE,
    _PLATFORM_CONTEXTS,
    _PRODUCT_BRAND_A,
    _PRODUCT_BRAND_B,
    SECTORS,
)
from earlywarn.simulate.writer import _fmt_amount, _Writer
from schemas.regions import SHANGHAI_DISTRICTS


class _FamilyPlanners(_IncidentScheduler):
    """The incident families' planners and the loop that places them."""

    def _plan_incidents(self, rng: random.Random) -> list[_Planned]:
        self._decoy_counts = self._counts(self.cfg.decoys, DECOY_FAMILIES, rng)
        # A platform incident may fall on a festival (as on a real 双十一): scoring counts an
        # alert that matches it as true before it ever blames the festival decoy.
        jobs: list[str] = []
        for fam, n in self._counts(self.cfg.incidents, FAMILIES, rng).items():
            jobs += [fam] * n
        for fam, n in self._decoy_counts.items():
            if fam != "decoy_festival":
                jobs += [fam] * n
        planners: dict[str, Callable[[random.Random], _Planned | None]] = {
            "prepaid_closure": self._plan_prepaid,
            "platform_issue_surge": self._plan_surge,
            "product_defect": self._plan_product,
            "holiday_practice": self._plan_practice,
            "safety_event": self._plan_safety,
            "platform_policy": self._plan_policy,
            "decoy_repeat_person": self._plan_repeat_person,
            "decoy_small_firm": self._plan_small_firm,
        }
        out: list[_Planned] = []
        for fam in jobs:
            for _attempt in range(100):
                # A person id is only consumed when its plan is kept: restore on failure.
                mark = self._next_person
                p = planners[fam](rng)
                if p is not None and p.tickets and self._free(p.reserve, min(p.ts), max(p.ts)):
                    self._reserve(p.reserve, min(p.ts), max(p.ts))
                    out.append(p)
                    break
                self._next_person = mark
            else:  # the scenario is too short or too crowded for it
                self.unplaced.append(fam)
        return out

    def _plan_prepaid(self, rng: random.Random) -> _Planned | None:
        cands = self._small(("健身", "教育培训", "美容美发"))
        firm = cands[rng.randrange(len(cands))]
        duration = int(rng.uniform(2, 48) * _HOUR)
        t0 = self._start(rng, duration, 7, 21)
        reserve = [f"F{firm.idx}"]
        if t0 is None or not self._free(reserve, t0, t0 + duration):
            return None
        people = rng.randint(12, 80)
        # A closure is found out at once (a locked door, a dissolved group chat): a burst.
        firsts = self._arrivals(rng, people, t0, duration, 0.45, min(duration, 3 * _HOUR))
        main_issue = "预付卡" if rng.random() < 0.7 else "退费"
        other_issue = "退费" if main_issue == "预付卡" else "预付卡"
        w = _Writer(self, rng)
        tickets, ts = [], []
        for t, person, nth in self._people_tickets(rng, firsts, t0 + duration):
            amount = round(math.exp(rng.uniform(math.log(1000), math.log(20000))), -1)
            parts = w.story(rng.choice(_CONTEXTS[firm.sector][0]), rng.choice(_PREPAID_PROBLEMS),
                            rng.choice(_PREPAID_DEMANDS), extra=rng.choice(_PREPAID_DETAILS), nth=nth)  # fmt: skip
            vals = {"product": rng.choice(firm.products), "amount": _fmt_amount(amount),
                    "amount2": _fmt_amount(round(amount * rng.uniform(0.3, 0.9), -1)), "when2": "今天"}  # fmt: skip
            title = rng.choice((f"{firm.short}闭店跑路", f"{firm.short}突然闭店无法退费", f"预付卡商家{firm.short}跑路",
                                f"{firm.short}关门了", "商家闭店要求退费"))  # fmt: skip
            issue = main_issue if rng.random() < 0.8 else other_issue
            kind = _pick(rng, _KINDS, [0.85, 0.95, 1.0])
            tickets.append(w.compose(kind, firm, person, t, issue, amount, parts, vals, title))
            ts.append(t)
        return _Planned("prepaid_closure", tickets, ts, "firm", _firm_keys_of(firm), f"{firm.short} 闭店跑路", reserve)

    def _plan_surge(self, rng: random.Random) -> _Planned | None:
        big = [f for f in self.firms if f.is_platform]
        firm = big[rng.randrange(len(big))]
        variants = [v for v in _SURGES if firm.sector in v.sectors]
        if not variants:
            return None
        v = self._fresh(rng, variants, lambda x: x.term)
        duration = int(rng.uniform(6, 48) * _HOUR)
        t0 = self._start(rng, duration, 8, 20)
        reserve = [f"F{firm.idx}", f"T{v.term}"]
        if t0 is None or not self._free(reserve, t0, t0 + duration):
            return None
        people = rng.randint(30, 150)
        # Word spreads on social media within hours of the first posts.
        firsts = self._arrivals(rng, people, t0, duration, 0.35, min(duration, 4 * _HOUR))
        s = SECTORS[firm.sector]
        w = _Writer(self, rng)
        tickets, ts = [], []
        for t, person, nth in self._people_tickets(rng, firsts, t0 + duration):
            amount = round(math.exp(rng.gauss(math.log(s.amount_median), 0.6)), 1)
            lead = rng.choice(("本人是{firm}的用户。", "本人长期使用{firm}。", "", ""))
            parts = w.story(lead, rng.choice(v.problems), rng.choice(v.demands), nth=nth)
            vals = {"firm": firm.short, "amount": _fmt_amount(amount), "product": rng.choice(firm.products)}
            title = rng.choice((f"{firm.short}{v.term}问题", f"投诉{firm.short}{v.term}", v.term))
            kind = _pick(rng, _KINDS, [0.9, 0.97, 1.0])
            tickets.append(w.compose(kind, firm, person, t, v.issue, amount, parts, vals, title, platform=firm.platform))
            ts.append(t)
        return _Planned("platform_issue_surge", tickets, ts, "firm_issue", _firm_issue_keys_of(firm),
                        f"{firm.short} {v.term}", reserve)  # fmt: skip

    def _plan_product(self, rng: random.Random) -> _Planned | None:
        v = self._fresh(rng, _PRODUCTS, lambda x: x.template)
        brand = rng.choice(_PRODUCT_BRAND_A) + rng.choice(_PRODUCT_BRAND_B)
        model = rng.choice("ABCDEFGHKMNPRSTX") + rng.choice("ABCDEFGHKMNPRSTX") + f"-{rng.randint(10, 99)}"
        if "批次" in v.template:  # a formula batch is named by its production date
            made = self._date_of(0) - timedelta(days=rng.randint(30, 200))
            model = made.strftime("%Y%m%d") + model[-2:]
        product = v.template.format(brand=brand, model=model)
        pool = self._small(v.sectors, min_rank=len(_BIG_FIRMS) + 10)
        n_firms = min(rng.randint(15, 60), len(pool))
        duration = int(rng.uniform(1, 5) * _DAY)
        t0 = self._start(rng, duration, 8, 20)
        if n_firms < 10 or t0 is None:
            return None
        shops = rng.sample(pool, n_firms)
        reserve = [f"P{product}", *(f"T{t}" for t in v.terms), *(f"F{f.idx}" for f in shops)]
        if not self._free(reserve, t0, t0 + duration):
            return None
        people = max(rng.randint(30, 120), n_firms)
        # A few shops' buyers first; then news and social media spread it.
        firsts = self._arrivals(rng, people, t0, duration, 0.2, min(duration, 12 * _HOUR))
        issue = "安全" if v.terms[0] in ("电池起火", "自燃", "漏电") else "质量"
        w = _Writer(self, rng)
        tickets, ts = [], []
        for i, (t, person, nth) in enumerate(self._people_tickets(rng, firsts, t0 + duration)):
            firm = shops[i] if i < n_firms else shops[int(rng.random() ** 1.5 * n_firms)]
            amount = round(rng.uniform(*v.amount), 0)
            parts = w.story(rng.choice(_CONTEXTS[firm.sector][0]), rng.choice(v.problems), rng.choice(v.demands),
                            nth=nth)  # fmt: skip
            vals = {"product": product, "amount": _fmt_amount(amount)}
            title = rng.choice((f"{product}{v.terms[0]}", f"{v.terms[0]}问题投诉", f"{product}质量问题"))
            kind = _pick(rng, _KINDS, [0.8, 0.92, 1.0])
            tickets.append(w.compose(kind, firm, person, t, issue, amount, parts, vals, title,
                                     product=product, category=v.category))  # fmt: skip
            ts.append(t)
        keys = {text_key(product), *v.terms}
        return _Planned("product_defect", tickets, ts, "product", lambda _t: keys, f"{product} {v.terms[0]}", reserve)

    def _occasions(self) -> list[tuple[int, str]]:
        """(day index, name) of every calendar day in the incident range, weekends as "*"."""
        lo = self._day_index(self._t0 + int(self.cfg.warmup_days * _DAY)) + 1
        hi = self._day_index(self._t1 - 1) - 1
        out: list[tuple[int, str]] = []
        for d in range(lo, hi + 1):
            day = self._date_of(d)
            out += [(d, c.name) for c in _CALENDAR_BY_DAY.get(day, ()) if c.kind != "festival_aftermath"]
            if d in self._festivals and self._festivals[d][0] == "店庆大促":
                out.append((d, "店庆大促"))
            if day.weekday() >= 5:
                out.append((d, "*"))
        return out

    def _plan_practice(self, rng: random.Random) -> _Planned | None:
        options = [(d, name, p) for d, name in self._occasions() for p in _PRACTICES if name in p.occasions]
        if not options:
            return None
        # Prefer a named occasion over a plain weekend when there is one.
        named = [o for o in options if o[1] != "*"]
        d, name, pr = self._fresh(rng, named if named and rng.random() < 0.8 else options, lambda o: o[2].name)
        pool = self._small(pr.sectors, min_rank=len(_BIG_FIRMS) + 10)
        n_firms = min(rng.randint(20, 80), len(pool))
        if n_firms < 15:
            return None
        days = rng.randint(1, 4)
        # Complaints come around the day: bookings before it, the bill on it, reports after.
        t0 = self._midnight0 + (d - rng.randint(0, days - 1)) * _DAY + rng.randrange(8 * _HOUR, 18 * _HOUR)
        t0 = max(t0, self._t0 + int(self.cfg.warmup_days * _DAY))
        duration = min(days * _DAY, self._t1 - t0 - _HOUR)
        shops = rng.sample(pool, n_firms)
        reserve = [*(f"T{t}" for t in pr.terms), *(f"F{f.idx}" for f in shops)]
        if duration < 6 * _HOUR or not self._free(reserve, t0, t0 + duration):
            return None
        people = n_firms + rng.randint(0, n_firms // 2)
        firsts = self._arrivals(rng, people, t0, duration, 0.1, min(duration, 12 * _HOUR))
        label = "周末" if name == "*" else name
        w = _Writer(self, rng)
        tickets, ts = [], []
        for i, (t, person, nth) in enumerate(self._people_tickets(rng, firsts, t0 + duration)):
            firm = shops[i] if i < n_firms else shops[rng.randrange(n_firms)]
            s = SECTORS[firm.sector]
            amount = round(math.exp(rng.gauss(math.log(s.amount_median * 3), 0.5)), 0)
            detail = rng.choice(_DETAILS_ONLINE if s.online else _DETAILS_OFFLINE)
            parts = w.story("", rng.choice(pr.problems), rng.choice(pr.demands), extra=detail, nth=nth)
            vals = {"firm": firm.short, "occasion": label, "product": rng.choice(firm.products),
                    "amount": _fmt_amount(amount)}  # fmt: skip
            title = rng.choice((f"{label}{pr.terms[0]}", f"{firm.short}{pr.terms[0]}", f"投诉{pr.terms[0]}"))
            kind = _pick(rng, _KINDS, [0.8, 0.95, 1.0])
            tickets.append(w.compose(kind, firm, person, t, pr.issue, amount, parts, vals, title))
            ts.append(t)
        keys = set(pr.terms)
        return _Planned("holiday_practice", tickets, ts, "term", lambda _t: keys, f"{label} {pr.name}", reserve)

    def _plan_safety(self, rng: random.Random) -> _Planned | None:
        food = rng.random() < 0.6
        if food:  # a chain with branches: mid-sized, not one of the platforms
            pool = [f for f in self._by_sector["餐饮"] if 15 <= self._rank[f.idx] < 600 and not f.is_platform]
        else:  # ride accidents happen at parks: 旅游 firms named 乐园 / 游乐
            pool = [f for f in self._by_sector["旅游"] if self._rank[f.idx] >= 15 and ("乐园" in f.name or "游乐" in f.name)]
        if not pool:
            return None
        firm = pool[rng.randrange(len(pool))]
        duration = int(rng.uniform(1, 6) * _HOUR)
        # Food poisoning shows after lunch or dinner; ride accidents happen in opening hours.
        t0 = self._start(rng, duration, 13, 21) if food else self._start(rng, duration, 10, 18)
        term = "食物中毒" if food else "受伤"
        reserve = [f"F{firm.idx}", f"T{term}"]
        if t0 is None or not self._free(reserve, t0, t0 + duration):
            return None
        people = rng.randint(12, 60)
        firsts = self._arrivals(rng, people, t0, duration, 0.6, min(duration, _HOUR))
        branches = [(SHANGHAI_DISTRICTS[firm.district][:2], firm.district)]
        for _ in range(rng.randint(0, 2) if food else 0):
            dc = _pick(rng, self._district_codes, self._district_cum)
            branches.append((SHANGHAI_DISTRICTS[dc][:2], dc))
        w = _Writer(self, rng)
        tickets, ts = [], []
        for t, person, nth in self._people_tickets(rng, firsts, t0 + duration):
            branch, district = branches[int(rng.random() ** 2 * len(branches))]
            parts = w.story("", rng.choice(_SAFETY_FOOD_PROBLEMS if food else _SAFETY_RIDE_PROBLEMS),
                            rng.choice(_SAFETY_DEMANDS), nth=nth)  # fmt: skip
            amount = round(rng.uniform(100, 800), 0) if rng.random() < 0.5 else None
            vals = {"short": firm.short, "branch": branch + rng.choice(("", "一", "万达", "中心")), "when2": "今天",
                    "n": str(rng.randint(2, 6))}  # fmt: skip
            if food:
                title = rng.choice((f"{firm.short}疑似食物中毒", "食物中毒", f"{firm.short}{branch}店食物中毒"))
            else:
                title = rng.choice((f"{firm.short}游乐设施故障游客受伤", "游乐设施故障受伤", f"{firm.short}安全事故"))
            kind = _pick(rng, _KINDS, [0.7, 0.97, 1.0])
            tickets.append(w.compose(kind, firm, person, t, "食品安全" if food else "安全", amount, parts, vals, title,
                                     district=district))  # fmt: skip
            ts.append(t)
        what = "食物中毒" if food else "游乐设施故障受伤"
        return _Planned("safety_event", tickets, ts, "firm", _firm_keys_of(firm), f"{firm.short} {what}", reserve)

    def _plan_policy(self, rng: random.Random) -> _Planned | None:
        platform = rng.choice(self._platforms)
        pol = self._fresh(rng, _POLICIES, lambda x: x.terms[0])
        shops = [f for f in self.firms if f.platform == platform.platform and not f.is_platform]
        duration = int(rng.uniform(1, 3) * _DAY)
        t0 = self._start(rng, duration, 9, 18)
        reserve = [f"F{platform.idx}", *(f"T{t}" for t in pol.terms)]
        if len(shops) < 20 or t0 is None or not self._free(reserve, t0, t0 + duration):
            return None
        people = rng.randint(40, 200)
        firsts = self._arrivals(rng, people, t0, duration, 0.25, min(duration, 8 * _HOUR))
        shop_cum = _cum([f.weight for f in shops])
        w = _Writer(self, rng)
        tickets, ts = [], []
        for t, person, nth in self._people_tickets(rng, firsts, t0 + duration):
            own = rng.random() < pol.own_share
            firm = platform if own else _pick(rng, shops, shop_cum)
            s = SECTORS[firm.sector]
            amount = round(math.exp(rng.gauss(math.log(s.amount_median), 0.8)), 1)
            lead = rng.choice(_PLATFORM_CONTEXTS[0] if own else _CONTEXTS[firm.sector][0])
            parts = w.story(lead, rng.choice(pol.problems), rng.choice(pol.demands), nth=nth)
            vals = {"platform": platform.platform or "", "product": rng.choice(firm.products),
                    "amount": _fmt_amount(amount)}  # fmt: skip
            title = rng.choice((f"{platform.platform}{pol.terms[0]}问题", f"投诉{pol.terms[0]}新规", pol.terms[0]))
            kind = _pick(rng, _KINDS, [0.85, 0.9, 1.0])
            tickets.append(w.compose(kind, firm, person, t, pol.issue, amount, parts, vals, title,
                                     platform=platform.platform))  # fmt: skip
            ts.append(t)
        platform_keys = _firm_keys_of(platform)
        return _Planned("platform_policy", tickets, ts, "term", lambda tk: set(pol.terms) | platform_keys(tk),
                        f"{platform.platform} {pol.terms[0]}新规", reserve)  # fmt: skip

    def _plan_repeat_person(self, rng: random.Random) -> _Planned | None:
        pool = self._small(tuple(SECTORS), min_rank=len(_BIG_FIRMS) + 20)
        firm = pool[rng.randrange(len(pool))]
        t0 = self._start(rng, 12 * _HOUR, 8, 11)
        reserve = [f"F{firm.idx}"]
        if t0 is None or not self._free(reserve, t0, t0 + 12 * _HOUR):
            return None
        n = rng.randint(3, 8)
        times = sorted(t0 + rng.randrange(0, 11 * _HOUR) for _ in range(n - 1))
        person = self._new_person()
        w = _Writer(self, rng)
        names, cum = w.issues[firm.sector]
        base = w.background_ticket(0, firm.idx, person, t0, issue=_pick(rng, names, cum))
        tickets, ts = [base], [t0]
        for k, t in enumerate(times, start=2):
            again = dict(base)
            again["content"] = rng.choice((f"第{k}次反映：", "再次投诉：", "补充：", "")) + base["content"]
            again["channel"] = w.channel(False)
            again["received_at"] = w.stamp(t)
            tickets.append(again)
            ts.append(t)
        return _Planned("decoy_repeat_person", tickets, ts, "firm", _firm_keys_of(firm),
                        f"{firm.short} 同一人{n}次", reserve)  # fmt: skip

    def _plan_small_firm(self, rng: random.Random) -> _Planned | None:
        pool = self._small(tuple(SECTORS), min_rank=len(self.firms) // 3)
        firm = pool[rng.randrange(len(pool))]
        t0 = self._start(rng, 12 * _HOUR, 8, 12)
        reserve = [f"F{firm.idx}"]
        if t0 is None or not self._free(reserve, t0, t0 + 12 * _HOUR):
            return None
        issues = [i for i, _ in SECTORS[firm.sector].issues]
        chosen = rng.sample(issues, min(rng.randint(2, 3), len(issues)))
        times = sorted([t0] + [t0 + rng.randrange(0, 10 * _HOUR) for _ in chosen[1:]])
        w = _Writer(self, rng)
        tickets = [w.background_ticket(0, firm.idx, self._new_person(), t, issue=i) for t, i in zip(times, chosen)]
        return _Planned("decoy_small_firm", tickets, times, "firm", _firm_keys_of(firm),
                        f"{firm.short} {len(tickets)}件无关投诉", reserve)  # fmt: skip
