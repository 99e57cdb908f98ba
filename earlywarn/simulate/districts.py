"""District surges (opt-in, ``SimConfig.district_surges``): one district's volume jumps for hours, over many firms.

What the design card's per-region watch is for (issue 19, item 5): a local event (a storm
and the price rises after it, a power cut, a new mall's opening weekend) brings one
district three to five times its usual complaints for 3-8 hours, spread over its firms
(platforms aside) in proportion to their usual volume but never more than two to one firm,
with their ordinary problems, so that no firm, product or term stands out: only the
district does. Each is labelled ``district_surge``, a concentrated demand whose key is the
district's code.

Planned from its own generator (``districts``), after everything else, so a config
without them plans and writes exactly what it did before.

>>> from earlywarn.simulate import SimConfig, Simulation
>>> sim = Simulation(SimConfig(seed=3, days=12, tickets_per_day=600, firms=600, incidents=(), decoys=(),
...                            professionals=0, district_surges=2))
>>> surges = [i for i in sim.incidents if i.family == DISTRICT_SURGE]
>>> [(i.expected_type, i.dimension, len(i.keys)) for i in surges]
[('concentrated_demand', 'district', 1), ('concentrated_demand', 'district', 1)]
>>> tickets = {t["ticket_id"]: t for t in sim.tickets()}
>>> [({tickets[x]["district_code"] for x in i.ticket_ids} == set(i.keys),       # all in its district
...   len({tickets[x]["firm_name"] for x in i.ticket_ids}) >= 10) for i in surges]  # over many firms
[(True, True), (True, True)]
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

from earlywarn.simulate.records import Incident
from earlywarn.simulate.rhythm import _DAY, _HOUR
from earlywarn.simulate.state import _ScenarioState
from earlywarn.simulate.writer import _Writer

DISTRICT_SURGE = "district_surge"
_PER_FIRM = 2  # a surge's complaints at one firm, at most (five people make a group)


def plan_districts(sim: _ScenarioState) -> list[tuple[int, dict[str, Any]]]:
    """(ts, ticket) for every complaint of every district surge (``sim.cfg.district_surges``)."""
    n = sim.cfg.district_surges
    if n <= 0:
        return []
    rng = sim._rng("districts")
    w = _Writer(sim, rng)
    total = sum(f.weight for f in sim.firms)
    by_district: dict[str, list[Any]] = {}
    for f in sim.firms:
        if not f.is_platform:
            by_district.setdefault(f.district, []).append(f)
    districts = sorted(d for d, fs in by_district.items() if len(fs) >= 30)
    # After the warm-up and a day more, so the district's baseline has been learned.
    first = sim._day_index(sim._t0 + int((sim.cfg.warmup_days + 1) * _DAY))
    last = sim._day_index(sim._t1 - 1) - 1
    out: list[tuple[int, dict[str, Any]]] = []
    if not districts or last < first:
        return out
    for k, day in enumerate(sorted(rng.sample(range(first, last + 1), min(n, last - first + 1)))):
        district = rng.choice(districts)
        firms = by_district[district]
        cum = list(accumulate(f.weight for f in firms))
        share = sum(f.weight for f in sim.firms if f.district == district) / total  # a platform's district too
        hours = rng.randint(3, 8)
        t0 = sim._midnight0 + day * _DAY + rng.randint(9, 21 - hours) * _HOUR
        # Daytime runs at about 1.5 times the day's mean hourly rate.
        usual = sim.cfg.tickets_per_day * share * hours / 24 * 1.5
        extra = min(max(40, round(usual * rng.uniform(2.0, 4.0))), _PER_FIRM * len(firms))
        taken: dict[int, int] = {}
        for _ in range(extra):
            firm = rng.choices(firms, cum_weights=cum)[0]
            while taken.get(firm.idx, 0) >= _PER_FIRM:  # no firm's own story: a few each at most
                firm = rng.choices(firms, cum_weights=cum)[0]
            taken[firm.idx] = taken.get(firm.idx, 0) + 1
            ts = t0 + rng.randrange(hours * _HOUR)
            person = sim._new_person()
            t = w.background_ticket(0, firm.idx, person, ts)
            t["complainant_id"] = sim._person_id(person)
            t["_district_surge"] = (k, district)
            out.append((ts, t))
    return out


def district_labels(sim: _ScenarioState, planned: list[tuple[int, dict[str, Any]]]) -> list[Incident]:
    """The label of each district surge (its tickets carry their ids by now)."""
    groups: dict[tuple[int, str], list[tuple[int, dict[str, Any]]]] = {}
    for ts, t in planned:
        groups.setdefault(t.pop("_district_surge"), []).append((ts, t))
    out = []
    for (k, district), items in sorted(groups.items()):
        items.sort(key=lambda x: x[0])
        out.append(Incident(
            incident_id=f"s{sim.cfg.seed}-{DISTRICT_SURGE}-{k + 1}", family=DISTRICT_SURGE,
            expected_type="concentrated_demand", dimension="district", keys=(district,),
            start_ts=float(items[0][0]), end_ts=float(items[-1][0]),
            people=len({t["complainant_id"] for _, t in items}),
            ticket_ids=tuple(t["ticket_id"] for _, t in items), ticket_ts=tuple(float(ts) for ts, _ in items),
            description=f"{district}: {len(items)} complaints over many firms in {(items[-1][0] - items[0][0]) / 3600:.0f} h",
        ))
    return out
