"""Evidence: what a key's buckets over an episode show, for the alert to explain itself.

The tickets behind it (the earliest, at most ``MAX_EVIDENCE``), its top terms, its district
when one dominates, its firms, people, money and main issue.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import NamedTuple

from detectors.decisions import MAX_EVIDENCE
from detectors.windows import Episode, KeyState

TOP_TERMS = 8
ONE_DISTRICT = 0.8  # the share of tickets from one district that makes an episode that district's


@dataclass(slots=True)
class Exclusion:
    """Who due process leaves out of group disputes now: complainants flagged abnormal
    (``detectors.complainant_stage``), and their tickets. Their tickets still count in totals."""

    people: frozenset[str] = field(default_factory=frozenset)
    tickets: frozenset[str] = field(default_factory=frozenset)


class Exclusions:
    """The exclusions in force over event time: each from its time (a midnight's judgement) to the next.

    >>> ex = Exclusions(); ex.add(100.0, Exclusion(frozenset({"p_a"})))
    >>> ex.at(99.0), sorted(ex.at(100.0).people), bool(ex)
    (None, ['p_a'], True)
    """

    def __init__(self) -> None:
        self._since: list[float] = []
        self._sets: list[Exclusion] = []

    def __bool__(self) -> bool:
        return bool(self._since)

    def add(self, since: float, exclusion: Exclusion) -> None:
        """In force from *since* (later than any added before) until the next one."""
        if self._since and since <= self._since[-1]:
            raise ValueError(f"exclusions must be added in time order: {since} after {self._since[-1]}")
        self._since.append(since)
        self._sets.append(exclusion)

    def at(self, ts: float) -> Exclusion | None:
        i = bisect_right(self._since, ts) - 1
        return self._sets[i] if i >= 0 else None

    def forget_before(self, ts: float) -> None:
        """Drop what no time from *ts* on can read."""
        i = bisect_right(self._since, ts) - 1
        if i > 0:
            del self._since[:i], self._sets[:i]


class Evidence(NamedTuple):
    ids: tuple[str, ...]
    terms: tuple[str, ...]
    district: str | None
    firms: int
    people: int
    amount: float
    issue: str | None


def gather(s: KeyState, lo: int, hi: int, issue: str | None, exclude: Exclusion | None = None) -> Evidence:
    """The evidence in *s*'s buckets (lo - 1, hi], of *issue* only when one is given, without
    the people and tickets *exclude* names (a group dispute's)."""
    out_people = exclude.people if exclude is not None else frozenset()
    out_tickets = exclude.tickets if exclude is not None else frozenset()
    ids: list[str] = []
    terms: dict[str, int] = {}
    districts: dict[str, int] = {}
    issues: dict[str, int] = {}
    firms: set[str] = set()
    people: set[str] = set()
    amount = 0.0
    for bk in s.between(lo - 1, hi):
        if issue is not None and not bk.issues.get(issue):
            continue
        if len(ids) < MAX_EVIDENCE:  # sorted: arrival order within a bucket is not the data's
            mine = sorted(bk.ids) if not out_tickets else sorted(i for i in bk.ids if i not in out_tickets)
            ids.extend(mine[: MAX_EVIDENCE - len(ids)])
        for src, dst in ((bk.terms, terms), (bk.districts, districts), (bk.issues, issues)):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
        firms.update(f for f in bk.firms if f != "-")
        people |= bk.people
        amount += bk.amount
    if out_people:
        people -= out_people
    top_terms = tuple(k for k, _ in sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TERMS])
    total = sum(districts.values())
    district = None
    if total:
        d, c = max(districts.items(), key=lambda kv: (kv[1], kv[0]))
        district = d if c / total >= ONE_DISTRICT else None
    top_issue = max(issues.items(), key=lambda kv: (kv[1], kv[0]))[0] if issues else None
    return Evidence(tuple(ids), top_terms, district, len(firms), len(people), amount, top_issue)


def fold(s: KeyState, ep: Episode, t: int, issue: str | None, exclude: Exclusion | None = None,
         *, again: bool = False) -> None:
    """Fold *s*'s buckets (ep.folded_to, t] into the episode *ep*: its people and its first
    evidence ids (of *issue* only when one is given), without the people and tickets
    *exclude* names at this tick (a group dispute's).

    Called at every finding, so every bucket of the episode is folded in before it is
    pruned: a finding comes at most ``quiet_buckets`` after the last, and a key keeps its
    buckets of the longest window (as long) before each tick. *again* folds every bucket
    still kept once more (at the end: late tickets may have joined buckets folded before).
    """
    out_people = exclude.people if exclude is not None else frozenset()
    out_tickets = exclude.tickets if exclude is not None else frozenset()
    lo = ep.start_bucket - 1 if again else max(ep.folded_to, ep.start_bucket - 1)
    ids = ep.ids
    known = set(ids) if again else frozenset()
    for bk in s.between(lo, t):
        if issue is not None and not bk.issues.get(issue):
            continue
        if len(ids) < MAX_EVIDENCE:  # sorted, as gather's
            new = sorted(i for i in bk.ids if i not in known and i not in out_tickets)
            ids.extend(new[: MAX_EVIDENCE - len(ids)])
        ep.people |= bk.people - out_people if out_people else bk.people
    ep.folded_to = max(ep.folded_to, t)


__all__ = ["Evidence", "Exclusion", "Exclusions", "fold", "gather"]
