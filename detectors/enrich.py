"""Ingest enrichment: a valid ticket becomes what detection counts, once, at the edge.

Keys are derived (firm from its credit code or normalised name, product, issue), the
narrative is segmented once and its terms travel downstream, and the complainant's
identity is replaced by a keyed pseudonym: phone numbers, names and raw ids stop here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.aggregate import NOBODY, Aggregator, Enriched
from detectors.front import Front
from detectors.text import Segmenter
from schemas.normalise import firm_key, is_placeholder, name_pseudonym, pseudonym, text_key
from schemas.tickets import Rejection, Ticket, decode


class Enricher:
    """Turns ``Ticket``s into ``Enriched`` observations; one per process (the segmenter is costly to build)."""

    def __init__(self, secret: bytes, segmenter: Segmenter | None = None) -> None:
        self.secret = secret
        self.segmenter = segmenter or Segmenter()

    def enrich(self, tickets: Sequence[Ticket]) -> list[Enriched]:
        """The tickets' observations, in order.

        A batch goes through in phases (segment every narrative, then pick every ticket's
        terms, then build the observations): the segmenter's tables and the term weights
        stay in cache for a whole phase, which made ingest a fifth cheaper than taking the
        tickets one by one through all three.
        """
        cut = self.segmenter.cut
        tokens = [cut(t.content if not t.title else f"{t.title}。{t.content}") for t in tickets]
        pick = self.segmenter.terms_from_tokens
        secret = self.secret
        return [
            Enriched(
                ticket_id=t.ticket_id,
                ts=t.ts,
                district=t.district_code,
                person=(pseudonym(secret, t.complainant_id, t.complainant_phone)
                        or name_pseudonym(secret, t.complainant_name) or f"{NOBODY}{t.ticket_id}"),
                firm_key=(fk := firm_key(t.firm_id, t.firm_name)),
                # Labels as staff read them: the name as given, without stray outer spaces.
                firm_label=_firm_label(t.firm_name, fk),
                product_key=text_key(t.product_name),
                product_label=t.product_name.strip() if t.product_name else t.product_name,
                category=t.product_category,
                issue=text_key(t.issue_category),
                amount=float(t.amount or 0.0),
                terms=_without(pick(toks), t.complainant_name),
                platform=text_key(t.platform),
            )
            for t, toks in zip(tickets, tokens)
        ]


def _firm_label(name: str | None, key: str | None) -> str | None:
    """The firm as staff should read it: the name as given, without stray outer spaces; a
    firm known only by its credit code, its name a placeholder (未知, 不详), says so."""
    if not key:
        return None
    name = (name or "").strip()
    if not name:
        return key
    return f"名称不详（{key}）" if is_placeholder(name) else name


def _without(terms: tuple[str, ...], name: str | None) -> tuple[str, ...]:
    """The terms without any that holds the complainant's own name (detectors.names screens
    the names it can recognise; this one is known exactly)."""
    name = name.strip() if name else ""
    if len(name) < 2 or not any(name in term for term in terms):
        return terms
    return tuple(term for term in terms if name not in term)


@dataclass(slots=True)
class Taken:
    """What one batch of input messages came to: the engine's input and what was rejected."""

    tickets: int
    rejected: list[tuple[int, Rejection]]  # (index of the message in the batch, why)
    deltas: dict[int, dict[str, Any]]  # partition -> delta message (``Aggregator.drain``), no watermarks yet
    newest: dict[str, list[float]]  # source -> the newest event times of its tickets in the batch (``Front.newest``)
    tally: dict[tuple[str, str], int]  # (kind, district_code) -> tickets, for the metrics
    claims: list[Any] = field(default_factory=list)  # detectors.complainants.Claim, when asked for
    board_tickets: list[Any] = field(default_factory=list)  # detectors.boards.BoardTicket, when asked for
    firm_tickets: list[Any] = field(default_factory=list)  # detectors.firms.FirmTicket, when asked for
    duplicates: int = 0  # tickets whose id the batch already had (counted once)
    nobody: int = 0  # tickets with no identity (no id, phone or name): counted as no one
    times: list[float] = field(default_factory=list)  # the valid tickets' event times, in input order (*order*)


def take(payloads: Sequence[bytes], enricher: Enricher, aggregator: Aggregator, max_bytes: int,
         sources: Sequence[str] | None = None, *, not_after: float | None = None, claims: bool = False,
         boards: bool = False, firms: bool = False, order: bool = False) -> Taken:
    """Decode, validate, enrich and pre-aggregate one batch of messages: ingest's whole work.

    *sources* names each message's source (the stream's ticket partition); offline input
    is one source, "0". Both shells call this (``detect`` in its worker processes too: what
    it returns pickles). The deltas' watermarks are the caller's to set. A ticket dated
    after *not_after* (the caller's clock plus the allowed skew) is rejected as
    ``future_timestamp``. With *order*, ``times`` holds the valid tickets' event times in
    input order (``detect`` tells how many came out of order; the stream does not need them).
    """
    rejected: list[tuple[int, Rejection]] = []
    fronts: dict[str, Front] = {}
    tally: dict[tuple[str, str], int] = {}
    valid: list[Ticket] = []
    for i, payload in enumerate(payloads):
        src = "0" if sources is None else sources[i]
        front = fronts.get(src) or fronts.setdefault(src, Front())
        for r in decode(payload, max_bytes=max_bytes, not_after=not_after):
            if isinstance(r, Rejection):
                rejected.append((i, r))
                continue
            valid.append(r)
            kd = (r.kind.value, r.district_code)
            tally[kd] = tally.get(kd, 0) + 1
            front.add(r.ts)
    add = aggregator.add
    duplicates, nobody = aggregator.duplicates, aggregator.nobody
    enriched = enricher.enrich(valid)
    for e in enriched:
        add(e)
    newest = {src: f.newest for src, f in fronts.items() if f.newest}
    taken = Taken(len(valid), rejected, aggregator.drain({}), newest, tally,
                  duplicates=aggregator.duplicates - duplicates, nobody=aggregator.nobody - nobody,
                  times=[r.ts for r in valid] if order else [])
    if claims:  # what the abnormal-complainant judge reads: claims by known people, pseudonymised
        from detectors.complainants import CLAIM_KINDS, Claim

        taken.claims = [Claim.from_ticket(t, e.person) for t, e in zip(valid, enriched)
                        if t.kind.value in CLAIM_KINDS and not e.person.startswith(NOBODY)]
    if firms:  # what the abnormal-firm judge reads: every ticket naming a firm, as detect reads it
        from detectors.firms import FirmTicket

        secret = enricher.secret
        taken.firm_tickets = [ft for t in valid if (ft := FirmTicket.from_ticket(
            t, pseudonym(secret, t.complainant_id, t.complainant_phone))) is not None]
    if boards:  # what the top-10 boards count (detectors.boards): the keys and terms ingest derived
        from detectors.boards import BoardTicket

        taken.board_tickets = [
            BoardTicket(e.ticket_id, e.ts, t.kind.value, e.district, e.firm_key, e.firm_label, e.product_key,
                        e.product_label, e.issue, e.terms) for t, e in zip(valid, enriched)]
    return taken
