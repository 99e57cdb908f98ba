"""Ingest-side aggregation: enriched tickets -> one delta message per partition per batch.

A batch's tickets are pre-aggregated into per-key, per-bucket deltas (``detectors.wire.Delta``)
before they are routed, so the windows handle one message per partition per batch, never
one per ticket; each message also carries the event time each source has reached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from detectors.config import DetectConfig
from detectors.decisions import COUNTED, DISTRICT, FIRM, ISSUE, PLATFORM_TERM, PRODUCT, TERM
from detectors.text import domain_words
from detectors.windows import NO_ONE, bucket_of
from detectors.wire import Delta, add_facts, add_home, add_key, delta_message, facts, table_key
from schemas.regions import district_name

NOBODY = "t:"  # the person prefix of a ticket with no identity: "t:<ticket_id>" (detectors.enrich)


@dataclass(frozen=True, slots=True)
class Enriched:
    """A valid ticket after ingest: keys derived, terms segmented, personal data reduced to a pseudonym."""

    ticket_id: str
    ts: float
    district: str
    person: str  # pseudonym, or NOBODY + ticket id when the complainant is unknown (counted as no one)
    firm_key: str | None = None
    firm_label: str | None = None
    product_key: str | None = None
    product_label: str | None = None
    category: str | None = None
    issue: str | None = None
    amount: float = 0.0
    terms: tuple[str, ...] = ()
    platform: str | None = None  # the platform the firm sells on (or is), normalised


class Aggregator:
    """Pre-aggregates enriched tickets into per-partition delta messages.

    A ticket counts under its firm, product, issue, every term and its district; a ticket on a platform
    also counts each named practice (a *named_terms* word: 七天无理由, 先用后付) under
    the platform: a rule change at one platform is a surge there, however common the
    practice's name is elsewhere.

    >>> agg = Aggregator(DetectConfig(partitions=2), route=lambda k: len(k) % 2)
    >>> agg.add(Enriched("T1", 1.7e9, "310115", "p_a", firm_key="F1", terms=("闭店",)))
    >>> msgs = agg.drain({"0": [1.7e9, False]})
    >>> sorted(msgs), sum(len(m["k"]) for m in msgs.values())   # its firm, its term, its district
    ([0, 1], 3)
    """

    def __init__(self, config: DetectConfig, route: Callable[[str], int],
                 named_terms: frozenset[str] | None = None) -> None:
        self.config = config
        self.named_terms = domain_words() if named_terms is None else named_terms
        # The partitioner is murmur2 in pure Python (~10 us a key); hot keys recur every batch.
        self.route = lru_cache(maxsize=1 << 16)(route)
        # Per dimension: key -> {bucket: its delta}. No table key is built per ticket:
        # ``drain`` builds one per key per batch.
        self._keys: dict[str, dict[str, dict[int, Delta]]] = {dim: {} for dim in COUNTED}
        # This batch's tickets: id -> (its facts (``detectors.wire.facts``), the table key of its first key).
        self._tickets: dict[str, tuple[list[Any], str]] = {}
        self.duplicates = 0  # tickets dropped because the batch already had their id
        self.nobody = 0  # tickets with no identity (no id, phone or name): counted as no one

    def add(self, e: Enriched) -> None:
        """Count one ticket under its keys; a ticket id already in this batch counts once
        (the engine recognises ids seen in earlier batches, ``PartitionEngine.apply``)."""
        tid = e.ticket_id
        if tid in self._tickets:
            self.duplicates += 1
            return
        b = bucket_of(e.ts)
        terms = e.terms
        person, amount, district, issue = e.person, e.amount, e.district, e.issue
        # A ticket with no identity is a ticket, not a person: with every one counted as
        # someone new, one sender by post became a crowd. Its id keeps it in the evidence;
        # its place in the people list stays (aligned with ids, see wire.without_tickets).
        if person.startswith(NOBODY):
            person = NO_ONE
            self.nobody += 1
        firm = e.firm_key
        keys = self._keys
        self._tickets[tid] = (facts(amount, district, issue, firm, terms), _anchor(e, terms))
        if firm:
            d = _delta(keys[FIRM], firm, e.firm_label or firm, e.category, b)
            d.n += 1
            d.people.append(person)
            d.ids.append(tid)
            d.amount += amount
            d.districts[district] = d.districts.get(district, 0) + 1
            if issue:
                d.issues[issue] = d.issues.get(issue, 0) + 1
            dt = d.terms
            for t in terms:
                dt[t] = dt.get(t, 0) + 1
        else:
            firm = "-"
        spread = []  # the product, issue and platform-practice keys count the ticket's terms too
        if e.product_key:
            spread.append(_delta(keys[PRODUCT], e.product_key, e.product_label or e.product_key, e.category, b))
        if issue:
            spread.append(_delta(keys[ISSUE], issue, issue, None, b))
        if e.platform:
            for t in _practices(terms, self.named_terms):
                spread.append(_delta(keys[PLATFORM_TERM], f"{e.platform}|{t}", f"{e.platform}·{t}", e.category, b))
        spread.append(_delta(keys[DISTRICT], district, district_name(district), None, b))
        for d in spread:
            d.n += 1
            d.people.append(person)
            d.ids.append(tid)
            d.amount += amount
            d.firms[firm] = d.firms.get(firm, 0) + 1
            d.districts[district] = d.districts.get(district, 0) + 1
            dt = d.terms
            for t in terms:
                dt[t] = dt.get(t, 0) + 1
        term_keys = keys[TERM]
        for t in terms:  # ~8 a ticket: _delta inlined
            entry = term_keys.get(t)
            if entry is None:
                entry = term_keys[t] = {}
            d = entry.get(b)
            if d is None:
                d = entry[b] = Delta(b, 0, [], [], {}, {}, {}, {}, 0.0, t, "")
            d.n += 1
            d.people.append(person)
            d.ids.append(tid)
            d.amount += amount
            d.firms[firm] = d.firms.get(firm, 0) + 1
            d.districts[district] = d.districts.get(district, 0) + 1
            if issue:
                d.issues[issue] = d.issues.get(issue, 0) + 1

    def drain(self, watermarks: dict[str, list[Any]]) -> dict[int, dict[str, Any]]:
        """One message per partition: its keys' deltas and the sources' event-time progress.

        Every partition gets a message, even with no deltas, so every partition's
        watermark advances. *watermarks* maps source id -> [its event-time front or None, idle,
        its newest event times] (see detectors.front).
        """
        out = {p: delta_message(watermarks) for p in range(self.config.partitions)}
        route = self.route
        tickets = self._tickets
        for dim, keys in self._keys.items():
            for key, deltas in keys.items():
                msg = out[route(table_key(dim, key))]
                add_key(msg, dim, key, [d.to_list() for d in deltas.values()])
                for d in deltas.values():
                    if d.n > 1:  # a key-delta of one ticket is dropped whole if that is a duplicate
                        add_facts(msg, d.ids, tickets, terms=dim != TERM)
            keys.clear()
        for tid, (_, anchor) in tickets.items():
            if anchor:
                add_home(out[route(anchor)], tid)
        tickets.clear()
        return out


def _anchor(e: Enriched, terms: tuple[str, ...]) -> str:
    """The table key of the first key a ticket counts under: its partition counts it once
    when it comes again (``PartitionEngine.apply``). "" for a ticket counted under none."""
    if e.firm_key:
        return table_key(FIRM, e.firm_key)
    if e.product_key:
        return table_key(PRODUCT, e.product_key)
    if e.issue:
        return table_key(ISSUE, e.issue)
    return table_key(TERM, terms[0]) if terms else ""


def _practices(terms: tuple[str, ...], named: frozenset[str]) -> list[str]:
    """The named practices among *terms*, each by its shortest name (七天无理由, not also 七天无理由退货).

    >>> _practices(("七天无理由退货", "七天无理由", "退货", "先用后付"), frozenset({"七天无理由", "七天无理由退货", "先用后付"}))
    ['七天无理由', '先用后付']
    """
    found = [t for t in terms if t in named]
    if len(found) < 2:
        return found
    return [t for t in found if not any(o != t and o in t for o in found)]


def _delta(keys: dict[str, dict[int, Delta]], key: str, label: str, category: str | None, bucket: int) -> Delta:
    """*key*'s delta for *bucket* in this batch.

    Its label and category are the least of those its tickets give (see ``windows.Bucket``).
    """
    entry = keys.get(key)
    if entry is None:
        entry = keys[key] = {}
    d = entry.get(bucket)
    if d is None:
        d = entry[bucket] = Delta(bucket, 0, [], [], {}, {}, {}, {}, 0.0, label, category or "")
    else:
        if label < d.label:
            d.label = label
        if category and (not d.category or category < d.category):
            d.category = category
    return d


__all__ = ["Aggregator", "Enriched"]
