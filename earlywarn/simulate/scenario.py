"""A scenario: the :class:`Simulation` that plans it and :func:`generate`, the one-call form.

``Simulation(cfg)`` plans everything in its constructor (firms, background, incidents,
labels, in that order: each draws from its own seeded generator, and the order is part of
what makes a seed reproduce its scenario); ``tickets()`` writes the tickets lazily.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from earlywarn.simulate.background import _BackgroundPlanner
from earlywarn.simulate.districts import district_labels, plan_districts
from earlywarn.simulate.draws import _anonymous, _cum, _scramble
from earlywarn.simulate.firms import plan_firms
from earlywarn.simulate.planners import _FamilyPlanners
from earlywarn.simulate.population import _Firm, _make_firms
from earlywarn.simulate.records import Incident, SimConfig
from earlywarn.simulate.rings import plan_rings
from earlywarn.simulate.senders import plan_senders, sender_labels, strip_identities
from earlywarn.simulate.slow import plan_slow, slow_labels
from earlywarn.simulate.rhythm import _DAY, _DISTRICT_WEIGHTS, _ECOMMERCE, _HOUR, _TZ
from earlywarn.simulate.state import _PAST_DAYS
from earlywarn.simulate.writer import _Writer


class Simulation(_BackgroundPlanner, _FamilyPlanners):
    """A planned scenario: ``incidents``, ``professional_complainants``, ``claimant_rings`` and ``tickets()``.

    ``tickets()`` can be called any number of times and yields the same sequence each
    time (fresh dicts, in non-decreasing ``received_at``). ``background_tickets`` counts
    every ticket not in a real (non-decoy) incident: the denominator of the false-alert rate.
    """

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self._seed_text = f"earlywarn-sim:{cfg.seed}"
        rng = self._rng("plan")
        self._t0 = int(datetime.fromisoformat(cfg.start).timestamp())
        self._t1 = self._t0 + int(cfg.days * _DAY)
        # Local (+08:00) midnight at or before the start: day index 0.
        self._midnight0 = self._t0 - (self._t0 + 8 * _HOUR) % _DAY
        n_days = (self._t1 - self._midnight0 + _DAY - 1) // _DAY
        self._dates = [
            (datetime.fromtimestamp(self._midnight0, _TZ) + timedelta(days=i)).date()
            for i in range(-_PAST_DAYS, n_days + 2)
        ]
        self._perm_b = rng.randrange(10**9)
        self._district_codes = tuple(_DISTRICT_WEIGHTS)
        self._district_cum = _cum(list(_DISTRICT_WEIGHTS.values()))
        self.firms, self._rank = _make_firms(rng, cfg.firms, self._district_codes, self._district_cum)
        self._firm_cum = _cum([f.weight for f in self.firms])
        self._platforms = [f for f in self.firms if f.is_platform and f.sector in _ECOMMERCE]
        self._by_sector: dict[str, list[_Firm]] = {}
        for f in self.firms:
            self._by_sector.setdefault(f.sector, []).append(f)
        self._reserved: dict[str, list[tuple[int, int]]] = {}
        self.unplaced: list[str] = []  # families asked for but with no room left in the scenario
        self._used: set[str] = set()  # variants (practices, products, policies) already in the scenario
        # People are numbers (ids are a hash of them): professionals first, then everyone else.
        self.professional_complainants: tuple[str, ...] = tuple(self._person_id(i) for i in range(cfg.professionals))
        self._next_person = cfg.professionals
        # Festival days (calendar ones in range, plus synthetic sales if the decoys ask for more).
        self._festivals = self._festival_days(rng)
        background = self._plan_background(rng)
        planned = self._plan_incidents(rng)
        ring_tickets, self.claimant_rings = plan_rings(self)  # (): none unless cfg.rings asks
        firm_tickets, self.firm_cases = plan_firms(self)  # (): none unless cfg.abnormal_firms asks
        sender_tickets = plan_senders(self)  # []: none unless cfg.one_sender_bursts asks
        slow_tickets = plan_slow(self)  # []: none unless cfg.slow_disputes asks
        district_tickets = plan_districts(self)  # []: none unless cfg.district_surges asks
        ring_tickets = ring_tickets + sender_tickets + slow_tickets + district_tickets
        self._plan: list[tuple[int, int, int, int, int, dict[str, Any] | None]] = background
        order = len(background)
        for p in planned:
            for ts, t in zip(p.ts, p.tickets, strict=True):
                self._plan.append((ts, order, -1, -1, -1, t))
                order += 1
        for ts, t in ring_tickets + firm_tickets:
            self._plan.append((ts, order, -1, -1, -1, t))
            order += 1
        self._plan.sort()  # (ts, order) decide: order is unique, so payloads are never compared
        self.total_tickets = len(self._plan)
        # Ticket ids (SH + local date + 8-digit sequence in the day) of the tickets labels name.
        wanted = {o for orders in self._festival_orders.values() for o in orders}
        ids: dict[int, str] = {}
        by_order: dict[int, tuple[int, int]] = {}
        for e, tid in zip(self._plan, self._numbers(), strict=True):
            if e[5] is not None:
                e[5]["ticket_id"] = tid
            elif e[1] in wanted:
                ids[e[1]] = tid
                # Who the label counts: anonymous reports carry no complainant id.
                anon = e[2] == 1 and e[4] >= cfg.professionals and _anonymous(_scramble(e[4] + self._perm_b))
                by_order[e[1]] = (e[0], -1 if anon else e[4])
        self.incidents: list[Incident] = [self._label(i, p) for i, p in enumerate(planned)]
        self.incidents += self._festival_labels(ids, by_order)
        self.incidents += sender_labels(self, sender_tickets)
        self.incidents += slow_labels(self, slow_tickets)
        self.incidents += district_labels(self, district_tickets)
        real = sum(len(i.ticket_ids) for i in self.incidents if i.expected_type is not None)
        self.background_tickets = self.total_tickets - real

    def _numbers(self) -> Iterator[str]:
        """Ticket ids in plan order: SH + local date + an 8-digit sequence within the day."""
        next_midnight, seq, prefix = -1, 0, ""
        for e in self._plan:
            if e[0] >= next_midnight:
                d = (e[0] - self._midnight0) // _DAY
                next_midnight = self._midnight0 + (d + 1) * _DAY
                seq = 0
                prefix = "SH" + self._date_of(d).strftime("%Y%m%d")
            seq += 1
            yield f"{prefix}{seq:08d}"

    def tickets(self) -> Iterator[dict[str, Any]]:
        """Every ticket as a contract-v1 dict, in non-decreasing ``received_at`` order."""
        if self.cfg.missing_identity_rate > 0:
            yield from strip_identities(self, self._tickets())
        else:
            yield from self._tickets()

    def _tickets(self) -> Iterator[dict[str, Any]]:
        w = _Writer(self, self._rng("content"))
        background = w.background_ticket
        for (ts, _o, kind, firm, person, payload), tid in zip(self._plan, self._numbers(), strict=True):
            yield background(kind, firm, person, ts, tid) if payload is None else dict(payload)

    __iter__ = tickets


def generate(cfg: SimConfig) -> tuple[Iterator[dict[str, Any]], list[Incident]]:
    """The tickets (an iterator, in time order) and the incident labels of one scenario."""
    sim = Simulation(cfg)
    return sim.tickets(), sim.incidents
