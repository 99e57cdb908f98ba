"""The abnormal-complainant stage (daily judgements in event time, one alert per ring) and due
process in the engine (flagged people out of group-dispute people counts and evidence)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from alerts.render import render
from detectors.aggregate import Enriched
from detectors.complainant_stage import ComplainantStage, next_midnight
from detectors.complainants import Claim
from detectors.decisions import ABNORMAL_COMPLAINANT, GROUP_DISPUTE, OPEN, RESOLVED, UPDATE
from detectors.evidence import Exclusion
from detectors.offline import OfflineEngine
from schemas.alerts import alert_from_dict, check
from tests.test_detectors.test_partition import CFG, DAY, T0, added, burst, quiet, quiet_alerts, route  # noqa: F401

RING_TEXT = ("我于{day}在{shop}购买的{product}，标签未标注生产许可证编号，涉嫌违反《食品安全法》第六十七条，"
             "现要求经营者退一赔十，并请市场监管部门依法查处，给予举报奖励。")


def ring_claims(members: int = 4, per_member: int = 3, start: float = T0, prefix: str = "R") -> list[Claim]:
    out = []
    n = 0
    for m in range(members):
        for k in range(per_member):
            shop, product = f"{prefix}店{n}", f"蜂蜜{n}"
            out.append(Claim(f"{prefix}{n:03d}", start + n * 3000.0, f"p_{m:016x}", "report",
                             RING_TEXT.format(day=f"{k + 1}日", shop=shop, product=product),
                             firm_key=f"{prefix}F{n}", product_key=product, issue="食品安全", masks=(shop, product)))
            n += 1
    return out


def ordinary_claims(people: int = 300, seed: int = 1) -> list[Claim]:
    rng = random.Random(seed)
    words = "质量 退款 客服 发货 价格 服务 态度 维修 快递 过期 少发 错发 退货 押金 会员".split()
    return [Claim(f"O{i:04d}", T0 + rng.random() * 2 * DAY, f"p_{0xA000 + i:016x}", "complaint",
                  "".join(rng.sample(words, 6)) + f"，订单{i}，要求处理。", firm_key=f"OF{rng.randrange(200)}")
            for i in range(people)]


def decisions_of(claims: list[Claim], chunks: int, until: float) -> list:
    st = ComplainantStage()
    out = []
    size = -(-len(claims) // chunks)
    ordered = sorted(claims, key=lambda c: c.ts)
    for i in range(0, len(ordered), size):
        st.add(ordered[i:i + size])
        out.extend(st.advance(ordered[min(i + size, len(ordered)) - 1].ts - 1))
    out.extend(st.advance(until))
    return out


def test_a_ring_is_one_alert_naming_its_members_by_pseudonym_only() -> None:
    claims = ring_claims() + ordinary_claims()
    out = decisions_of(claims, 1, T0 + 3 * DAY)
    rings = [d for d in out if d.type == ABNORMAL_COMPLAINANT and d.status == OPEN]
    assert len(rings) == 1
    d = rings[0]
    assert set(d.members) == {f"p_{m:016x}" for m in range(4)} and d.distinct_complainants == 4
    assert d.raised_at == next_midnight(d.raised_at - 1)  # at a local midnight
    alert = render(d)
    assert check(alert_from_dict(alert)) == [] and alert["subject"] == {
        "dimension": "complainant", "key": d.key, "label": d.key}
    assert all(p in alert["summary"] for p in d.members)
    assert "模板化投诉举报" in alert["top_terms"]
    assert not {c.ticket_id for c in claims if c.ticket_id.startswith("O")} & set(d.ticket_ids)


def test_judgements_do_not_depend_on_batching_or_order() -> None:
    claims = ring_claims() + ordinary_claims()
    want = decisions_of(claims, 1, T0 + 3 * DAY)
    assert decisions_of(claims, 7, T0 + 3 * DAY) == want
    shuffled = ComplainantStage()
    random.Random(3).shuffle(claims)
    shuffled.add(claims)
    assert shuffled.advance(T0 + 3 * DAY) == want


def test_a_cleared_person_is_judged_afresh_and_a_lapsed_flag_resolves() -> None:
    st = ComplainantStage()
    st.add(ring_claims(members=1, per_member=6) + ordinary_claims())
    (opened,) = [d for d in st.advance(T0 + 2 * DAY) if d.status == OPEN]
    person = opened.members[0]
    assert person in st.excluded(T0 + 2 * DAY)[0]
    # A clearing is an event in event time: it takes effect at the first midnight after it.
    assert not st.clear(person, at=T0 + 2 * DAY, who="王科长", why="核实为正常消费者")
    assert person in st.excluded(T0 + 2 * DAY)[0] and st.clearings()[person]["who"] == "王科长"
    later = st.advance(T0 + 4 * DAY)  # nothing after the clearing: not flagged again, the episode ends
    assert [(d.status, d.key) for d in later if d.type == ABNORMAL_COMPLAINANT] == [(RESOLVED, opened.key)]
    assert person not in st.excluded(T0 + 4 * DAY)[0]
    # Told after its midnight was judged, it takes effect at once; told twice, it is one clearing.
    assert st.clear(person, at=T0 + 3 * DAY, who="李科长", why="复核")
    assert not st.clear(person, at=T0 + 3 * DAY, who="李科长", why="复核")


def test_detect_and_a_stage_told_the_clearing_late_judge_alike_when_it_comes_before_its_midnight() -> None:
    claims = ring_claims(members=1, per_member=6) + ordinary_claims()
    person = ring_claims(members=1, per_member=6)[0].person
    early, told = ComplainantStage(), ComplainantStage()
    early.clear(person, T0 + 1.5 * DAY, "王科长", "核实")  # as detect: before anything
    early.add(claims)
    told.add(claims)
    first = told.advance(T0 + DAY)  # a midnight passes before the clearing is told: the flag is raised
    assert [d.status for d in first if d.type == ABNORMAL_COMPLAINANT] == [OPEN]
    told.clear(person, T0 + 1.5 * DAY, "王科长", "核实")
    assert early.advance(T0 + 4 * DAY) == first + told.advance(T0 + 4 * DAY)
    assert early.clearings() == told.clearings() and early.flags(T0 + 4 * DAY) == told.flags(T0 + 4 * DAY)


def test_a_growing_ring_is_updated_under_its_first_key() -> None:
    st = ComplainantStage()
    st.add(ring_claims(members=3) + ordinary_claims())
    (first,) = [d for d in st.advance(T0 + 2 * DAY) if d.status == OPEN]
    more = [replace(c, ticket_id=f"X{c.ticket_id}", person="p_0000000000000000" if c.person.endswith("0") else c.person,
                    ts=c.ts + 2 * DAY) for c in ring_claims(members=3, prefix="S")]
    st.add(more)
    upd = [d for d in st.advance(T0 + 4 * DAY) if d.status == UPDATE]
    assert upd and {d.alert_id for d in upd} == {first.alert_id} and {d.key for d in upd} == {first.key}


# --------------------------------------------------------------- due process in the engine


def engine_run(tickets: list[Enriched], excluded: frozenset[str] = frozenset(), tickets_out: frozenset[str] = frozenset()):
    eng = OfflineEngine(CFG, route)
    for e in eng.engines.values():
        e.judge.exclusions.add(T0 - DAY, Exclusion(excluded, tickets_out))
    tickets = sorted(tickets, key=lambda e: e.ts)
    out = []
    for i in range(0, len(tickets), 500):
        out.extend(eng.feed(tickets[i:i + 500]))
    return out + eng.finish(), eng


def test_a_flagged_ring_is_no_group_dispute_of_its_victims_firm(quiet: list[Enriched], quiet_alerts: set[str]) -> None:
    ring = burst("RG", T0 + 10 * DAY + 2 * 3600, hours=2, people=8)
    people = frozenset(e.person for e in ring)
    plain, _ = engine_run(quiet + ring)
    assert [(d.dimension, d.key) for d in added(plain, quiet_alerts, GROUP_DISPUTE)] == [("firm", "SHOP")]
    flagged, _ = engine_run(quiet + ring, people, frozenset(e.ticket_id for e in ring))
    assert added(flagged, quiet_alerts, GROUP_DISPUTE) == []
    # Due process: their tickets still count in the firm's totals.
    upto = [e for e in quiet if e.ts < T0 + 10 * DAY + 8 * 3600] + ring
    _, eng = engine_run_until(upto, people)
    p = route("SHOP")
    s = eng.engines[p].state("firm:SHOP", "firm", "SHOP")
    assert s.count(eng.engines[p].clock.last_tick, 96) == len(ring)


def engine_run_until(tickets: list[Enriched], excluded: frozenset[str]):
    eng = OfflineEngine(CFG, route)
    for e in eng.engines.values():
        e.judge.exclusions.add(T0 - DAY, Exclusion(excluded))
    return eng.feed(sorted(tickets, key=lambda e: e.ts)), eng


def test_flagged_people_are_out_of_a_real_disputes_people_and_evidence(quiet: list[Enriched],
                                                                       quiet_alerts: set[str]) -> None:
    genuine = burst("GN", T0 + 10 * DAY + 2 * 3600, hours=2, people=12)
    ring = burst("RG", T0 + 10 * DAY + 2 * 3600, hours=2, people=6)
    out, _ = engine_run(quiet + genuine + ring, frozenset(e.person for e in ring), frozenset(e.ticket_id for e in ring))
    gd = [d for d in added(out, quiet_alerts, GROUP_DISPUTE) if d.key == "SHOP"]
    assert gd, "the genuine twelve are still a dispute"
    assert all(d.distinct_complainants <= 12 and d.observed <= 12 for d in gd)
    assert not {e.ticket_id for e in ring} & {t for d in out if d.key == "SHOP" for t in d.ticket_ids}


@pytest.mark.parametrize("since", [T0 + 10 * DAY + 6 * 3600])
def test_a_flag_counts_only_from_its_midnight_on(quiet: list[Enriched], quiet_alerts: set[str], since: float) -> None:
    ring = burst("RG", T0 + 10 * DAY + 2 * 3600, hours=2, people=8)
    eng = OfflineEngine(CFG, route)
    for e in eng.engines.values():
        e.judge.exclusions.add(since, Exclusion(frozenset(x.person for x in ring)))
    tickets = sorted(quiet + ring, key=lambda e: e.ts)
    out = eng.feed(tickets) + eng.finish()
    assert [d.key for d in added(out, quiet_alerts, GROUP_DISPUTE)] == ["SHOP"]  # raised before the flag
