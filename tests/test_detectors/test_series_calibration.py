"""Is ``detectors.series.SeriesDetector`` calibrated on series shaped like real ones, not only on Gaussians?

Seen on a public benchmark of 58 real-world series (issue 16, item 9): 6.5 % of normal points
at p < 0.01 and 2.95 % at p < 1e-9 from a Student-t tail, and on mostly-zero series a
scale that collapsed so that any blip scored p ~ 1e-300. No such data is reachable here, so
the series are built to have what made it fail, each family with its own seeds:

- ``machine``: a CPU-like percentage, daily and weekly rhythm, Student t (5 dof) noise, clipped to [0, 100];
- ``latency``: log-normal (skewed, heavy right tail) around a daily cycle;
- ``sparse``: zero-inflated counts, zero nine hours in ten, in the hotline's weekly rhythm, bursty (NB shape 0.5);
- ``traffic``: over-dispersed counts (NB, mean 30 in the weekly rhythm, shape 8);
- ``drift``: a temperature-like AR(1) (phi 0.9) around a daily cycle, on a random-walk drift;
- ``steps``: a quantised metric (a disk's whole percent) that steps by one now and then.

Into each go labelled anomalies: bursts of 1-4 points (up to or past the noise's 1e-4
quantile: a CPU at 40-60 points more, a latency or a count 3-6 times) and permanent level
shifts (a few times the noise's scale); a shift's label covers its first 24 points, the
time to take the new level. Normal points are the unlabelled ones after two weeks (the
warm-up). The tests: the share of normal points with p < alpha is about alpha (alpha = 0.05,
0.01, 0.001, pooled, and at most twice alpha in every family: discrete families may sit
below), almost none have p < 1e-6, a mostly-zero series' blips never look impossible, and
bursts are still found at a tight budget. Print the table with

    PYTHONPATH=. .venv/bin/python tests/test_detectors/test_series_calibration.py
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import cache

import pytest

from detectors.baseline import Rhythm
from detectors.series import SeriesDetector
from detectors.windows import bucket_of

MONDAY = 1741536000  # 2025-03-10 00:00 +08:00
HOUR = 3600
WEEKS = 10
N = WEEKS * 7 * 24
JUDGED_FROM = 14 * 24  # two weeks of warm-up
SEEDS = range(12)
SHIFT_LABEL = 24  # a shift's first points are labelled: the detector takes the new level in that time
ALPHAS = (0.05, 0.01, 0.001)
_USUAL = Rhythm()  # the hotline's usual week, to simulate from


def _nb(rng: random.Random, mean: float, shape: float) -> int:
    """Negative Binomial: Poisson of a Gamma-distributed rate."""
    lam = rng.gammavariate(shape, mean / shape) if mean > 0 else 0.0
    n, clock = 0, rng.expovariate(1.0)
    while clock < lam:
        n, clock = n + 1, clock + rng.expovariate(1.0)
    return n


def _student_t(rng: random.Random, dof: float) -> float:
    return rng.gauss(0.0, 1.0) / math.sqrt(rng.gammavariate(dof / 2, 2.0) / dof)


def _daily(i: int, peak_hour: int = 14) -> float:
    return math.cos(2 * math.pi * ((i % 24) - peak_hour) / 24)


def _weekly(i: int) -> float:
    return _USUAL.factor(bucket_of(MONDAY + HOUR * i))


def machine(rng: random.Random) -> list[float]:
    return [min(100.0, max(0.0, 40 + 15 * _daily(i) * (0.7 if (i // 24) % 7 >= 5 else 1.0) + 3 * _student_t(rng, 5)))
            for i in range(N)]


def latency(rng: random.Random) -> list[float]:
    return [math.exp(math.log(120) + 0.3 * _daily(i, 20) + 0.25 * rng.gauss(0, 1)) for i in range(N)]


def sparse(rng: random.Random) -> list[float]:
    return [float(_nb(rng, 0.12 * _weekly(i), 0.5)) for i in range(N)]


def traffic(rng: random.Random) -> list[float]:
    return [float(_nb(rng, 30 * _weekly(i), 8.0)) for i in range(N)]


def drift(rng: random.Random) -> list[float]:
    level, ar, out = 20.0, 0.0, []
    for i in range(N):
        level += rng.gauss(0, 0.05)
        ar = 0.9 * ar + rng.gauss(0, 0.6)
        out.append(level + 4 * _daily(i) + ar)
    return out


def steps(rng: random.Random) -> list[float]:
    level, out = 63.0, []
    for _ in range(N):
        if rng.random() < 0.02:
            level += rng.choice((-1.0, 1.0))
        out.append(level + (rng.choice((-1.0, 1.0)) if rng.random() < 0.05 else 0.0))
    return out


def _plus(low: float, high: float) -> Callable[[random.Random, float], float]:
    return lambda rng, y: y + rng.uniform(low, high)


def _times(low: float, high: float, plus: int = 0) -> Callable[[random.Random, float], float]:
    return lambda rng, y: y * rng.uniform(low, high) + rng.randint(plus, 2 * plus)


# Each family: (clean values from a seed, a burst's value from the clean one, the size of a
# shift (either way), seasonality). Bursts are sized beyond the noise's 1e-4 quantile or
# about, so that a calibrated detector can find them at a budget of 1e-3.
FAMILIES: dict[str, tuple[Callable[[random.Random], list[float]], Callable[[random.Random, float], float],
                          tuple[float, float], str | None]] = {
    "machine": (machine, lambda rng, y: min(100.0, y + rng.uniform(40, 60)), (20.0, 35.0), "daily"),
    "latency": (latency, _times(3, 6), (40.0, 70.0), "daily"),
    "sparse": (sparse, _times(3, 6, 5), (2.0, 4.0), "weekly"),
    "traffic": (traffic, _times(3, 6), (50.0, 90.0), "weekly"),
    "drift": (drift, _plus(8, 20), (8.0, 12.0), "daily"),
    "steps": (steps, _plus(5, 15), (4.0, 8.0), None),
}


@cache
def series(family: str, seed: int) -> tuple[tuple[float, ...], frozenset[int], tuple[tuple[int, int], ...]]:
    """(values, labelled points, bursts as (start, end)) of one family and seed."""
    make, burst, shift, _ = FAMILIES[family]
    rng = random.Random(f"{family}-{seed}")
    ys = make(rng)
    labelled: set[int] = set()
    bursts: list[tuple[int, int]] = []
    i = JUDGED_FROM + rng.randrange(72)
    while i < N - 48:
        if rng.random() < 0.7:  # a burst
            length = rng.randint(1, 4)
            for j in range(i, i + length):
                ys[j] = burst(rng, ys[j])
            labelled.update(range(i, i + length))
            bursts.append((i, i + length))
        else:  # a permanent level shift
            size = rng.choice((-1, 1)) * rng.uniform(*shift)
            for j in range(i, N):
                ys[j] = max(0.0, ys[j] + size)
            labelled.update(range(i, i + SHIFT_LABEL))
        i += 48 + rng.randrange(24 * 7)
    return tuple(ys), frozenset(labelled), tuple(bursts)


@cache
def log_ps(family: str, seed: int) -> tuple[float, ...]:
    """Each point's log p, scored before it is learned (prequential), as a stream sees it."""
    ys, _, _ = series(family, seed)
    seasonality = FAMILIES[family][3]
    # a week of warm-up (two for the hours of the week): its first half learns plainly
    det = SeriesDetector(seasonality=seasonality, grace_period=336 if seasonality == "weekly" else 168)
    out = []
    for i, y in enumerate(ys):
        x = {"t": MONDAY + HOUR * i, "y": y}
        out.append(det.log_p(x))
        det.learn_one(x)
    return tuple(out)


def normal_log_ps(family: str) -> list[float]:
    out = []
    for seed in SEEDS:
        _, labelled, _ = series(family, seed)
        lps = log_ps(family, seed)
        out += [lp for i, lp in enumerate(lps) if i >= JUDGED_FROM and i not in labelled]
    return out


def share_below(lps: list[float], alpha: float) -> float:
    return sum(lp < math.log(alpha) for lp in lps) / len(lps)


def test_normal_points_fall_below_alpha_about_alpha_of_the_time() -> None:
    pooled = [lp for f in FAMILIES for lp in normal_log_ps(f)]
    assert len(pooled) > 40_000
    for alpha in ALPHAS:
        assert 0.5 * alpha <= share_below(pooled, alpha) <= 1.5 * alpha, (alpha, share_below(pooled, alpha))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_no_family_is_far_over_its_budget(family: str) -> None:
    lps = normal_log_ps(family)
    for alpha, times in ((0.05, 2.0), (0.01, 2.0), (0.001, 3.0)):  # 1e-3: a family has ~7 such points
        assert share_below(lps, alpha) <= times * alpha, (family, alpha, share_below(lps, alpha))
    # the benchmark's 2.95 % below 1e-9: here at most a few points in ten thousand below 1e-6
    assert share_below(lps, 1e-6) <= 3e-4, (family, share_below(lps, 1e-6))


def test_blips_on_a_mostly_zero_series_never_look_impossible() -> None:
    for seed in SEEDS:
        ys = sparse(random.Random(f"clean-{seed}"))  # no anomalies: every blip is normal
        assert sum(y == 0.0 for y in ys) > 0.85 * N  # it is mostly zero
        det, blips = SeriesDetector(seasonality="weekly", grace_period=336), []
        for i, y in enumerate(ys):
            x = {"t": MONDAY + HOUR * i, "y": y}
            if i >= JUDGED_FROM and y > 0:
                blips.append(det.log_p(x))
            det.learn_one(x)
        # The benchmark's: ~1e-300. Here the least is 1.5e-6, an 8 where at most 3 had been
        # seen (the counts' own law says 3e-5): the fitted tail is thin at the far end.
        assert min(blips) > math.log(1e-7), (seed, min(blips))


def bursts_found(family: str, alpha: float = 1e-3) -> tuple[int, int]:
    """(bursts with a point at p < alpha, bursts) over the seeds."""
    found = total = 0
    for seed in SEEDS:
        _, _, bursts = series(family, seed)
        lps = log_ps(family, seed)
        total += len(bursts)
        found += sum(any(lps[j] < math.log(alpha) for j in range(a, b)) for a, b in bursts)
    return found, total


def test_bursts_are_still_found_at_a_tight_budget() -> None:
    # Calibration must not buy itself with blindness. Floors under what the seeds give
    # (pooled 416/511). The weakest is ``traffic`` (54/86): the model is additive, with one
    # scale for the whole day, so a night's 3 tickets tripled is within a day's noise;
    # counts in a rhythm are ``detectors.rate.CountRateDetector``'s to judge.
    by_family = {f: bursts_found(f) for f in FAMILIES}
    assert sum(f for f, _ in by_family.values()) >= 0.75 * sum(t for _, t in by_family.values()), by_family
    assert all(f >= 0.5 * t for f, t in by_family.values()), by_family


@pytest.mark.parametrize("family", ["machine", "drift", "steps"])  # shifts of 4-8 times the noise's scale
def test_a_level_shift_alarms_at_its_start(family: str) -> None:
    # Taken as the new level after six points, a shift must still alarm before that (it is
    # not learned away at once). The seeds give 29 of 40, 36 of 39, 35 of 37; elsewhere the
    # shifts are within about two of the noise's scales, which one point cannot tell.
    found = total = 0
    for seed in SEEDS:
        _, labelled, bursts = series(family, seed)
        lps = log_ps(family, seed)
        burst_starts = {a for a, _ in bursts}
        shifts = [i for i in sorted(labelled) if i - 1 not in labelled and i not in burst_starts]
        total += len(shifts)
        found += sum(any(lps[j] < math.log(1e-3) for j in range(i, i + 6)) for i in shifts)
    assert found >= 0.65 * total, (family, found, total)


if __name__ == "__main__":
    print(f"SeriesDetector on {len(FAMILIES)} families x {len(SEEDS)} seeds of {WEEKS}-week hourly series; "
          "share of normal points with p < alpha")
    print(f"{'family':8s} {'normal':>7s} " + " ".join(f"{a:>8g}" for a in (*ALPHAS, 1e-6)) + "  bursts found (p < 1e-3)")
    everything: list[float] = []
    for family in FAMILIES:
        lps = normal_log_ps(family)
        everything += lps
        found, total = bursts_found(family)
        print(f"{family:8s} {len(lps):7d} " + " ".join(f"{share_below(lps, a):8.4f}" for a in (*ALPHAS, 1e-6))
              + f"  {found}/{total}")
    print(f"{'pooled':8s} {len(everything):7d} " + " ".join(f"{share_below(everything, a):8.4f}" for a in (*ALPHAS, 1e-6)))
