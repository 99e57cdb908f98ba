"""What tickets are made of: sectors, firm and person names, and the narrative fragments.

Every table here is loaded from ``data/`` (``sectors.json``, ``names.json``,
``narratives.json``, ``consultations.json``); this module gives each its Python shape and
the name the planner and the writer use. Brand and person names are fictional on purpose,
so synthetic complaints are never mistaken for data about a real company or person.
"""

from __future__ import annotations

from dataclasses import dataclass

from earlywarn.simulate.datafiles import load

_NAMES_TABLE = load("names")
_TEXT = load("narratives")
_CONSULT = load("consultations")


@dataclass(frozen=True, slots=True)
class Sector:
    """A line of business: what its firms are called, sell, get complained about and charge."""

    name: str
    category: str  # product_category on its tickets
    firm_share: float  # share of (non-platform) firms
    words: tuple[str, ...]  # industry words in company names
    suffixes: tuple[str, ...]
    products: tuple[str, ...]
    issues: tuple[tuple[str, float], ...]
    amount_median: float  # log-normal amount, CNY
    amount_sigma: float
    online: bool = False  # its shops sell on a platform
    sole_words: tuple[str, ...] = ()  # 个体工商户 shop words; empty: none in this sector
    sole_share: float = 0.0


SECTORS: dict[str, Sector] = {s["name"]: Sector(**s) for s in load("sectors")["sectors"]}
assert abs(sum(s.firm_share for s in SECTORS.values()) - 1.0) < 1e-9

# The head of the Zipf curve: fictional platforms and chains. Fictional on purpose, so
# synthetic complaints are never mistaken for data about a real company.
# (full name, short name, sector, district, platform it runs or None)
_BIG_FIRMS: tuple[tuple[str, str, str, str, str | None], ...] = tuple(
    (f["name"], f["short"], f["sector"], f["district"], f["platform"]) for f in _NAMES_TABLE["big_firms"]
)

_BRAND_A: str = _NAMES_TABLE["brand_first"]
_BRAND_B: str = _NAMES_TABLE["brand_second"]
_PRODUCT_BRAND_A: str = _NAMES_TABLE["product_brand_first"]
_PRODUCT_BRAND_B: str = _NAMES_TABLE["product_brand_second"]
_SURNAMES: str = _NAMES_TABLE["surnames"]
_GIVEN: str = _NAMES_TABLE["given_names"]
_ROADS: tuple[str, ...] = _NAMES_TABLE["roads"]

_CHANNELS: tuple[tuple[str, float], ...] = _TEXT["channels"]
_PLATFORM_CHANNELS: tuple[tuple[str, float], ...] = _TEXT["platform_channels"]
_PERIOD: tuple[str, ...] = _TEXT["periods"]

# {when} {firm} {product} {amount} {platform} placeholders; the first list has an amount.
_CONTEXTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    sector: (c["with_amount"], c["without_amount"]) for sector, c in _TEXT["contexts"].items()
}
# Tickets about a platform itself (its own goods, membership, customer service).
_PLATFORM_CONTEXTS: tuple[tuple[str, ...], tuple[str, ...]] = (
    _TEXT["platform_contexts"]["with_amount"],
    _TEXT["platform_contexts"]["without_amount"],
)
_PROBLEMS: dict[str, tuple[str, ...]] = _TEXT["problems"]
# Services have no goods to repair or return: their quality / after-sales / safety stories.
_SERVICE_SECTORS = frozenset(_TEXT["service_sectors"])
_SERVICE_PROBLEMS: dict[str, tuple[str, ...]] = _TEXT["service_problems"]
# Sector-specific problems, used half the time when a sector has them for the issue.
_SECTOR_PROBLEMS: dict[tuple[str, str], tuple[str, ...]] = {
    (p["sector"], p["issue"]): p["problems"] for p in _TEXT["sector_problems"]
}
_DETAILS_ONLINE: tuple[str, ...] = _TEXT["details_online"]
_DETAILS_OFFLINE: tuple[str, ...] = _TEXT["details_offline"]
_CONTACTS: tuple[str, ...] = _TEXT["contacts"]
_DEMANDS: dict[str, tuple[str, ...]] = _TEXT["demands"]
_CLOSINGS: tuple[str, ...] = _TEXT["closings"]
_VIOLATIONS: dict[str, tuple[str, ...]] = _TEXT["violations"]
_EVIDENCE: tuple[str, ...] = _TEXT["evidence"]
# A sentence that gives a complaint its weight; most callers add one.
_REMARKS: tuple[str, ...] = _TEXT["remarks"]
# Extra sentences a report adds about the firm's conduct.
_REPORT_NOTES: tuple[str, ...] = _TEXT["report_notes"]
_CALLERS: tuple[str, ...] = _TEXT["callers"]
_PROF_FINDINGS: tuple[str, ...] = _TEXT["professional_findings"]
_PROF_PRODUCTS: tuple[str, ...] = _TEXT["professional_products"]
_PROF_TEMPLATES: tuple[str, ...] = _TEXT["professional_templates"]
_RING_TEMPLATES: tuple[str, ...] = _TEXT["ring_templates"]

# General consultations: (question, title, issue_category or None, situations, answers).
# Operators record the caller's situation and the answer given, so these run long.
_TOPICS: tuple[tuple[str, str, str | None, tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (t["question"], t["title"], t["issue"], t["situations"], t["answers"]) for t in _CONSULT["topics"]
)
_ANSWERS: tuple[str, ...] = _CONSULT["answers"]
_CONSULT_TAILS: tuple[str, ...] = _CONSULT["consult_tails"]
_GENERAL_NOTES: tuple[str, ...] = _CONSULT["general_notes"]
_GENERAL_TAILS: tuple[str, ...] = _CONSULT["general_tails"]
