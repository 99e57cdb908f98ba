"""Tickets with no identity: a name stands in for a missing id and phone, and a ticket with
none counts as no one (issue 16, item 3)."""

from __future__ import annotations

from dataclasses import replace

import orjson

from detectors.decisions import GROUP_DISPUTE, OPEN
from detectors.enrich import Enricher
from schemas.tickets import decode
from tests.test_detectors.test_partition import DAY, T0, background, burst, run

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
