"""Claimant rings (opt-in, ``SimConfig.rings``): several people filing one template against many firms.

A ring is 3-6 people; each member files 2-4 claims (mostly reports) on working days
after the warm-up, each against a different small food, health-food, baby-goods or
e-commerce firm, all from the ring's one template (``ring_templates`` in
``data/narratives.json``) filled in with the firm, product, date and a finding. Few claims
each, so no member stands out by volume: only the shared template gives them away.
Planned from its own generator (``rings``), after everything else, so a config without
rings plans and writes exactly what it did before.
"""

from __future__ import annotations

from typing import Any

from earlywarn.simulate.rhythm import _DAY, _HOUR
from earlywarn.simulate.state import _ScenarioState
from earlywarn.simulate.vocab import _PROF_FINDINGS, _PROF_PRODUCTS, _RING_TEMPLATES
from earlywarn.simulate.writer import _Writer


def plan_rings(sim: _ScenarioState) -> tuple[list[tuple[int, dict[str, Any]]], tuple[tuple[str, ...], ...]]:
    """((ts, ticket) for every ring claim, the rings' members' complainant ids)."""
    n = sim.cfg.rings
    if n <= 0:
        return [], ()
    rng = sim._rng("rings")
    w = _Writer(sim, rng)
    pool = sim._small(("食品", "保健品", "母婴", "电商平台"))
    start = sim._t0 + int(sim.cfg.warmup_days * _DAY)
    days = [d for d in range(sim._day_index(start), sim._day_index(sim._t1 - 1) + 1) if sim._date_of(d).weekday() < 5]
    out: list[tuple[int, dict[str, Any]]] = []
    rings: list[tuple[str, ...]] = []
    for k in range(n):
        template = _RING_TEMPLATES[k % len(_RING_TEMPLATES)]
        members = [sim._new_person() for _ in range(rng.randint(3, 6))]
        firms = rng.sample(pool, min(len(pool), 4 * len(members)))
        used = 0
        ids = []
        for person in members:
            for _ in range(rng.randint(2, 4)):
                if not days or used >= len(firms):
                    break
                firm = firms[used]
                used += 1
                ts = sim._midnight0 + rng.choice(days) * _DAY + 9 * _HOUR + rng.randrange(8 * _HOUR)
                ts = min(max(ts, start), sim._t1 - 1)
                t = w.background_ticket(1 if rng.random() < 0.7 else 0, firm.idx, person, ts)
                t["complainant_id"] = sim._person_id(person)  # never anonymous: a ring wants its reward
                product = t["product_name"] if firm.sector in ("食品", "保健品", "母婴") else rng.choice(_PROF_PRODUCTS)
                t["product_name"] = product
                t["issue_category"] = "虚假宣传" if k % 2 else "食品安全"
                t["content"] = template.format(when=w.when(ts), firm=firm.name, product=product,
                                               finding=rng.choice(_PROF_FINDINGS))
                t["title"] = f"举报{firm.short}" if t["kind"] == "report" else f"{product}问题"
                out.append((ts, t))
            ids.append(sim._person_id(person))
        rings.append(tuple(ids))
    return out, tuple(rings)
