"""A simulated 12315 ticket firehose with labelled incidents, for demos, benchmarks and evaluation.

``Simulation(cfg)`` plans a scenario: a population of firms with USCC codes across
Shanghai's districts and sixteen sectors, a heavy-tailed (Zipf) complaint volume per firm
(a few platforms take hundreds of tickets a day, most firms none on most days), the three
kinds in Shanghai's 2025 proportions (1.66 M complaints, 0.63 M reports, 5.19 M
consultations), a daily rhythm (quiet nights, peaks near 10:00 and 15:00), a weekly one
(weekends at ~63 % of a weekday) and the calendar in :data:`CALENDAR` (holidays, shopping
festivals, 3·15). On top of that background it injects labelled incidents, each an
:class:`Incident` saying what an alert about it must name:

=====================  ====================  ==========  ===================================
family                 expected alert        dimension   shape
=====================  ====================  ==========  ===================================
prepaid_closure        group_dispute         firm        a small gym / school / salon closes:
                                                         12–80 people in 2–48 h, 预付卡/退费
platform_issue_surge   group_dispute         firm_issue  one issue at a big platform, 30–150
                                                         people in 6–48 h, on its normal load
safety_event           group_dispute         firm        食物中毒 at a chain's branches or an
                                                         amusement-ride injury: 12–60 in 1–6 h
product_defect         concentrated_demand   product     one product model at 15–60 shops in
                                                         many districts, 30–120 people, 1–5 d
holiday_practice       concentrated_demand   term        one practice around a holiday at
                                                         20–80 restaurants/shops, 1–4 d
platform_policy        concentrated_demand   term        a platform rule change: its shops and
                                                         itself, 40–200 people in 1–3 d
decoy_repeat_person    none (must not alert) firm        one person, 3–8 tickets, one firm, a day
decoy_small_firm       none                  firm        2–3 unrelated complaints, a small firm
decoy_festival         none                  firm        all e-commerce ×2–3 on a festival day
                                                         (the label spans it and 2 days after)
=====================  ====================  ==========  ===================================

Keys are those the engine derives (:func:`firm_key` and :func:`text_key` defer to
``schemas.normalise``): a firm is its valid USCC, else ``"name:" + text_key(firm_name)``;
an incident whose tickets mix both lists both. A product incident's keys are the
product's key and its signature term. ``platform_policy`` keys are the policy's terms
*and* the platform's firm keys: a concentrated demand raised on the platform itself names
the right thing. :data:`INCIDENT_TERMS` lists every signature term, for the segmenter's
user dictionary. Incidents never share a key within two days of each other, start after
``warmup_days``, and a family that finds no room is listed in ``Simulation.unplaced``.

Also in the background: ~8 "professional" claimants (``professional_complainants``) who
file near-identical food-law claims against many small firms on working days, callers
who ring again (~5 %), anonymous reporters, and ~5 % of firm tickets without a usable
``firm_id`` (absent, wrong check character, truncated, or an old 15-digit number).

The package, by concept (each module's docstring says more):

- :mod:`~earlywarn.simulate.records`: :class:`SimConfig`, :class:`Incident`, :func:`text_key`, :func:`firm_key`;
- :mod:`~earlywarn.simulate.rhythm`: kind shares, hourly and weekly rhythm, districts, :data:`CALENDAR`;
- :mod:`~earlywarn.simulate.vocab`: :data:`SECTORS`, names and narrative fragments;
- :mod:`~earlywarn.simulate.families`: the families, their expected alerts and variants, :data:`INCIDENT_TERMS`;
- :mod:`~earlywarn.simulate.datafiles`: reads those tables from ``data/*.json``;
- :mod:`~earlywarn.simulate.population`: the firms, their USCCs and Zipf ranks;
- :mod:`~earlywarn.simulate.state`, :mod:`~earlywarn.simulate.background`,
  :mod:`~earlywarn.simulate.incidents`, :mod:`~earlywarn.simulate.planners`: planning;
- :mod:`~earlywarn.simulate.writer`: ticket text and fields;
- :mod:`~earlywarn.simulate.scenario`: :class:`Simulation` and :func:`generate`.

Names with a leading underscore are the package's own: modules share them, callers should not.

Everything is a pure function of the config: one ``random.Random`` per purpose, seeded
from ``cfg.seed`` by name (string seeds hash with SHA-512, so runs, processes and
``PYTHONHASHSEED`` do not matter). Planning (times, firms, people, incidents and their
tickets) happens in the constructor; background tickets are written lazily by
:meth:`Simulation.tickets`, so memory stays ~150 bytes per ticket planned.

It must write faster than anything reads it (40 k tickets/s); ``python -m
earlywarn.simulate`` measures it (docs/performance.md).

>>> sim = Simulation(SimConfig(seed=7, days=1, tickets_per_day=400, firms=300,
...                            incidents=(), decoys=(), professionals=0))
>>> tickets = list(sim.tickets())
>>> len(tickets) == sim.total_tickets, all(a["received_at"] <= b["received_at"] for a, b in zip(tickets, tickets[1:]))
(True, True)
>>> tickets[0]["ticket_id"], tickets[0]["received_at"][:13]
('SH2025030300000001', '2025-03-03T00')
"""

from earlywarn.simulate.families import DECOY_FAMILIES, DEFAULT_DECOYS, DEFAULT_INCIDENTS, FAMILIES, INCIDENT_TERMS
from earlywarn.simulate.records import Incident, SimConfig, firm_key, text_key
from earlywarn.simulate.rhythm import CALENDAR, HOURLY_PROFILE, KIND_SHARES, WEEKDAY_VOLUME, CalendarDay
from earlywarn.simulate.scenario import Simulation, generate
from earlywarn.simulate.vocab import SECTORS, Sector

__all__ = [
    "CALENDAR",
    "DECOY_FAMILIES",
    "DEFAULT_DECOYS",
    "DEFAULT_INCIDENTS",
    "FAMILIES",
    "HOURLY_PROFILE",
    "INCIDENT_TERMS",
    "KIND_SHARES",
    "SECTORS",
    "Sector",
    "WEEKDAY_VOLUME",
    "CalendarDay",
    "Incident",
    "SimConfig",
    "Simulation",
    "firm_key",
    "generate",
    "text_key",
]
