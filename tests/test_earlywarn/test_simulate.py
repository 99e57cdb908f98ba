"""The simulator: deterministic, ordered, valid tickets with realistic shape, and labels that match them."""

from __future__ import annotations

import collections
import re
import statistics
import unicodedata
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from earlywarn.scenarios import HOLDOUT_SEEDS, TUNING_SEEDS, WINDOWS, suite
from earlywarn.simulate import (
    CALENDAR,
    DECOY_FAMILIES,
    FAMILIES,
    HOURLY_PROFILE,
    INCIDENT_TERMS,
    KIND_SHARES,
    SECTORS,
    Incident,
    SimConfig,
    Simulation,
    firm_key,
    generate,
    text_key,
)
from schemas.regions import SHANGHAI_DISTRICTS
from schemas.uscc import is_uscc

CST = timezone(timedelta(hours=8))
REQUIRED = ("ticket_id", "kind", "received_at", "district_code", "content")
OPTIONAL_STR = ("firm_name", "firm_id", "product_category", "product_name", "issue_category", "complainant_id",
                "complainant_phone", "complainant_name", "channel", "platform", "title")  # fmt: skip
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00")


def ts(t: dict[str, Any]) -> float:
    return datetime.fromisoformat(t["received_at"]).timestamp()


def local(t: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(t["received_at"]).astimezone(CST)


@pytest.fixture(scope="module")
def big() -> tuple[Simulation, list[dict[str, Any]]]:
    """Two quiet weeks (no calendar days) with every family: for shape and label tests."""
    sim = Simulation(SimConfig(seed=11, start="2025-03-17T00:00:00+08:00", days=14, tickets_per_day=3000, firms=2000))
    return sim, list(sim.tickets())


@pytest.fixture(scope="module")
def by_id(big: tuple[Simulation, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {t["ticket_id"]: t for t in big[1]}


SMALL = SimConfig(seed=5, days=6, tickets_per_day=600, firms=400, warmup_days=1,
                  incidents=(("prepaid_closure", 1), ("safety_event", 1)), decoys=(("decoy_repeat_person", 1),))  # fmt: skip


# ---- determinism and order ---------------------------------------------------------------


def test_same_seed_gives_identical_tickets_and_labels() -> None:
    a, b = Simulation(SMALL), Simulation(SMALL)
    assert list(a.tickets()) == list(b.tickets())
    assert a.incidents == b.incidents
    # and a second pass over the same simulation repeats itself
    assert list(a.tickets()) == list(b.tickets())


def test_different_seed_gives_different_tickets() -> None:
    a = list(Simulation(SMALL).tickets())
    b = list(Simulation(SimConfig(**{**SMALL.__dict__, "seed": 6})).tickets())
    assert a != b
    assert [t["content"] for t in a[:50]] != [t["content"] for t in b[:50]]


def test_generate_returns_the_same_as_simulation() -> None:
    it, incidents = generate(SMALL)
    assert list(it) == list(Simulation(SMALL).tickets())
    assert incidents == Simulation(SMALL).incidents


def test_tickets_come_in_non_decreasing_event_time(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    times = [ts(t) for t in big[1]]
    assert all(a <= b for a, b in zip(times, times[1:]))
    sim = big[0]
    assert len(big[1]) == sim.total_tickets


# ---- the contract ------------------------------------------------------------------------


def test_every_ticket_follows_contract_v1(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    tickets = big[1]
    assert len({t["ticket_id"] for t in tickets}) == len(tickets)
    for t in tickets:
        for f in REQUIRED:
            assert isinstance(t.get(f), str) and t[f].strip(), (f, t)
        assert re.fullmatch(r"SH\d{16}", t["ticket_id"]), t["ticket_id"]
        assert t["ticket_id"][2:10] == local(t).strftime("%Y%m%d")  # numbered by local day
        assert t["kind"] in KIND_SHARES
        assert STAMP.fullmatch(t["received_at"]), t["received_at"]
        assert t["district_code"] in SHANGHAI_DISTRICTS
        if t["kind"] in ("complaint", "report"):
            assert t.get("firm_name", "").strip()
        for f in OPTIONAL_STR:
            assert f not in t or isinstance(t[f], str)
        if "amount" in t:
            assert isinstance(t["amount"], (int, float)) and not isinstance(t["amount"], bool) and t["amount"] >= 0
        if "complainant_id" in t:
            assert re.fullmatch(r"P\d{10}", t["complainant_id"])
        if "complainant_phone" in t:
            assert re.fullmatch(r"1[3-9]\d{9}", t["complainant_phone"])


def test_the_shared_validator_accepts_every_ticket(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    tickets_mod = pytest.importorskip("schemas.tickets")
    rejected = [(t["ticket_id"], r) for t in big[1] if isinstance(r := tickets_mod.validate(t), tickets_mod.Rejection)]
    assert rejected == []


def test_narratives_are_long_varied_and_about_their_issue(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    tickets = big[1]
    lengths = [len(t["content"]) for t in tickets]
    assert 120 <= statistics.median(lengths) <= 300
    assert sum(100 <= n <= 320 for n in lengths) / len(lengths) > 0.8
    complaints = [t for t in tickets if t["kind"] == "complaint"]
    assert len({t["content"] for t in complaints}) > 0.95 * len(complaints)
    # issue-specific text: food-safety complaints talk about food, prepaid ones about cards or refunds
    food = [t["content"] for t in complaints if t.get("issue_category") == "食品安全"]
    assert sum(any(w in c for w in ("食", "菜", "保质期", "霉", "餐", "卫生")) for c in food) > 0.9 * len(food)
    prepaid = [t["content"] for t in complaints if t.get("issue_category") == "预付卡"]
    assert sum(any(w in c for w in ("卡", "退", "课时")) for c in prepaid) > 0.9 * len(prepaid)


def test_firms_have_valid_credit_codes_and_some_tickets_lack_them(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    sim, tickets = big
    assert all(is_uscc(f.firm_id) and f.firm_id[2:8] == f.district for f in sim.firms)
    with_firm = [t for t in tickets if t.get("firm_name")]
    bad = [t for t in with_firm if not is_uscc(t.get("firm_id") or "")]
    assert 0.02 < len(bad) / len(with_firm) < 0.09  # ~5 % omit or garble the code
    assert any("firm_id" not in t for t in bad) and any("firm_id" in t for t in bad)
    names = {f.name: f for f in sim.firms}
    for t in bad[:200]:  # their key falls back to the normalised name, the same firm's name
        assert firm_key(t) == "name:" + text_key(names[t["firm_name"].strip()].name)


# ---- shape of the stream -----------------------------------------------------------------


def test_kinds_follow_shanghai_proportions(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    injected = {t for i in big[0].incidents if i.expected_type for t in i.ticket_ids}
    counts = collections.Counter(t["kind"] for t in big[1] if t["ticket_id"] not in injected)
    n = sum(counts.values())
    for kind, share in KIND_SHARES.items():
        assert abs(counts[kind] / n - share) < 0.025, (kind, counts[kind] / n, share)


def test_complaint_volume_per_firm_is_heavy_tailed(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    sim, tickets = big
    per_firm = collections.Counter(t["firm_name"].strip() for t in tickets if t.get("firm_name"))
    ranked = [c for _, c in per_firm.most_common()]
    total = sum(ranked)
    top = sum(ranked[: len(sim.firms) // 100])
    assert top / total > 0.35  # the top 1 % of firms take over a third
    assert ranked[0] / sim.cfg.days > 100  # a platform with hundreds of tickets a day
    quiet = len(sim.firms) - len([c for c in ranked if c >= sim.cfg.days])
    assert quiet / len(sim.firms) > 0.8  # most firms average under one ticket a day


def test_daily_rhythm_is_quiet_at_night_and_peaks_by_day(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    hours = collections.Counter(local(t).hour for t in big[1])
    night = statistics.mean(hours[h] for h in range(0, 6))
    day = statistics.mean(hours[h] for h in range(9, 17))
    assert night < 0.2 * day
    assert max(hours, key=hours.__getitem__) in (10, 14, 15)
    assert HOURLY_PROFILE.index(max(HOURLY_PROFILE)) in (10, 15)


def test_weekends_are_quieter_than_weekdays(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    days = collections.Counter(local(t).date() for t in big[1])
    assert not {c.day for c in CALENDAR} & set(days)  # the fixture avoids calendar days
    weekend = statistics.mean(c for d, c in days.items() if d.weekday() >= 5)
    weekday = statistics.mean(c for d, c in days.items() if d.weekday() < 5)
    assert 0.5 < weekend / weekday < 0.8


def test_a_shopping_festival_multiplies_ecommerce_and_is_a_decoy() -> None:
    # 2025-11-11 (双十一) is a Tuesday; compare with the other Tuesdays in range.
    sim = Simulation(SimConfig(seed=3, start="2025-10-27T00:00:00+08:00", days=21, tickets_per_day=1500, firms=1500,
                               incidents=(), decoys=(("decoy_festival", 1),)))  # fmt: skip
    assert any(c.day == date(2025, 11, 11) and c.kind == "shopping_festival" for c in CALENDAR)
    ecom = {f.name for f in sim.firms if f.sector in ("电商平台", "直播电商")}
    per_day = collections.Counter(
        local(t).date() for t in sim.tickets() if t.get("firm_name", "").strip() in ecom
    )  # fmt: skip
    others = [per_day[date(2025, 10, 28)], per_day[date(2025, 11, 4)]]
    assert per_day[date(2025, 11, 11)] > 1.8 * statistics.mean(others)
    [decoy] = [i for i in sim.incidents if i.family == "decoy_festival"]
    assert decoy.expected_type is None
    start = datetime.fromtimestamp(decoy.start_ts, CST).date()
    assert start == date(2025, 11, 11)


# ---- labels ------------------------------------------------------------------------------


def incident_tickets(i: Incident, by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [by_id[t] for t in i.ticket_ids]


def test_every_family_and_decoy_is_labelled(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    families = collections.Counter(i.family for i in big[0].incidents)
    for f in FAMILIES:
        assert families[f] >= 2, f
    assert families["decoy_repeat_person"] >= 1 and families["decoy_small_firm"] >= 1
    assert len({i.incident_id for i in big[0].incidents}) == len(big[0].incidents)


def test_labels_agree_with_their_tickets(
    big: tuple[Simulation, list[dict[str, Any]]], by_id: dict[str, dict[str, Any]]
) -> None:
    for i in big[0].incidents:
        tickets = incident_tickets(i, by_id)  # KeyError: an id that is not in the stream
        assert len(tickets) == len(i.ticket_ids) == len(i.ticket_ts) > 0
        assert [ts(t) for t in tickets] == list(i.ticket_ts)
        assert i.start_ts == min(i.ticket_ts) and i.end_ts == max(i.ticket_ts)
        assert i.people == len({t["complainant_id"] for t in tickets if "complainant_id" in t})
        assert i.keys and len(set(i.keys)) == len(i.keys)


def test_keys_are_derivable_from_the_tickets(
    big: tuple[Simulation, list[dict[str, Any]]], by_id: dict[str, dict[str, Any]]
) -> None:
    for i in big[0].incidents:
        tickets = incident_tickets(i, by_id)
        contents = [t["title"] + t["content"] for t in tickets]
        if i.family in ("prepaid_closure", "safety_event", "decoy_repeat_person", "decoy_small_firm"):
            assert set(i.keys) == {firm_key(t) for t in tickets}, i.incident_id
        elif i.family == "platform_issue_surge":
            assert set(i.keys) == {f"{firm_key(t)}|{text_key(t['issue_category'])}" for t in tickets}
        elif i.family == "product_defect":
            products = {text_key(t["product_name"]) for t in tickets}
            assert len(products) == 1 and products <= set(i.keys)
            for term in set(i.keys) - products:
                assert sum(term in c for c in contents) > 0.8 * len(contents), term
        elif i.family == "holiday_practice":
            for term in i.keys:
                assert sum(term in c for c in contents) > 0.8 * len(contents), term
        elif i.family == "platform_policy":
            terms = {k for k in i.keys if not is_uscc(k) and not k.startswith("name:")}
            for term in terms:
                assert sum(term in c for c in contents) > 0.8 * len(contents), term
            platform = {t["platform"] for t in tickets}
            assert len(platform) == 1
            own = [t for t in tickets if t["firm_name"].strip() in {f.name for f in big[0].firms if f.is_platform}]
            assert set(i.keys) - terms == {firm_key(t) for t in own}


def test_incident_sizes_and_spans_follow_their_family(
    big: tuple[Simulation, list[dict[str, Any]]], by_id: dict[str, dict[str, Any]]
) -> None:
    hours = 3600
    for i in big[0].incidents:
        span = (i.end_ts - i.start_ts) / hours
        firms = {t["firm_name"].strip() for t in incident_tickets(i, by_id)}
        if i.family == "prepaid_closure":
            assert 12 <= i.people <= 80 and span <= 48 and len(firms) == 1
            assert i.expected_type == "group_dispute" and i.dimension == "firm"
        elif i.family == "platform_issue_surge":
            assert 30 <= i.people <= 150 and span <= 48 and len(firms) == 1
            assert i.expected_type == "group_dispute" and i.dimension == "firm_issue"
        elif i.family == "safety_event":
            assert 12 <= i.people <= 60 and span <= 6 and len(firms) == 1
            assert i.expected_type == "group_dispute"
        elif i.family == "product_defect":
            districts = {t["district_code"] for t in incident_tickets(i, by_id)}
            assert 30 <= i.people <= 120 and span <= 5 * 24 and 15 <= len(firms) <= 60 and len(districts) >= 5
            assert i.expected_type == "concentrated_demand" and i.dimension == "product"
        elif i.family == "holiday_practice":
            assert 20 <= len(firms) <= 80 and span <= 4 * 24
            assert i.expected_type == "concentrated_demand" and i.dimension == "term"
        elif i.family == "platform_policy":
            assert 40 <= i.people <= 200 and span <= 3 * 24 and len(firms) > 10
            assert i.expected_type == "concentrated_demand" and i.dimension == "term"
        elif i.family == "decoy_repeat_person":
            assert i.people == 1 and 3 <= len(i.ticket_ids) <= 8 and span <= 24 and len(firms) == 1
            assert i.expected_type is None
        elif i.family == "decoy_small_firm":
            issues = {t["issue_category"] for t in incident_tickets(i, by_id)}
            assert 2 <= i.people <= 3 and len(issues) == i.people and span <= 24 and len(firms) == 1
            assert i.expected_type is None


def test_incidents_start_after_warmup_and_never_share_a_subject_at_once(
    big: tuple[Simulation, list[dict[str, Any]]],
) -> None:
    sim = big[0]
    start = datetime.fromisoformat(sim.cfg.start).timestamp()
    real = [i for i in sim.incidents if i.family != "decoy_festival"]
    for i in real:
        assert i.start_ts >= start + sim.cfg.warmup_days * 86400
    for a in real:
        for b in real:
            if a is not b and set(a.keys) & set(b.keys):
                assert a.end_ts < b.start_ts or b.end_ts < a.start_ts, (a.incident_id, b.incident_id)


def test_signature_terms_are_listed(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    listed = {t for terms in INCIDENT_TERMS.values() for t in terms}
    for i in big[0].incidents:
        if i.dimension in ("term", "product"):
            assert {k for k in i.keys if k in listed}, i.incident_id


def test_background_count_excludes_only_real_incidents(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    sim = big[0]
    real = sum(len(i.ticket_ids) for i in sim.incidents if i.expected_type is not None)
    assert sim.background_tickets == sim.total_tickets - real
    assert 0 < real < 0.1 * sim.total_tickets


def test_professional_complainants_file_many_templated_claims(big: tuple[Simulation, list[dict[str, Any]]]) -> None:
    sim, tickets = big
    assert len(sim.professional_complainants) == sim.cfg.professionals > 0
    pros = set(sim.professional_complainants)
    by_person = collections.Counter(t.get("complainant_id") for t in tickets)
    for p in pros:
        assert by_person[p] >= 5
        mine = [t["content"] for t in tickets if t.get("complainant_id") == p]
        assert len({c[-20:] for c in mine}) == 1  # one template: the same closing every time
    ordinary = [c for p, c in by_person.items() if p and p not in pros]
    assert statistics.mean(ordinary) < 1.2  # most people appear once


def test_text_key_matches_the_engines_normaliser() -> None:
    normalise = pytest.importorskip("schemas.normalise")
    for s in ("  ＡＢＣ牌  空气炸锅（KX-2型） ", "上海 悦动健身有限公司 ", "Ｐ\u3000q", "闭店"):
        # the simulator's fallback rule (used when schemas.normalise is absent) is the same rule
        fallback = " ".join(unicodedata.normalize("NFKC", s).split()).lower()
        assert text_key(s) == normalise.text_key(s) == fallback
        assert firm_key({"firm_name": s, "firm_id": "bad"}) == normalise.firm_key("bad", s)


# ---- the suite ---------------------------------------------------------------------------


def test_suite_has_every_family_twice_and_every_decoy_in_each_scenario() -> None:
    assert not set(TUNING_SEEDS) & set(HOLDOUT_SEEDS)
    configs = suite(TUNING_SEEDS + HOLDOUT_SEEDS, tickets_per_day=300)
    assert len({c.start for c in configs}) >= 4 and {c.start for c in configs} <= set(WINDOWS)
    for cfg in configs:
        assert cfg.days >= 28
        sim = Simulation(cfg)
        families = collections.Counter(i.family for i in sim.incidents)
        assert sim.unplaced == []
        for f in FAMILIES:
            assert families[f] >= 2, (cfg.seed, f, families)
        for f in DECOY_FAMILIES:
            assert families[f] >= 1, (cfg.seed, f, families)


def test_suite_is_deterministic_and_seed_dependent() -> None:
    assert suite([101, 102]) == suite([101, 102])
    assert suite([101])[0].incidents != suite([102])[0].incidents or suite([101])[0].start != suite([102])[0].start


def test_incidents_can_be_given_as_a_rate_per_day() -> None:
    cfg = SimConfig(seed=9, days=12, tickets_per_day=400, firms=1500, warmup_days=2, incidents=0.6, decoys=0.4)
    sim = Simulation(cfg)
    families = collections.Counter(i.family for i in sim.incidents)
    assert sim.unplaced == []
    assert sum(families[f] for f in FAMILIES) == round(0.6 * 10)  # spread over the families
    assert max(families[f] for f in FAMILIES) - min(families[f] for f in FAMILIES) <= 1
    assert families["decoy_repeat_person"] + families["decoy_small_firm"] == round(0.4 * 10)
    assert families["decoy_festival"] == 1


def test_a_scenario_too_short_for_an_incident_says_so() -> None:
    sim = Simulation(SimConfig(seed=4, days=2, tickets_per_day=200, firms=400, warmup_days=1.9,
                               incidents=(("product_defect", 1),), decoys=()))  # fmt: skip
    assert sim.unplaced == ["product_defect"] and sim.incidents == []


def test_config_rejects_unknown_families() -> None:
    with pytest.raises(ValueError):
        SimConfig(incidents=(("no_such_family", 1),))
    with pytest.raises(ValueError):
        SimConfig(decoys=(("prepaid_closure", 1),))


def test_sectors_cover_the_brief() -> None:
    for s in ("餐饮", "健身", "教育培训", "电商平台", "直播电商", "美容美发", "医美", "汽车", "家电", "通信", "旅游",
              "房产中介", "食品", "保健品"):  # fmt: skip
        assert s in SECTORS
