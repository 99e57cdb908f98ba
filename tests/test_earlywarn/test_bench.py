"""``earlywarn bench`` end to end on the embedded broker, small: every path measured, every
figure present and consistent. Nothing here asserts on speed."""

from __future__ import annotations

import argparse

import pytest

from earlywarn import bench
from streams.broker import EmbeddedBroker

PATHS = ("raw_per_s", "faust_per_s", "engine_per_s", "detect_per_s")


def test_stage_seconds_reads_the_worker_timings() -> None:
    text = ('# HELP earlywarn_processing_seconds ...\n'
            'earlywarn_processing_seconds_sum{stage="ingest_batch"} 2.5\n'
            'earlywarn_processing_seconds_count{stage="ingest_batch"} 7.0\n'
            'earlywarn_processing_seconds_sum{stage="windows_message"} 1.25\n')
    assert bench._stage_seconds(text) == {"ingest_batch": 2.5, "windows_message": 1.25}


def test_bench_measures_every_path_in_every_round(broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]) -> None:
    res = bench.run(1500, broker.bootstrap, repeat=2)
    assert res["tickets"] == 1500.0
    assert len(res["rounds"]) == 2
    for r in res["rounds"]:
        assert all(r[k] > 0 for k in PATHS)
        # The engine's split of its time adds up to its rate.
        per_ticket = r["engine_ingest_us"] + r["engine_windows_us"] + r["engine_other_us"]
        assert per_ticket == pytest.approx(1e6 / r["engine_per_s"], rel=1e-6)
        assert r["engine_ingest_us"] > 0 and r["engine_windows_us"] > 0
        assert 0 < r["engine_delta_messages_per_ticket"] < 1  # pre-aggregated: far fewer messages than tickets
    for k in PATHS:  # a median of two is their mean
        assert res[k] == pytest.approx(sum(r[k] for r in res["rounds"]) / 2)
    ratios = [r["engine_per_s"] / r["faust_per_s"] for r in res["rounds"]]
    assert res["engine_over_faust"] == pytest.approx(sum(ratios) / 2)


def test_bench_refuses_a_round_count_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(argparse.Namespace(tickets=100, repeat=0, json=False, broker=None)) == 2
    assert "--repeat" in capsys.readouterr().err


def _tickets(n: int) -> list[dict]:
    from earlywarn.simulate import SimConfig, generate

    tickets, _ = generate(SimConfig(seed=11, days=1.0))
    return [t for _, t in zip(range(n), tickets)]


def test_realistic_subscriptions_are_narrow_of_every_kind_and_match_a_few_per_cent() -> None:
    from collections import Counter

    from detectors.watchlist import Sub, Watchlist

    tickets = _tickets(4000)
    picked = bench.realistic_subscriptions(tickets, 200)
    assert len(picked) == len(set(picked)) == 200
    assert picked == bench.realistic_subscriptions(tickets, 200)  # seeded
    assert set(Counter(kind for kind, _ in picked)) == {"firm", "product", "term"}
    subs = [Sub(str(i), kind, value, "r") for i, (kind, value) in enumerate(picked)]
    per_sub = Counter(s.id for t in tickets for s, _ in Watchlist(subs).match_ticket(t))
    assert max(per_sub.values()) <= bench.NARROW * len(tickets)
    matched = sum(1 for t in tickets if Watchlist(subs).match_ticket(t))
    assert 0.01 * len(tickets) < matched < 0.10 * len(tickets)


@pytest.mark.slow
@pytest.mark.redis
def test_bench_compares_the_engine_with_and_without_subscriptions_and_times_notify(
        broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_alerts.conftest import REDIS_URL

    res = bench.run(800, broker.bootstrap, repeat=1, subscriptions=40, redis_url=REDIS_URL)
    (r,) = res["rounds"]
    assert r["engine_subs_per_s"] > 0 and r["engine_subs_ingest_us"] > 0
    assert r["engine_subs_over_engine"] == pytest.approx(r["engine_subs_per_s"] / r["engine_per_s"])
    assert r["ingest_subs_over_ingest"] == pytest.approx(r["engine_subs_ingest_us"] / r["engine_ingest_us"])
    # Notify's ticket loop built and queued every match's event (the budget lifted), and a few per cent matched.
    assert r["notify_per_s"] > 0 and r["notify_cpu_us"] > 0
    assert 0 < r["notify_events"] == r["subscription_matches"]
    assert 0 < r["subscription_tickets_matched"] < 0.2
