"""Evidence: what a key's buckets over an episode show, for the alert to explain itself.

The tickets behind it (the earliest, at most ``MAX_EVIDENCE``), its top terms, its district
when one dominates, its firms, people, money and main issue.
"""

from __future__ import annotations

from typing import NamedTuple

from detectors.decisions import MAX_EVIDENCE
from detectors.windows import KeyState

TOP_TERMS = 8
ONE_DISTRICT = 0.8  # the share of tickets from one district that makes an episode that district's


class Evidence(NamedTuple):
    ids: tuple[str, ...]
    terms: tuple[str, ...]
    district: str | None
    firms: int
    people: int
    amount: float
    issue: str | None


def gather(s: KeyState, lo: int, hi: int, issue: str | None) -> Evidence:
    """The evidence in *s*'s buckets (lo - 1, hi], of *issue* only when one is given."""
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
            ids.extend(sorted(bk.ids)[: MAX_EVIDENCE - len(ids)])
        for src, dst in ((bk.terms, terms), (bk.districts, districts), (bk.issues, issues)):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
        firms.update(f for f in bk.firms if f != "-")
        people |= bk.people
        amount += bk.amount
    top_terms = tuple(k for k, _ in sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TERMS])
    total = sum(districts.values())
    district = None
    if total:
        d, c = max(districts.items(), key=lambda kv: (kv[1], kv[0]))
        district = d if c / total >= ONE_DISTRICT else None
    top_issue = max(issues.items(), key=lambda kv: (kv[1], kv[0]))[0] if issues else None
    return Evidence(tuple(ids), top_terms, district, len(firms), len(people), amount, top_issue)


__all__ = ["Evidence", "gather"]
