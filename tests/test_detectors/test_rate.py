"""``detectors.rate``: the engine's count judgement is one path, and ``CountRateDetector`` runs it alone.

One path: ``detectors.judge`` and ``detectors.partition`` reach the Gamma-Poisson maths only
through ``detectors.rate`` (no second copy of the predictive or the forgetting), so the
detector a user runs is the judgement the engine makes. Alone, on counts shaped like the
hotline's (its weekly rhythm; Poisson, or burstier), the detector with the engine's
dispersion cap is calibrated on the safe side: p < alpha at most about alpha of the time.
"""

from __future__ import annotations

import ast
import math
import random
from pathlib import Path

import pytest

from detectors.baseline import Prior, Rhythm, predictive
from detectors.config import PRIORS, DetectConfig
from detectors.decisions import FIRM
from detectors.partition import PartitionEngine
from detectors.rate import CountRateDetector, expected, forgetting
from detectors.scores import p_of, score_of_log_p
from detectors.tail import log_nb_sf
from detectors.windows import KeyState, bucket_of
from detectors.wire import Delta

ROOT = Path(__file__).resolve().parents[2]
MONDAY = 1741536000  # 2025-03-10 00:00 +08:00
HOUR = 3600


def _names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return ({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            | {f"{n.value.id}.{n.attr}" for n in ast.walk(tree)
               if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)})


def test_the_engine_has_no_second_copy_of_the_maths() -> None:
    judge, partition = _names(ROOT / "detectors/judge.py"), _names(ROOT / "detectors/partition.py")
    assert "expected" in judge and "predictive" not in judge
    assert "forgetting" in partition and "math.pow" not in partition


@pytest.mark.parametrize(("count", "exposure", "window", "cap"),
                         [(0.0, 0.0, 4.0, 3.0), (300.0, 100.0, 96.0, 3.0), (2.5, 700.0, 16.0, 30.0), (9.0, 5.0, 4.0, math.inf)])
def test_expected_is_the_predictive_with_its_shape_capped(count: float, exposure: float, window: float, cap: float) -> None:
    prior = Prior(0.01, 48)
    r, mean = predictive(count, exposure, prior, window)
    assert expected(count, exposure, prior, window, cap) == (min(r, cap), mean)  # to the last bit


def test_the_detector_forgets_and_adds_as_the_engine_folds_a_key() -> None:
    det = CountRateDetector(step_seconds=900, half_life=96.0)
    for step, n in enumerate([3, 0, 5, 1]):
        det.learn_one({"t": MONDAY + 900 * step, "n": n})
    det.learn_one({"t": MONDAY + 900 * 10, "n": 2})  # after five empty steps: they count as zero
    count = 0.0
    for elapsed, n in [(1, 3), (1, 0), (1, 5), (1, 1), (7, 2)]:
        count = count * forgetting(elapsed, 96.0) + n
    assert det._count == count


def test_the_detector_judges_a_key_as_the_engine_does() -> None:
    """A firm's hours learned by the partition (``PartitionEngine._learn``) and by the detector
    leave the same baseline to the last bit, and a one-hour window is judged alike: the
    engine's judge's exposure and ``expected``, ``log_nb_sf``, against ``score_one``."""
    cfg = DetectConfig(calendar="none")
    engine = PartitionEngine(0, cfg)
    prior = PRIORS[FIRM]
    det = CountRateDetector(prior_rate=4 * prior.rate, prior_steps=prior.weight / 4,
                            half_life=cfg.half_life_days * 24, dispersion=cfg.dispersion, grace_period=0)
    first = bucket_of(MONDAY)  # one local day: neither rhythm has a whole day to learn from yet
    engine.clock.first_tick = first - 1
    s = KeyState(FIRM, "f")
    rng = random.Random(3)
    for hour in range(20):
        if hour in (5, 6, 11):
            continue  # hours without a ticket: both count them as zero
        people = [f"p{rng.randrange(40)}" for _ in range(rng.randrange(1, 6))]
        s.add(Delta(bucket=first + 4 * hour, n=len(people), people=people))
        engine._learn(s, first + 4 * hour + 3)
        det.learn_one({"t": MONDAY + HOUR * hour, "n": len(set(people))})
        assert (det._count, det._exposure) == (s.base_people, s.base_exposure)
    t = first + 4 * 20 + 3  # the next hour's window ends at its last bucket
    (width, exposure), *_ = engine.judge.exposures(t, "")
    assert width == 4
    for k in (1, 4, 12):
        r, mean = expected(s.base_people, s.base_exposure, engine.judge.prior(s), exposure, cfg.dispersion)
        assert det.score_one({"t": MONDAY + HOUR * 20, "n": k}) == score_of_log_p(log_nb_sf(k, r=r, mean=mean))


def poisson(rng: random.Random, mean: float) -> int:
    n, clock = 0, rng.expovariate(1.0)
    while clock < mean:
        n, clock = n + 1, clock + rng.expovariate(1.0)
    return n


@pytest.mark.parametrize("shape", [None, 4.0], ids=["poisson", "overdispersed"])
@pytest.mark.parametrize("per_hour", [0.3, 3.0])
def test_the_detector_errs_on_the_safe_side_on_hotline_counts(per_hour: float, shape: float | None) -> None:
    usual, shares = Rhythm(), {0.05: [], 0.01: []}
    for seed in range(6):
        rng, det, ps = random.Random(seed), CountRateDetector(), []
        for i in range(42 * 24):
            x = {"t": MONDAY + HOUR * i}
            mean = per_hour * usual.factor(bucket_of(x["t"]))
            x["n"] = poisson(rng, mean * (rng.gammavariate(shape, 1 / shape) if shape else 1.0))
            if i >= 14 * 24:
                ps.append(p_of(det.score_one(x)))
            det.learn_one(x)
        for alpha, got in shares.items():
            got.append(sum(p < alpha for p in ps) / len(ps))
    for alpha, got in shares.items():
        assert sum(got) / len(got) <= 1.2 * alpha, (alpha, got)
