"""The partition engines on small synthetic streams (offline and as the stream runs them): what
alerts, what must not, and determinism."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import replace

import pytest

from detectors.aggregate import Aggregator, Enriched
from detectors.baseline import Rhythm
from detectors.config import DetectConfig
from detectors.decisions import CONCENTRATED_DEMAND, GROUP_DISPUTE, OPEN, RESOLVED, decision_order
from detectors.judge import Judge
from detectors.offline import OfflineEngine
from detectors.partition import PartitionEngine
from detectors.tail import poisson_sf
from detectors.windows import KeyState, bucket_of
from detectors.wire import encode_key

T0 = 1_740_960_000.0  # 2025-03-03 08:00 +08:00, a Monday
DAY = 86400.0
CFG = DetectConfig(partitions=4, sources=1)


def route(key: str) -> int:
    return sum(key.encode()) % CFG.partitions


def background(seed: int, days: float, firms: int = 300) -> list[Enriched]:
    """Sparse, heavy-tailed complaints over many firms, products and terms."""
    rng = random.Random(seed)
    rates = [0.02 + 40.0 * (rng.paretovariate(1.3) - 1) / 100 for _ in range(firms)]
    out: list[Enriched] = []
    n = 0
    rhythm = Rhythm()
    peak = max(rhythm.factor(b) for b in range(7 * 96))
    for f, rate in enumerate(rates):
        t = T0
        while True:
            t += rng.expovariate(rate * peak / DAY)
            if t >= T0 + days * DAY:
                break
            if rng.random() * peak > rhythm.factor(bucket_of(t)):
                continue  # thinning: quiet at night and at weekends, like the hotline
            n += 1
            out.append(Enriched(
                ticket_id=f"B{n:07d}", ts=t, district=f"3101{f % 16:02d}", person=f"p_{rng.getrandbits(40):x}",
                firm_key=f"F{f:04d}", firm_label=f"公司{f}", product_key=f"prod{f % 40}", category="c",
                issue=rng.choice(["质量", "退费", "售后服务", "价格"]), amount=100.0,
                terms=tuple(rng.sample(["质量", "退款", "客服", "发货", "价格", "服务", "态度", "维修"], 3)),
            ))
    return out


def burst(prefix: str, start: float, hours: float, people: int, *, firm: str | None = "SHOP",
          product: str | None = None, firms: int = 1, tickets_per_person: int = 1,
          terms: tuple[str, ...] = ("闭店", "退费", "预付卡")) -> list[Enriched]:
    rng = random.Random(prefix)
    out = []
    for i in range(people * tickets_per_person):
        person = i % people
        f = firm if firms == 1 else f"{firm}{i % firms}"
        out.append(Enriched(
            ticket_id=f"{prefix}{i:04d}", ts=start + rng.random() * hours * 3600, district="310115",
            person=f"p_{prefix}{person}", firm_key=f, firm_label=f"店{f}", product_key=product,
            product_label=product, category="c", issue="预付卡", amount=3000.0, terms=terms,
        ))
    return out


def run(tickets: list[Enriched], batch: int = 500, cfg: DetectConfig = CFG) -> list:
    tickets = sorted(tickets, key=lambda e: e.ts)
    eng = OfflineEngine(cfg, route)
    out = []
    for i in range(0, len(tickets), batch):
        out.extend(eng.feed(tickets[i:i + batch]))
    out.extend(eng.finish())
    return out


def opened(decisions: list, type_: str | None = None) -> list:
    return [d for d in decisions if d.status == OPEN and (type_ is None or d.type == type_)]


@pytest.fixture(scope="module")
def quiet() -> list[Enriched]:
    return background(1, 14)


@pytest.fixture(scope="module")
def quiet_alerts(quiet: list[Enriched]) -> set[str]:
    """The background's own alert ids: an incident must add its alert and nothing else."""
    return {d.alert_id for d in run(quiet)}


def added(decisions: list, known: set[str], type_: str | None = None) -> list:
    return [d for d in opened(decisions, type_) if d.alert_id not in known]


@pytest.mark.parametrize("type_", [GROUP_DISPUTE, CONCENTRATED_DEMAND])
def test_background_false_alarms_stay_within_the_budget(quiet: list[Enriched], type_: str) -> None:
    assert len(quiet) > 3000
    days_judged = 14 - CFG.warmup_days
    budget = CFG.false_alarms_per_day * days_judged
    # False alarms are rare events: allow what a Poisson count with the budget's mean
    # exceeds less than 1% of the time.
    allowed = next(k for k in range(100) if poisson_sf(k + 1, budget) < 0.01)
    assert len(opened(run(quiet), type_)) <= allowed


def test_a_smaller_budget_gives_fewer_false_alarms(quiet: list[Enriched]) -> None:
    loose = opened(run(quiet, cfg=replace(CFG, false_alarms_per_day=2.0)))
    strict = opened(run(quiet, cfg=replace(CFG, false_alarms_per_day=0.02)))
    assert len(strict) < len(loose)


def test_prepaid_closure_is_a_group_dispute_with_evidence(quiet: list[Enriched], quiet_alerts: set[str]) -> None:
    incident = burst("GD", T0 + 10 * DAY + 2 * 3600, hours=3, people=15)
    out = run(quiet + incident)
    gd = added(out, quiet_alerts)
    assert [(d.dimension, d.key) for d in gd] == [("firm", "SHOP")]
    alert = gd[0]
    ids = {e.ticket_id for e in incident}
    assert set(alert.ticket_ids) <= ids and len(alert.ticket_ids) >= 5
    assert alert.distinct_complainants >= 5
    assert alert.observed > alert.expected
    assert 0.0 <= alert.score <= 1.0
    assert "闭店" in alert.top_terms
    # detected within two hours of event time of the first ticket
    first = min(e.ts for e in incident)
    assert alert.raised_at - first <= 2 * 3600 + 900
    # and resolved after a quiet day, under the same id
    resolved = [d for d in out if d.status == RESOLVED and d.alert_id == alert.alert_id]
    assert len(resolved) == 1


@pytest.mark.parametrize(("people", "per_person"), [(1, 8), (3, 1), (4, 1)])
def test_one_person_or_a_few_complaints_do_not_alert(quiet: list[Enriched], quiet_alerts: set[str],
                                                   people: int, per_person: int) -> None:
    decoy = burst("DC", T0 + 9 * DAY, hours=8, people=people, tickets_per_person=per_person)
    assert added(run(quiet + decoy), quiet_alerts) == []


def test_product_across_many_firms_is_a_concentrated_demand(quiet: list[Enriched], quiet_alerts: set[str]) -> None:
    incident = burst("CD", T0 + 11 * DAY, hours=10, people=30, firm="SELLER", firms=12,
                     product="某品牌电动车电池", terms=("电池", "起火", "质量"))
    out = added(run(quiet + incident), quiet_alerts)
    assert {d.type for d in out} == {CONCENTRATED_DEMAND}
    assert ("product", "某品牌电动车电池") in {(d.dimension, d.key) for d in out}
    assert all(d.firms >= CFG.min_firms for d in out)


def practice(prefix: str, start: float, hours: float, per_hour: float, platform: str | None) -> list[Enriched]:
    """Complaints naming a common practice (七天无理由), one new person each, spread over 50 shops."""
    rng = random.Random(prefix)
    n = int(per_hour * hours)
    return [Enriched(ticket_id=f"{prefix}{i:05d}", ts=start + rng.random() * hours * 3600, district="310105",
                     person=f"p_{prefix}{i}", firm_key=f"M{rng.randrange(50)}", firm_label="网店", category="网购",
                     issue="售后服务", terms=("七天无理由", "退货"), platform=platform)
            for i in range(n)]


def test_a_practice_surging_at_one_platform_is_a_demand_there(quiet: list[Enriched], quiet_alerts: set[str]) -> None:
    common = practice("BG", T0, 14 * 24, per_hour=5.0, platform=None)  # ~120 a day, everywhere
    policy = practice("PP", T0 + 10 * DAY, 10, per_hour=3.0, platform="京选")  # a rule change at one platform
    known = {d.alert_id for d in run(quiet + common)}
    out = added(run(quiet + common + policy), known | quiet_alerts, CONCENTRATED_DEMAND)
    assert [(d.dimension, d.key, d.label) for d in out] == [("platform_term", "京选|七天无理由", "京选·七天无理由")]
    assert out[0].firms >= CFG.min_firms
    # Without the platform the same tickets are lost in the practice's everyday volume.
    unplaced = [replace(e, platform=None) for e in policy]
    assert added(run(quiet + common + unplaced), known | quiet_alerts, CONCENTRATED_DEMAND) == []


def test_a_term_surge_at_one_firm_is_left_to_that_firms_group_dispute(quiet: list[Enriched],
                                                                    quiet_alerts: set[str]) -> None:
    incident = burst("GT", T0 + 10 * DAY, hours=3, people=20, terms=("跑路",))
    out = added(run(quiet + incident), quiet_alerts)
    assert [(d.type, d.key) for d in out] == [(GROUP_DISPUTE, "SHOP")]


def test_batch_size_does_not_change_the_alerts(quiet: list[Enriched]) -> None:
    tickets = quiet + burst("GD", T0 + 10 * DAY, hours=3, people=15)
    a = run(tickets, batch=97)
    b = run(tickets, batch=5000)
    assert a and a == b


def test_disorder_within_the_lateness_does_not_change_the_alerts(quiet: list[Enriched]) -> None:
    tickets = sorted(quiet + burst("GD", T0 + 10 * DAY, hours=3, people=15), key=lambda e: e.ts)
    rng = random.Random(5)
    # Shuffle within 5-minute neighbourhoods (the lateness is 10 minutes).
    jittered = sorted(tickets, key=lambda e: e.ts + rng.uniform(-300, 300))
    eng = OfflineEngine(CFG, route)
    out = []
    for i in range(0, len(jittered), 50):
        out.extend(eng.feed(jittered[i:i + 50]))
    out.extend(eng.finish())
    assert sorted(out, key=decision_order) == run(tickets)


def test_alert_ids_are_deterministic_and_per_episode(quiet: list[Enriched], quiet_alerts: set[str]) -> None:
    first = burst("E1", T0 + 8 * DAY, hours=2, people=12)
    second = burst("E2", T0 + 12 * DAY, hours=2, people=12)
    out = added(run(quiet + first + second), quiet_alerts)
    again = added(run(quiet + first + second), quiet_alerts)
    assert [d.alert_id for d in out] == [d.alert_id for d in again]
    assert [(d.key, d.status) for d in out] == [("SHOP", OPEN), ("SHOP", OPEN)]
    assert out[0].alert_id != out[1].alert_id


def test_late_ticket_is_counted_but_ticks_are_not_revisited() -> None:
    cfg = replace(CFG, lateness_seconds=0)
    eng = OfflineEngine(cfg, route)
    on_time = burst("LT", T0, hours=1, people=3)
    eng.feed(on_time)
    eng.feed(burst("NOW", T0 + 6 * 3600, hours=0.1, people=1, firm="OTHER"))
    late = burst("LATE", T0 + 1800, hours=0.01, people=1)  # bucket long closed
    eng.feed(late)
    engines = eng.engines
    # one late ticket, counted under each key it touches (firm, issue, district and its terms)
    assert sum(e.clock.late for e in engines.values()) == 3 + len(late[0].terms)
    shop = engines[route("firm:SHOP")].states["firm:SHOP"]
    assert sum(b.n for b in shop.slots) + shop.base_count >= 4


def test_state_survives_serialisation_midway(quiet: list[Enriched]) -> None:
    """A worker that restarts from its persisted states gives the alerts an uninterrupted one gives."""
    tickets = sorted(quiet + burst("GD", T0 + 10 * DAY, hours=3, people=15), key=lambda e: e.ts)
    assert restarted(tickets, len(tickets) // 2) == run(tickets, batch=400)


def restarted(tickets: list[Enriched], half: int) -> list:
    """The decisions when every partition is persisted after *half* of *tickets* (in time
    order) and rebuilt from what was persisted, loading lazily, for the rest."""
    eng = OfflineEngine(CFG, route)
    out = []
    for i in range(0, half, 400):
        out.extend(eng.feed(tickets[i:min(i + 400, half)]))
    for p, old in list(eng.engines.items()):
        saved = {tk: encode_key(old.states[tk]) for tk in old.states}
        clock = old.clock_dict()
        eng.engines[p] = PartitionEngine(p, eng.config, load=saved.get, clock=clock)
    for i in range(half, len(tickets), 400):
        out.extend(eng.feed(tickets[i:i + 400]))
    out.extend(eng.finish())
    return out


def iter_chunks(xs: list[Enriched], n: int) -> Iterator[list[Enriched]]:
    for i in range(0, len(xs), n):
        yield xs[i:i + n]


def test_only_firm_keys_learn_issue_baselines() -> None:
    """Issues are judged per firm only; the terms, products and issues judged at every tick skip them."""
    eng = OfflineEngine(CFG, route)
    eng.feed(burst("IB", T0, hours=20, people=40))
    # Days later (three tickets: fewer do not move event time, see detectors.front): the burst gets learned.
    eng.feed(burst("IC", T0 + 3 * DAY, hours=1, people=3))
    eng.finish()
    states = {tk: s for e in eng.engines.values() for tk, s in e.states.items()}
    assert states["firm:SHOP"].base_issues and states["firm:SHOP"].base_count > 0
    assert states["term:退费"].base_count > 0 and states["term:退费"].base_issues == {}
    assert states["issue:预付卡"].base_issues == {}


def peers(category: str, per_day: float, firms: int, days: int) -> list[Enriched]:
    """*firms* steady firms of one product category in one district, each from new people."""
    rng = random.Random(category)
    out: list[Enriched] = []
    for f in range(firms):
        t = T0
        while (t := t + rng.expovariate(per_day / DAY)) < T0 + days * DAY:
            out.append(Enriched(ticket_id=f"{category}{len(out):06d}", ts=t, district="310101",
                                person=f"p{category}{len(out)}", firm_key=f"{category}{f}", category=category))
    return out


def test_a_new_firm_is_judged_against_its_peers() -> None:
    busy, quiet = peers("健身", 2.0, 40, 14), peers("书店", 0.05, 40, 14)
    newcomers = [replace(e, category=category, district="310101")
                 for firm, category in (("NEW-GYM", "健身"), ("NEW-BOOKS", "书店"))
                 for e in burst(firm, T0 + 10 * DAY + 10 * 3600, hours=1, people=5, firm=firm)]
    eng = OfflineEngine(CFG, route)
    out = []
    tickets = sorted(busy + quiet + newcomers, key=lambda e: e.ts)
    for i in range(0, len(tickets), 500):
        out.extend(eng.feed(tickets[i:i + 500]))
    out.extend(eng.finish())
    gym, books = (eng.engines[route(f"firm:{k}")] for k in ("NEW-GYM", "NEW-BOOKS"))
    # Gyms here get about 40 times a bookshop's complaints: a new one is expected to as well.
    assert gym.judge.prior(gym.state("firm:NEW-GYM")).rate > 10 * books.judge.prior(books.state("firm:NEW-BOOKS")).rate
    alerts = {d.key: d for d in opened(out, GROUP_DISPUTE)}
    assert alerts["NEW-GYM"].expected > alerts["NEW-BOOKS"].expected
    assert alerts["NEW-GYM"].score < alerts["NEW-BOOKS"].score


def test_a_firms_district_is_where_its_first_bucket_comes_from_whatever_the_batching() -> None:
    # Its first bucket: one ticket from 黄浦 first, then three from 浦东 (the district of its
    # peers), read in batches of one (a stream's first delta can hold just the first) or at once.
    first = [Enriched(f"D{i}", T0 + 60 * i, district, f"pd{i}", firm_key="FD", category="健身")
             for i, district in enumerate(["310101", "310115", "310115", "310115"])]
    later = [Enriched("D9", T0 + DAY, "310101", "pd9", firm_key="FD", category="健身")]
    for batch in (1, 500):
        eng = OfflineEngine(CFG, route)
        _feed_all(eng, first + later, batch)
        eng.finish()
        assert eng.engines[route("firm:FD")].state("firm:FD").district == "310115", batch


def test_the_pre_screen_skips_most_judgements_and_changes_no_decision(quiet: list[Enriched],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tickets = quiet + burst("GD", T0 + 10 * DAY, hours=3, people=15) + burst(
        "CD", T0 + 11 * DAY, hours=10, people=30, firm="SELLER", firms=12, product="某品牌电动车电池",
        terms=("电池", "起火", "质量"))
    cfg = replace(CFG, false_alarms_per_day=20.0)  # a loose budget: many findings near the edge
    judged = [0]
    judge = Judge.findings

    def counted(self: Judge, s: KeyState, t: int, cold: bool = False) -> list:
        judged[0] += 1
        return judge(self, s, t, cold)

    monkeypatch.setattr(Judge, "findings", counted)
    screened, screened_judged = run(tickets, cfg=cfg), judged[0]
    monkeypatch.setattr(Judge, "may_find", lambda self, s, t, cold=False: True)
    judged[0] = 0
    assert run(tickets, cfg=cfg) == screened and {d.type for d in screened} >= {GROUP_DISPUTE, CONCENTRATED_DEMAND}
    assert screened_judged < judged[0] / 2


FORGETFUL = replace(CFG, forget_days=2.0)


def _feed_all(eng: OfflineEngine, tickets: list[Enriched], batch: int) -> list:
    out = []
    for i in range(0, len(tickets), batch):
        out.extend(eng.feed(tickets[i:i + batch]))
    return out


def test_keys_unseen_for_forget_days_are_cut_down_to_stubs(quiet: list[Enriched]) -> None:
    tickets = sorted(quiet, key=lambda e: e.ts)
    forgetful, keeps = OfflineEngine(FORGETFUL, route), OfflineEngine(CFG, route)
    _feed_all(forgetful, tickets, 500)
    _feed_all(keeps, tickets, 500)
    for eng in forgetful.engines.values():
        # Every key still held has a bucket within two days of the day's first tick, or is busy.
        horizon = eng.clock.day * 96 - 2 * 96
        assert all(s.episodes or s.order[-1] >= horizon - 96 for s in eng.states.values())
        stubs = {tk: v for tk, v in eng.take_dirty() if tk in eng.stubs}
        assert stubs and not set(stubs) & set(eng.states)
        for tk, v in stubs.items():  # what the store keeps of them: the label, category and district
            assert v["b"] == [] and v["bc"] == 0.0 and v["lt"] == -1 and v["l"] == eng.stubs[tk][0]
    held = sum(len(e.states) for e in forgetful.engines.values())
    assert held < 0.8 * sum(len(e.states) for e in keeps.engines.values())


def test_a_key_back_after_forget_days_starts_afresh() -> None:
    eng = PartitionEngine(0, FORGETFUL)
    b = bucket_of(T0)

    def msg(bucket: int, n: int, label: str, district: str) -> dict:
        delta = [bucket, n, [f"p{i}" for i in range(n)], [f"T{bucket}-{i}" for i in range(n)], {}, {}, {},
                 {district: n}, 0.0, label, "c"]
        return {"v": 2, "k": [["firm", "F1", [delta]]], "w": {"0": [(bucket + 8) * 900.0, False]}}

    eng.apply(msg(b, 3, "老店", "310115"))
    eng.apply(msg(b + 2 * 96, 2, "老店", "310115"))
    s = eng.states["firm:F1"]
    assert s.first_bucket == b and s.base_count == 3.0  # two days on: the same key, its first tickets learned
    eng.apply(msg(b + 4 * 96 + 20, 4, "新店", "310104"))  # more than two days after its last bucket
    s = eng.states["firm:F1"]
    assert s.order == [b + 4 * 96 + 20] and s.retained == 4 and s.first_bucket == b + 4 * 96 + 20
    assert (s.label, s.district, s.base_count) == ("新店", "310115", 0.0)  # as a new key, where it was


def test_a_firm_counts_once_among_its_peers(quiet: list[Enriched]) -> None:
    # A firm's exposure is forgotten as it grows, faster than it grows at night, so a firm
    # near PEER_AFTER crosses it more than once: it used to be counted at every crossing.
    eng = OfflineEngine(CFG, route)
    _feed_all(eng, sorted(quiet, key=lambda e: e.ts), 500)
    eng.finish()
    for part in eng.engines.values():
        joined = sum(s.peer is not None for s in part.states.values())
        assert joined and part.clock.peers["c|"][0] == joined


@pytest.mark.parametrize("companion", [False, True])
def test_a_firm_back_after_forget_days_counts_once_among_its_peers(companion: bool) -> None:
    # The gym PF is watched six days, gone four (forget_days is two), back six. Alone in its
    # partition it starts afresh at its return; with a bookshop's daily tickets there (PJ,
    # same partition) it is cut down to a stub while away. Either way it still counts once
    # among its peers, with the rate it joined them with.
    def daily(firm: str, category: str, days: Iterable[int], per_day: int) -> list[Enriched]:
        return [Enriched(f"{firm}-{d}-{i}", T0 + d * DAY + i * 3600, "310101", f"p{firm}{d}-{i}",
                         firm_key=firm, category=category) for d in days for i in range(per_day)]
    assert route("firm:PF") == route("firm:PJ")
    tickets = daily("PF", "健身", [*range(6), *range(10, 16)], per_day=2)
    if companion:
        # Three a day: event time moves with the third newest ticket (detectors.front).
        tickets += daily("PJ", "书店", range(16), per_day=3)
    tickets.sort(key=lambda e: e.ts)
    eng = OfflineEngine(FORGETFUL, route)
    away = [e for e in tickets if e.ts < T0 + 10 * DAY]
    _feed_all(eng, away, 50)
    part = eng.engines[route("firm:PF")]
    joined = [list(part.clock.peers[g]) for g in ("健身|310101", "健身|")]
    assert joined[0][0] == 1.0 and joined[0][1] > 0 and joined[0] == joined[1]
    assert ("firm:PF" in part.stubs) == companion
    _feed_all(eng, tickets[len(away):], 50)
    eng.finish()
    pf = part.state("firm:PF")
    assert pf.order[0] >= bucket_of(T0 + 10 * DAY) and pf.base_exposure > 3 * 96  # started afresh, watched again
    assert [part.clock.peers[g] for g in ("健身|310101", "健身|")] == joined
    assert pf.peer == joined[0][1]


def test_forgetting_does_not_depend_on_batching(quiet: list[Enriched]) -> None:
    tickets = sorted(quiet + burst("GD", T0 + 10 * DAY, hours=3, people=15), key=lambda e: e.ts)
    assert run(tickets, batch=500, cfg=FORGETFUL) == run(tickets, batch=137, cfg=FORGETFUL)


def test_an_engine_restarted_from_its_store_forgets_as_one_that_never_stopped(quiet: list[Enriched]) -> None:
    tickets = sorted(quiet + burst("GD", T0 + 10 * DAY, hours=3, people=15), key=lambda e: e.ts)
    straight = OfflineEngine(FORGETFUL, route)
    expected = _feed_all(straight, tickets, 400) + straight.finish()
    half = len(tickets) // 2
    eng = OfflineEngine(FORGETFUL, route)
    out = _feed_all(eng, tickets[:half], 400)
    for p, old in list(eng.engines.items()):  # what a store holds after flushes (stubs included)
        saved = dict(old.take_dirty())
        eng.engines[p] = PartitionEngine(p, eng.config, load=saved.get, clock=old.clock_dict())
    out += _feed_all(eng, tickets[half:], 400) + eng.finish()
    assert out == expected and opened(out, GROUP_DISPUTE)
    for p, e in eng.engines.items():  # every key loaded since the restart is what the other holds
        for tk, s in e.states.items():
            assert encode_key(s) == encode_key(straight.engines[p].states[tk]), tk


def run_sources(tickets: list[Enriched], cfg: DetectConfig, seed: int, restart_at: int | None = None) -> list:
    """As the stream runs: four ticket partitions read in random turns and batch sizes (so a
    key's buckets arrive out of order, as far apart as the sources drift), each delta message
    carrying every source's progress, engines flushed now and then to a store, and, at
    *restart_at* tickets, rebuilt from it. Decisions through the alert stage."""
    from detectors.stage import AlertStage

    cfg = replace(cfg, sources=4)
    rng = random.Random(seed)
    srcs = {str(k): [t for t in tickets if int(t.ticket_id[-3:]) % 4 == k] for k in range(4)}
    pos = dict.fromkeys(srcs, 0)
    newest: dict[str, float | None] = dict.fromkeys(srcs)
    agg = Aggregator(cfg, route)
    stores: dict[int, dict] = {p: {} for p in range(cfg.partitions)}
    engines = {p: PartitionEngine(p, cfg, load=stores[p].get) for p in stores}
    stage = AlertStage(cfg.partitions)
    out: list = []
    turns = 0
    while any(pos[s] < len(srcs[s]) for s in srcs):
        s = rng.choice([s for s in srcs if pos[s] < len(srcs[s])])
        batch = srcs[s][pos[s]:pos[s] + rng.randint(20, 200)]
        pos[s] += len(batch)
        for e in batch:
            agg.add(e)
        newest[s] = batch[-1].ts
        for p, m in sorted(agg.drain({x: [newest[x], pos[x] >= len(srcs[x])] for x in srcs}).items()):
            decided = engines[p].apply(m)
            out.extend(stage.offer(p, engines[p].done_to(), decided))
        turns += 1
        restart = restart_at is not None and sum(pos.values()) >= restart_at
        if turns % 5 == 0 or restart:
            for p, e in engines.items():
                stores[p].update(e.take_dirty())
        if restart:
            restart_at = None
            engines = {p: PartitionEngine(p, cfg, load=stores[p].get, clock=e.clock_dict()) for p, e in engines.items()}
    return out + stage.finish([d for e in engines.values() for d in e.finish()])


def test_forgetting_decides_the_same_whatever_order_the_sources_deliver_in(quiet: list[Enriched]) -> None:
    tickets = sorted(quiet + burst("GD", T0 + 10 * DAY, hours=3, people=15), key=lambda e: e.ts)
    expected = sorted(run(tickets, batch=400, cfg=FORGETFUL), key=decision_order)
    assert opened(expected, GROUP_DISPUTE)
    for seed in (0, 1):
        assert sorted(run_sources(tickets, FORGETFUL, seed), key=decision_order) == expected
    assert sorted(run_sources(tickets, FORGETFUL, 2, restart_at=len(tickets) // 2), key=decision_order) == expected


def test_labels_and_categories_do_not_depend_on_the_order_sources_deliver_in(quiet: list[Enriched]) -> None:
    # The firm's tickets name it two ways and give two categories, as real exports do: the
    # alerts carry the label its newest bucket gives at each tick, however sources interleave.
    spelled = [replace(e, firm_label=("甲店", "上海甲店有限公司")[i % 2], category=("c", "健身")[i % 3 == 0])
               for i, e in enumerate(burst("GD", T0 + 10 * DAY, hours=3, people=15))]
    tickets = sorted(quiet + spelled, key=lambda e: e.ts)
    expected = sorted(run(tickets, batch=400), key=decision_order)
    assert {d.label for d in expected if d.key == "SHOP"} == {"甲店", "上海甲店有限公司"}  # both at work
    for seed in (0, 1, 2):
        assert sorted(run_sources(tickets, CFG, seed), key=decision_order) == expected


def test_a_ticket_id_counted_before_a_restart_counts_once_after_it() -> None:
    """The ids kept for deduplication are persisted by bucket and loaded back: a copy that
    comes after a restart is still taken out, by partitions that restarted from their table."""
    tickets = sorted(background(3, 9, firms=120) + burst("GD", T0 + 8 * DAY, hours=3, people=15), key=lambda e: e.ts)
    expected = run(tickets, batch=250)
    half = len(tickets) // 2
    resent = tickets[half - 300:half]  # the export's last part, sent again after the restart
    eng = OfflineEngine(CFG, route)
    out = [d for c in iter_chunks(tickets[:half], 250) for d in eng.feed(c)]
    for p, old in list(eng.engines.items()):
        saved = {tk: encode_key(old.states[tk]) for tk in old.states}
        seen = {b: list(ids) for b, ids in old.take_seen().items() if ids}
        assert not old.take_seen()  # taken: nothing changed since
        eng.engines[p] = PartitionEngine(p, eng.config, load=saved.get, clock=old.clock_dict(), load_seen=seen.get)
    out += eng.feed(resent)
    out += [d for c in iter_chunks(tickets[half:], 250) for d in eng.feed(c)]
    out += eng.finish()
    assert out == expected
    assert sum(e.clock.duplicates for e in eng.engines.values()) == len(resent)


def test_a_quiet_source_closes_a_bucket_by_the_wall_clock_when_messages_carry_it() -> None:
    eng = PartitionEngine(0, CFG)
    b = bucket_of(T0)
    delta = [[b, 1, ["p"], ["T1"], {}, {}, {}, {}, 0.0, "退费", ""]]
    quiet = {"0": [T0, True, [T0 - 2, T0 - 1, T0]]}
    end = (b + 1) * 900
    # Live (the wall clock just past the bucket's end): the pause closes nothing yet.
    eng.apply({"v": 2, "k": [["term", "退费", delta]], "w": quiet, "c": end + 1.0})
    assert eng.clock.last_tick < b
    eng.apply({"v": 2, "k": [], "w": quiet, "c": end + CFG.lateness_seconds})
    assert eng.clock.last_tick == b
    # Offline (no clock) or a replay of history (a clock far ahead): the pause closes it.
    for extra in ({}, {"c": T0 + 365 * DAY}):
        eng = PartitionEngine(0, CFG)
        eng.apply({"v": 2, "k": [["term", "退费", delta]], "w": quiet, **extra})
        assert eng.clock.last_tick == b


def test_a_commit_holds_one_keys_stored_form_at_a_time() -> None:
    # In a replay nearly every key is dirty at each commit: their stored forms built all at
    # once were a second copy of the engine's state, most of a worker's peak.
    import tracemalloc

    import orjson

    b = bucket_of(T0)
    people = [f"p_{i:032}" for i in range(30)]
    ids = [f"T{i:040}" for i in range(30)]
    eng = PartitionEngine(0, CFG)
    eng.apply({"v": 2, "w": {"0": [T0, False, [T0]]}, "k": [
        ["term", f"词{k}", [[b, 30, people, ids, {"闭店": 30}, {"F": 30}, {}, {"310115": 30}, 0.0, "", ""]]]
        for k in range(2000)]})
    stored = sum(len(orjson.dumps(encode_key(s))) for s in eng.states.values())
    tracemalloc.start()
    try:
        written = sum(len(orjson.dumps(v)) for _, v in eng.take_dirty())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == stored > 2_000_000 and peak < stored / 10
