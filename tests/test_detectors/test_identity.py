"""Tickets with no identity: a name stands in for a missing id and phone, and a ticket with
none counts as no one (issue 16, item 3)."""

from __future__ import annotations

from dataclasses import replace

import orjson

from detectors.aggregate import Enriched
from detectors.decisions import GROUP_DISPUTE, OPEN
from detectors.enrich import Enricher
from detectors.offline import OfflineEngine
from detectors.windows import bucket_of
from schemas.tickets import decode
from tests.test_detectors.test_partition import CFG, DAY, T0, background, burst, route, run

NOBODY = "t:"  # detectors.aggregate.NOBODY: what enrich makes of a ticket with no identity


def test_one_sender_with_no_identity_is_not_a_crowd() -> None:
    """Twelve letters in twenty minutes, no id, phone or name: one sender, most likely."""
    letters = burst("POST", T0 + 9 * DAY + 10 * 3600, 1 / 3, 12)
    letters = [replace(e, person=f"{NOBODY}{e.ticket_id}") for e in letters]
    out = run(background(1, 14) + letters)
    assert not [d for d in out if d.status == OPEN and d.type == GROUP_DISPUTE and d.key == "SHOP"]
    # The same letters from twelve known people are a group dispute.
    people = run(background(1, 14) + burst("POST", T0 + 9 * DAY + 10 * 3600, 1 / 3, 12))
    assert [d for d in people if d.status == OPEN and d.type == GROUP_DISPUTE and d.key == "SHOP"]


def test_a_name_stands_in_for_a_missing_id_and_phone() -> None:
    def ticket(i: int, **who: str) -> bytes:
        return orjson.dumps({"ticket_id": f"T{i}", "kind": "complaint", "received_at": "2025-03-12T10:00:00+08:00",
                             "firm_name": "某健身房", "district_code": "310115", "content": "闭店了，要求退费。", **who})
    tickets = [r for i, who in enumerate([{"complainant_name": "张三"}, {"complainant_name": " 张三"},
                                          {"complainant_name": "李四"}, {}, {"complainant_name": "无"}])
               for r in decode(ticket(i, **who))]
    people = [e.person for e in Enricher(b"k").enrich(tickets)]
    assert people[0] == people[1] != people[2]
    assert people[0].startswith("p_") and people[2].startswith("p_")
    assert people[3] == f"{NOBODY}T3" and people[4] == f"{NOBODY}T4"  # a placeholder is no name


def test_a_resent_ticket_with_no_identity_is_taken_out_as_a_ticket_and_counts_as_no_one() -> None:
    """A delta keeps a place in its people for a ticket with no identity, so a resent copy
    (taken out by its index, ``detectors.wire.without_tickets``) takes out its own place
    and no one else's."""
    at = T0 + 9 * DAY + 10 * 3600

    def letter(tid: str, person: str) -> Enriched:
        return Enriched(ticket_id=tid, ts=at, district="310115", person=person, firm_key="SHOP",
                        firm_label="店", category="c", issue="预付卡", amount=1.0, terms=("退费",))

    eng = OfflineEngine(CFG, route)
    eng.feed([letter("A0", f"{NOBODY}A0"), letter("A1", "p_one")])
    eng.feed([letter("A0", f"{NOBODY}A0"), letter("A2", "p_two"), letter("A3", f"{NOBODY}A3")])
    s = eng.engines[route("SHOP")].states["firm:SHOP"]
    bk = s.get(bucket_of(at))
    assert bk is not None and bk.n == 4 and sorted(bk.ids) == ["A0", "A1", "A2", "A3"]
    assert bk.people == {"p_one", "p_two"}
