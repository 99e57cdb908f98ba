"""One contract over every river detector of ``detectors.rate`` and ``detectors.series``, found by discovery, not by a list.

A detector added to either module is covered by these tests without touching this file. Each
runs with every parameter set its ``_unit_test_params`` yields (river's convention) on the
same seeded stream: hourly values around 50 from a Monday, whole numbers so count
detectors can take them too.
"""

from __future__ import annotations

import copy
import inspect
import pickle
import random
from datetime import datetime, timezone
from typing import Any

import pytest
from river import anomaly, base
from river.checks import common as river_checks

from detectors import rate, series
from detectors.scores import score_of

DETECTORS = sorted(
    (cls for module in (rate, series) for _, cls in inspect.getmembers(module, inspect.isclass)
     if issubclass(cls, base.AnomalyDetector) and cls.__module__ == module.__name__
     and not inspect.isabstract(cls)),
    key=lambda cls: cls.__name__,
)
CASES = [pytest.param(cls, params, id=f"{cls.__name__}-{i}")
         for cls in DETECTORS for i, params in enumerate(cls._unit_test_params())]

MONDAY = 1741536000  # 2025-03-10 00:00 +08:00
HOUR = 3600
STEPS = 14 * 24  # two weeks: longer than any unit-test grace period
NORMAL, SPIKE = 50, 150


def stream(cls: type, seed: int, steps: int = STEPS) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"t": MONDAY + HOUR * i, cls.VALUE_KEY: max(0, round(rng.gauss(NORMAL, 7)))}
            for i in range(steps)]


def point(cls: type, step: int, value: float) -> dict[str, Any]:
    return {"t": MONDAY + HOUR * step, cls.VALUE_KEY: value}


def trained(cls: type, params: dict[str, Any], seed: int = 1) -> Any:
    det = cls(**params)
    for x in stream(cls, seed):
        det.learn_one(x)
    return det


def test_discovery_finds_the_detectors() -> None:
    # Guards the discovery itself: an empty list would make every test below pass vacuously.
    assert {"CountRateDetector", "SeriesDetector"} <= {cls.__name__ for cls in DETECTORS}
    assert all(cls.__doc__ and "Examples" in cls.__doc__ and "References" in cls.__doc__ for cls in DETECTORS)


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_learn_one_returns_none_and_leaves_x_alone(cls: type, params: dict[str, Any]) -> None:
    det = cls(**params)
    for x in stream(cls, seed=2, steps=60):
        before = dict(x)
        assert det.learn_one(x) is None
        assert x == before


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_scoring_never_changes_state(cls: type, params: dict[str, Any]) -> None:
    fresh, det = cls(**params), trained(cls, params)
    for d in (fresh, det):
        snapshot = pickle.dumps(d)
        for x in (point(cls, STEPS, NORMAL), point(cls, STEPS, SPIKE), point(cls, STEPS + 500, 0),
                  point(cls, 0, NORMAL)):  # normal, spike, after a gap, from the past
            d.score_one(x)
        assert pickle.dumps(d) == snapshot


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_scores_are_in_the_unit_interval(cls: type, params: dict[str, Any]) -> None:
    det = cls(**params)
    scores = []
    for x in stream(cls, seed=3):
        scores.append(det.score_one(x))
        det.learn_one(x)
    scores += [det.score_one(point(cls, STEPS, v)) for v in (0, 1, NORMAL, SPIKE, 10**6)]
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    assert max(scores) < 1.0  # no pile-up at exactly 1.0, even for a value 20 000 times normal


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_warm_up_is_neutral(cls: type, params: dict[str, Any]) -> None:
    det = cls(**params)
    xs = stream(cls, seed=4)
    for x in xs[: det.grace_period]:
        assert det.score_one(x) == det.score_one(point(cls, 0, SPIKE)) == 0.0
        det.learn_one(x)
    assert det.score_one(point(cls, det.grace_period, SPIKE)) > 0.0  # and it ends


@pytest.mark.parametrize(("cls", "params"), CASES)
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_a_spike_after_a_stable_stream_scores_above_every_normal_point(
        cls: type, params: dict[str, Any], seed: int) -> None:
    det = trained(cls, params, seed)
    normal = []
    for x in stream(cls, seed + 100, steps=STEPS + 48)[STEPS:]:  # two more days, scored before learned
        normal.append(det.score_one(x))
        det.learn_one(x)
    spike = det.score_one(point(cls, STEPS + 48, SPIKE))
    assert spike > max(normal)
    assert spike > score_of(1e-4)  # and it clears a tight false-alarm budget


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_same_stream_same_scores(cls: type, params: dict[str, Any]) -> None:
    def run() -> list[float]:
        det, out = cls(**params), []
        for x in stream(cls, seed=8):
            out.append(det.score_one(x))
            det.learn_one(x)
        return out

    assert run() == run()


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_time_may_be_an_aware_datetime(cls: type, params: dict[str, Any]) -> None:
    det = trained(cls, params)
    x = point(cls, STEPS, SPIKE)
    as_datetime = dict(x, t=datetime.fromtimestamp(x["t"], tz=timezone.utc))
    assert det.score_one(as_datetime) == det.score_one(x)


@pytest.mark.parametrize(("cls", "params"), CASES)
def test_river_filters_wrap_it(cls: type, params: dict[str, Any]) -> None:
    budget = anomaly.ThresholdFilter(cls(**params), threshold=score_of(1e-4))
    quantile = anomaly.QuantileFilter(cls(**params), q=0.99)
    for f in (budget, quantile):
        for x in stream(cls, seed=9):
            f.learn_one(x)
        assert f.classify(f.score_one(point(cls, STEPS, SPIKE)))
    assert not budget.classify(budget.score_one(point(cls, STEPS, NORMAL)))


# river's own estimator checks that apply to an unsupervised detector fed our stream
# (the feature-dropping ones do not: every observation must carry its time and value).
_PLAIN_CHECKS = [
    river_checks.check_repr, river_checks.check_str, river_checks.check_tags, river_checks.check_doc,
    river_checks.check_clone_same_class, river_checks.check_clone_is_idempotent,
    river_checks.check_clone_changes_memory_addresses, river_checks.check_repr_roundtrips_clone,
    river_checks.check_clone_with_new_params_applies, river_checks.check_get_params_matches_signature,
    river_checks.check_mutate_can_be_idempotent, river_checks.check_init_has_default_params_for_tests,
    river_checks.check_init_default_params_are_not_mutable, river_checks.check_pickling_supports_roundtrip,
]
_STREAM_CHECKS = [
    river_checks.check_learn_one, river_checks.check_predict_one_pure, river_checks.check_pickling,
    river_checks.check_shuffle_features_no_impact, river_checks.check_clone_is_independent,
    river_checks.check_predict_one_before_any_learn, river_checks.check_no_state_aliasing_with_input,
]


@pytest.mark.parametrize(("cls", "params"), CASES)
@pytest.mark.parametrize("check", _PLAIN_CHECKS + _STREAM_CHECKS, ids=lambda c: c.__name__)
def test_river_estimator_checks(cls: type, params: dict[str, Any], check: Any) -> None:
    det = cls(**params)
    if check in _STREAM_CHECKS:
        check(det, [(x, None) for x in stream(cls, seed=10, steps=100)])
    else:
        check(copy.deepcopy(det))
