"""Are the research river detectors (``detectors.river_research``) calibrated, and does ``RateDetector`` work on series that are not ours?

Calibration: on clean seeded series (no anomalies), the share of observations with tail
probability p <= alpha should be about alpha; that is what lets one false-alarm budget
be one threshold, ``score_of(alpha)``, on every detector.

Generality: ``RateDetector`` on a real-valued seasonal series (a temperature-like daily
cycle with drift and Gaussian noise) with injected spikes and temporary level shifts,
judged at the budget threshold, scoring each hour before learning it. Recall: events
with an alarm while they last. Precision: alarms inside an event (or the three hours
after a shift, its return). Figures are pooled over seeds, never one lucky seed.
Print them with

    .venv/bin/python tests/test_detectors/test_river_research_eval.py
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from detectors.baseline import Rhythm
from detectors.river_research import CountRateDetector, RateDetector
from detectors.scores import p_of, score_of
from detectors.windows import bucket_of

MONDAY = 1741536000  # 2025-03-10 00:00 +08:00
HOUR = 3600
SEEDS = range(10)
ALPHA = 1e-3  # the budget per observation: one false alarm in about six weeks of hourly data


@dataclass(frozen=True)
class Event:
    start: int
    end: int  # exclusive; alarms until end + RECOVERY still belong to the event
    kind: str


RECOVERY = 3  # the return from a level shift is part of the same event


def seasonal_series(seed: int, days: int = 56, events: bool = True) -> tuple[list[float], list[Event]]:
    """Hourly values: daily cycle + slow random-walk drift + N(0, 1) noise, then anomalies.

    Anomalies start after the first week (the detector's warm-up) and are at least two days
    apart: spikes of 4-8 sigma either way, and level shifts of 3-6 sigma lasting 6-24 hours.
    """
    rng = random.Random(seed)
    drift, ys = 0.0, []
    for i in range(24 * days):
        drift += rng.gauss(0.0, 0.02)
        ys.append(15.0 + drift + 5.0 * math.sin(2 * math.pi * ((i % 24) - 9) / 24) + rng.gauss(0.0, 1.0))
    out: list[Event] = []
    i = 24 * 7 + rng.randrange(48)
    while events and i < len(ys) - 48:
        sign = rng.choice((-1.0, 1.0))
        if rng.random() < 0.5:
            ys[i] += sign * rng.uniform(4.0, 8.0)
            out.append(Event(i, i + 1, "spike"))
        else:
            length, size = rng.randint(6, 24), sign * rng.uniform(3.0, 6.0)
            for j in range(i, min(i + length, len(ys))):
                ys[j] += size
            out.append(Event(i, i + length, "shift"))
        i = out[-1].end + 48 + rng.randrange(48)
    return ys, out


def run(det: RateDetector | CountRateDetector, key: str, values: list[float]) -> list[float]:
    """Prequential: each observation is scored, then learned, as a stream would see it."""
    scores = []
    for i, v in enumerate(values):
        x = {"t": MONDAY + HOUR * i, key: v}
        scores.append(det.score_one(x))
        det.learn_one(x)
    return scores


def judge(scores: list[float], events: list[Event], alpha: float = ALPHA, skip: int = 24 * 7) -> dict[str, float]:
    threshold = score_of(alpha)
    alarms = {i for i, s in enumerate(scores) if s >= threshold and i >= skip}
    inside = set()
    for e in events:
        inside |= set(range(e.start, e.end + (RECOVERY if e.kind == "shift" else 0)))
    caught = [e for e in events if any(e.start <= i < e.end for i in alarms)]
    delays = [min(i for i in alarms if e.start <= i < e.end) - e.start for e in caught]
    clean = len(scores) - skip - len(inside)
    return {"events": len(events), "caught": len(caught), "alarms": len(alarms),
            "true_alarms": len(alarms & inside), "false_alarms": len(alarms - inside), "clean": clean,
            "spikes": sum(e.kind == "spike" for e in events),
            "spikes_caught": sum(e.kind == "spike" for e in caught), "delay_sum": sum(delays)}


def pooled(det_factory: Callable[[], RateDetector], seeds: range = SEEDS) -> dict[str, float]:
    total: dict[str, float] = {}
    for seed in seeds:
        ys, events = seasonal_series(seed)
        for k, v in judge(run(det_factory(), "y", ys), events).items():
            total[k] = total.get(k, 0) + v
    return total


def rate_detector() -> RateDetector:
    return RateDetector(seasonality="daily")


# Calibration is judged after two weeks: the first weeks are deliberately conservative
# (a young scale or dispersion estimate carries the misfit of the warm-up).
JUDGED_FROM = 24 * 14


def clean_exceedances(scores: list[float], alpha: float, skip: int) -> float:
    """Share of judged observations whose tail probability is at most alpha."""
    judged = scores[skip:]
    return sum(p_of(s) <= alpha for s in judged) / len(judged)


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_rate_detector_is_calibrated_on_clean_seasonal_data(alpha: float) -> None:
    shares = [clean_exceedances(run(rate_detector(), "y", seasonal_series(seed, events=False)[0]), alpha, JUDGED_FROM)
              for seed in SEEDS]
    assert 0.5 * alpha <= sum(shares) / len(shares) <= 1.5 * alpha, shares


def poisson(rng: random.Random, mean: float) -> int:
    """Inversion sampling: fine for the means here (< 60)."""
    u, k, p = rng.random(), 0, math.exp(-mean)
    cum = p
    while u > cum:
        k += 1
        p *= mean / k
        cum += p
    return k


def hotline_counts(seed: int, days: int = 42, per_hour: float = 20.0, shape: float | None = None) -> list[int]:
    """Poisson counts in the hotline's weekly rhythm; with *shape*, each hour's rate is also
    Gamma(shape)-distributed around it (Negative Binomial counts, burstier than Poisson)."""
    usual, rng = Rhythm(), random.Random(seed)
    out = []
    for i in range(24 * days):
        mean = per_hour * usual.factor(bucket_of(MONDAY + HOUR * i))
        out.append(poisson(rng, mean * (rng.gammavariate(shape, 1 / shape) if shape else 1.0)))
    return out


@pytest.mark.parametrize("shape", [None, 4.0], ids=["poisson", "overdispersed"])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_count_detector_is_calibrated_on_clean_hotline_counts(alpha: float, shape: float | None) -> None:
    # Counts are discrete, so P(N >= n) <= alpha happens at most alpha of the time: the
    # share may fall below alpha (conservative), never far above it. Bursty counts are
    # judged by the learned dispersion; Poisson tails would flag several times alpha.
    shares = [clean_exceedances(run(CountRateDetector(), "n", hotline_counts(seed, shape=shape)), alpha, JUDGED_FROM)
              for seed in SEEDS]
    assert 0.3 * alpha <= sum(shares) / len(shares) <= 1.5 * alpha, shares


def test_rate_detector_finds_spikes_and_shifts_on_a_series_that_is_not_ours() -> None:
    t = pooled(rate_detector)
    recall, precision = t["caught"] / t["events"], t["true_alarms"] / t["alarms"]
    false_alarm_rate = t["false_alarms"] / t["clean"]
    # Floors a little under what ten seeds measure (see the module docstring for the command).
    assert recall >= 0.8, t
    assert precision >= 0.95, t
    assert false_alarm_rate <= 2 * ALPHA, t


if __name__ == "__main__":
    print(f"RateDetector(seasonality='daily') on {len(SEEDS)} seeded 8-week hourly series, "
          f"alarm at score >= score_of({ALPHA:g}) = {score_of(ALPHA)}")
    print("seed  events caught  alarms false  recall precision")
    for seed in SEEDS:
        ys, events = seasonal_series(seed)
        r = judge(run(rate_detector(), "y", ys), events)
        print(f"{seed:4d}  {r['events']:6d} {r['caught']:6d}  {r['alarms']:6d} {r['false_alarms']:5d}"
              f"  {r['caught'] / r['events']:6.2f} {r['true_alarms'] / max(r['alarms'], 1):9.2f}")
    t = pooled(rate_detector)
    print(f"pooled: recall {t['caught'] / t['events']:.3f} ({t['caught']:.0f}/{t['events']:.0f}; spikes "
          f"{t['spikes_caught']:.0f}/{t['spikes']:.0f}, shifts {t['caught'] - t['spikes_caught']:.0f}/"
          f"{t['events'] - t['spikes']:.0f}), precision {t['true_alarms'] / t['alarms']:.3f}, "
          f"false alarms {t['false_alarms']:.0f} in {t['clean']:.0f} clean hours "
          f"({t['false_alarms'] / t['clean']:.2e} vs budget {ALPHA:g}), "
          f"mean delay {t['delay_sum'] / t['caught']:.2f} h")
    for alpha in (0.05, 0.01, 0.001):
        rate = [clean_exceedances(run(rate_detector(), "y", seasonal_series(s, events=False)[0]), alpha, JUDGED_FROM)
                for s in SEEDS]
        count = [clean_exceedances(run(CountRateDetector(), "n", hotline_counts(s)), alpha, JUDGED_FROM)
                 for s in SEEDS]
        bursty = [clean_exceedances(run(CountRateDetector(), "n", hotline_counts(s, shape=4.0)), alpha, JUDGED_FROM)
                  for s in SEEDS]
        print(f"calibration, share of clean points with p <= {alpha:g}: RateDetector "
              f"{sum(rate) / len(rate):.4f}, CountRateDetector {sum(count) / len(count):.4f} (Poisson), "
              f"{sum(bursty) / len(bursty):.4f} (Negative Binomial, shape 4)")
