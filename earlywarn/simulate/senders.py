"""Tickets with no identity (opt-in, ``SimConfig.missing_identity_rate`` and ``one_sender_bursts``).

What real exports look like and our own simulator never showed (issue 16, item 3): a share
of tickets carries no ``complainant_id`` (half of them still give a phone or a name, half
nothing at all), and one sender by post writes 5-15 near-identical letters at one moment,
either all against one small firm or spread over three firms of one trade. Nobody is
harmed in a way that makes it a group: each burst is a decoy (``decoy_one_sender``), and an
alert on it is false.

Both are planned from their own generators (``identity``, ``senders``), after everything
else, so a config without them plans and writes exactly what it did before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from earlywarn.simulate.records import Incident, firm_key
from earlywarn.simulate.rhythm import _DAY, _HOUR
from earlywarn.simulate.state import _ScenarioState
from earlywarn.simulate.writer import _Writer

DECOY_ONE_SENDER = "decoy_one_sender"
_IDENTITY = ("complainant_id", "complainant_phone", "complainant_name")


def plan_senders(sim: _ScenarioState) -> list[tuple[int, dict[str, Any]]]:
    """(ts, ticket) for every letter of every one-sender burst (``sim.cfg.one_sender_bursts``)."""
    n = sim.cfg.one_sender_bursts
    if n <= 0:
        return []
    rng = sim._rng("senders")
    w = _Writer(sim, rng)
    start = sim._t0 + int(sim.cfg.warmup_days * _DAY)
    days = list(range(sim._day_index(start), sim._day_index(sim._t1 - 1) + 1))
    sectors = ("健身", "教育培训", "美容美发", "餐饮", "房地产")
    out: list[tuple[int, dict[str, Any]]] = []
    for k in range(n):
        sector = sectors[k % len(sectors)]
        pool = sim._small((sector,))
        if len(pool) < 3 or not days:
            continue
        firms = rng.sample(pool, 3) if k % 2 else [rng.choice(pool)]
        person = sim._new_person()
        t0 = sim._midnight0 + rng.choice(days) * _DAY + 9 * _HOUR + rng.randrange(8 * _HOUR)
        t0 = min(max(t0, start), sim._t1 - _HOUR)
        letters = rng.randint(5, 15)
        base = None
        for i in range(letters):
            firm = firms[i % len(firms)]
            ts = t0 + rng.randrange(20 * 60)  # registered together: one post delivery
            t = w.background_ticket(0, firm.idx, person, ts)
            for f in _IDENTITY:
                t.pop(f, None)
            if base is None:
                base = t["content"]
            # The same letter, copied out again with a word changed here and there.
            t["content"] = base.replace("。", "，", i % 2) + ("" if i % 3 else "特此反映。")
            t["channel"] = "信件"
            t["_sender_burst"] = k
            out.append((ts, t))
    return out


def sender_labels(sim: _ScenarioState, planned: list[tuple[int, dict[str, Any]]]) -> list[Incident]:
    """The decoy label of each burst (its tickets carry their ids by now)."""
    return labels(sim, planned, "_sender_burst", DECOY_ONE_SENDER, None,
                  "one sender by post, no identity, near-identical letters")


def labels(sim: _ScenarioState, planned: list[tuple[int, dict[str, Any]]], tag: str, family: str,
           expected: str | None, description: str) -> list[Incident]:
    """One firm-keyed label per group of *planned* tickets (grouped by, and stripped of, their *tag*
    field), once the tickets carry their ids; people are the complainant ids (at least one)."""
    groups: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for ts, t in planned:
        groups.setdefault(t.pop(tag), []).append((ts, t))
    out = []
    for k, items in sorted(groups.items()):
        items.sort(key=lambda x: x[0])
        keys = {firm_key(t) for _, t in items} - {None}
        out.append(Incident(
            incident_id=f"s{sim.cfg.seed}-{family}-{k + 1}", family=family, expected_type=expected,
            dimension="firm", keys=tuple(sorted(x for x in keys if x)), start_ts=float(items[0][0]),
            end_ts=float(items[-1][0]), people=max(1, len({t["complainant_id"] for _, t in items
                                                            if t.get("complainant_id")})),
            ticket_ids=tuple(t["ticket_id"] for _, t in items), ticket_ts=tuple(float(ts) for ts, _ in items),
            description=description,
        ))
    return out


def strip_identities(sim: _ScenarioState, tickets: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The tickets, a ``missing_identity_rate`` share of them without ``complainant_id``
    (half of those without phone and name too)."""
    rate = sim.cfg.missing_identity_rate
    rng = sim._rng("identity")
    for t in tickets:
        if rng.random() < rate and "complainant_id" in t:
            del t["complainant_id"]
            if rng.random() < 0.5:
                t.pop("complainant_phone", None)
                t.pop("complainant_name", None)
        yield t
