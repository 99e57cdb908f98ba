"""The incident families: their names, what an alert about each must be, and their variants.

:data:`FAMILIES` and :data:`DECOY_FAMILIES` name them, ``_EXPECTED`` says which alert type
and dimension each one's label expects, and the variant tables (``_SURGES``, ``_PRODUCTS``,
``_PRACTICES``, ``_POLICIES``, the prepaid and safety narratives) come from
``data/incidents.json``. The planners that use them are in :mod:`earlywarn.simulate.planners`.
"""

from __future__ import annotations

from dataclasses import dataclass

from earlywarn.simulate.datafiles import load

_TABLES = load("incidents")

FAMILIES: tuple[str, ...] = (
    "prepaid_closure",
    "platform_issue_surge",
    "product_defect",
    "holiday_practice",
    "safety_event",
    "platform_policy",
)
DECOY_FAMILIES: tuple[str, ...] = ("decoy_repeat_person", "decoy_small_firm", "decoy_festival")
_EXPECTED: dict[str, tuple[str | None, str]] = {
    "prepaid_closure": ("group_dispute", "firm"),
    "platform_issue_surge": ("group_dispute", "firm_issue"),
    "safety_event": ("group_dispute", "firm"),
    "product_defect": ("concentrated_demand", "product"),
    "holiday_practice": ("concentrated_demand", "term"),
    "platform_policy": ("concentrated_demand", "term"),
    "decoy_repeat_person": (None, "firm"),
    "decoy_small_firm": (None, "firm"),
    "decoy_festival": (None, "firm"),
}
DEFAULT_INCIDENTS: tuple[tuple[str, int], ...] = tuple((f, 2) for f in FAMILIES)
DEFAULT_DECOYS: tuple[tuple[str, int], ...] = (
    ("decoy_repeat_person", 4),
    ("decoy_small_firm", 4),
    ("decoy_festival", 1),
)

_PREPAID_PROBLEMS: tuple[str, ...] = _TABLES["prepaid"]["problems"]
_PREPAID_DETAILS: tuple[str, ...] = _TABLES["prepaid"]["details"]
_PREPAID_DEMANDS: tuple[str, ...] = _TABLES["prepaid"]["demands"]


@dataclass(frozen=True, slots=True)
class _SurgeVariant:
    issue: str
    term: str
    sectors: tuple[str, ...]
    problems: tuple[str, ...]
    demands: tuple[str, ...]


_SURGES = tuple(_SurgeVariant(**v) for v in _TABLES["surges"])


@dataclass(frozen=True, slots=True)
class _ProductVariant:
    template: str  # product name; {brand} {model}
    terms: tuple[str, ...]
    sectors: tuple[str, ...]
    category: str
    amount: tuple[float, float]
    problems: tuple[str, ...]
    demands: tuple[str, ...]


_PRODUCTS = tuple(_ProductVariant(**v) for v in _TABLES["products"])


@dataclass(frozen=True, slots=True)
class _Practice:
    name: str
    terms: tuple[str, ...]
    occasions: tuple[str, ...]  # calendar names; "*" also takes any weekend
    sectors: tuple[str, ...]
    issue: str
    problems: tuple[str, ...]
    demands: tuple[str, ...]


_PRACTICES = tuple(_Practice(**v) for v in _TABLES["practices"])


@dataclass(frozen=True, slots=True)
class _Policy:
    terms: tuple[str, ...]
    own_share: float  # share of tickets about the platform itself, the rest about its shops
    issue: str
    problems: tuple[str, ...]
    demands: tuple[str, ...]


_POLICIES = tuple(_Policy(**v) for v in _TABLES["policies"])

_SAFETY_FOOD_PROBLEMS: tuple[str, ...] = _TABLES["safety"]["food_problems"]
_SAFETY_RIDE_PROBLEMS: tuple[str, ...] = _TABLES["safety"]["ride_problems"]
_SAFETY_DEMANDS: tuple[str, ...] = _TABLES["safety"]["demands"]

# Signature terms the incidents use, by family: the engine's segmenter must keep each
# one whole (a user-dictionary entry), or its term alerts cannot name them.
INCIDENT_TERMS: dict[str, tuple[str, ...]] = {
    "prepaid_closure": ("闭店", "跑路", "退费", "预付卡"),
    "platform_issue_surge": tuple(v.term for v in _SURGES),
    "product_defect": tuple(t for v in _PRODUCTS for t in v.terms),
    "holiday_practice": tuple(t for p in _PRACTICES for t in p.terms),
    "safety_event": ("食物中毒", "受伤"),
    "platform_policy": tuple(t for p in _POLICIES for t in p.terms),
}
