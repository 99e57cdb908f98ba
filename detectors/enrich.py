"""Ingest enrichment: a valid ticket becomes what detection counts, once, at the edge.

Keys are derived (firm from its credit code or normalised name, product, issue), the
narrative is segmented once and its terms travel downstream, and the complainant's
identity is replaced by a keyed pseudonym: phone numbers, names and raw ids stop here.
"""

from __future__ import annotations

from detectors.engine import Enriched
from detectors.text import Segmenter
from schemas.normalise import firm_key, pseudonym, text_key
from schemas.tickets import Ticket


class Enricher:
    """Turns ``Ticket``s into ``Enriched`` observations; one per process (the segmenter is costly to build)."""

    def __init__(self, secret: bytes, segmenter: Segmenter | None = None) -> None:
        self.secret = secret
        self.segmenter = segmenter or Segmenter()

    def enrich(self, t: Ticket) -> Enriched:
        person = pseudonym(self.secret, t.complainant_id, t.complainant_phone) or f"t:{t.ticket_id}"
        fk = firm_key(t.firm_id, t.firm_name)
        text = t.content if not t.title else f"{t.title}。{t.content}"
        return Enriched(
            ticket_id=t.ticket_id,
            ts=t.ts,
            district=t.district_code,
            person=person,
            firm_key=fk,
            firm_label=(t.firm_name or fk) if fk else None,
            product_key=text_key(t.product_name),
            product_label=t.product_name,
            category=t.product_category,
            issue=text_key(t.issue_category),
            amount=float(t.amount or 0.0),
            terms=self.segmenter.terms(text),
            platform=text_key(t.platform),
        )
