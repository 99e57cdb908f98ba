"""A key's count judgement, the one the engine runs, as a river anomaly detector anyone can use alone.

The engine judges every key (a firm, a product, a term …) the same way: its counts per
bucket feed a Gamma-Poisson rate, exponentially forgotten (``forgetting``), and the count
in a window is judged by the Negative Binomial that rate predicts, with its shape capped
by a dispersion (``expected``; complaint counts are far burstier than Poisson) and its
tail in log space (``detectors.tail.log_nb_sf``). Those functions are the maths:
``detectors.partition`` forgets a key's baseline with ``forgetting``, ``detectors.judge``
expects its windows with ``expected`` and ``log_nb_sf``, and ``CountRateDetector`` is the
same three behind river's contract (``learn_one`` / ``score_one``), so the judgement can be
run, tested and compared alone, on any count series. The engine keeps a key's two numbers
(forgotten count and exposure) in its ``KeyState``, persisted with the key; the detector
keeps them in itself.

>>> from detectors.baseline import Prior
>>> r, mean = expected(0.0, 0.0, Prior(0.01, 48), 4.0, 3.0)   # nothing learned: the prior
>>> round(r, 2), round(mean, 2)
(0.48, 0.04)
>>> r, mean = expected(300.0, 100.0, Prior(0.01, 48), 4.0, 3.0)   # three a bucket learned
>>> r, round(mean, 2)   # the shape capped at the dispersion
(3.0, 8.12)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from river import base

from detectors.baseline import Prior, Rhythm
from detectors.scores import score_of_log_p
from detectors.tail import log_nb_sf
from detectors.windows import BUCKET_SECONDS, bucket_of

__all__ = ["CountRateDetector", "expected", "forgetting"]


def forgetting(elapsed: float, half_life: float) -> float:
    """The weight left to what was learned *elapsed* buckets ago, with a *half_life* in buckets."""
    return math.pow(0.5, elapsed / half_life)


def expected(count: float, exposure: float, prior: Prior, window_exposure: float,
             dispersion: float) -> tuple[float, float]:
    """(shape r, mean) of the Negative Binomial count over a window of *window_exposure*.

    The rate's Gamma posterior has shape ``prior.shape + count`` and rate ``prior.weight +
    exposure`` (``detectors.baseline.predictive``); the shape is capped at *dispersion*.
    """
    alpha = prior.shape + count
    return min(alpha, dispersion), alpha / (prior.weight + exposure) * window_exposure


def _epoch(t: Any) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


class CountRateDetector(base.AnomalyDetector):
    """Counts per time step judged as the engine judges a key: forgotten Gamma-Poisson, capped Negative Binomial.

    ``x = {"t": start of the step (epoch seconds or an aware datetime), "n": the count in
    the step}``, steps in time order. Learning folds a step in as the engine's partition
    folds a key's closed buckets: what was learned is forgotten over the buckets since
    (``forgetting``), then the step's count and its exposure (its length in buckets,
    weighted by an hour-of-week rhythm, ``detectors.baseline.Rhythm``, learned from the
    series) are added. Time between steps learned counts as zero, as a bucket with no
    ticket does in the engine: send every step or leave out only empty ones. A step
    already covered adds its count and no exposure. Scoring judges a step's count by
    ``P(N >= n)`` under ``expected`` (one-sided: early warning is about surges; a quiet
    step is no alarm), as ``detectors.scores.score_of_log_p``: ``1 - p``, squeezed below
    p = 1e-9 so strong alarms keep their order. What the engine adds around this (several
    windows, distinct people instead of tickets, the false-alarm budget split over the
    judgements of a day, peers' priors) is ``detectors.judge``'s.

    The engine's parameters are the defaults: one-hour steps (its shortest window), a
    28-day half-life, the dispersion cap of 3 it uses for firms, products and terms (30 for
    districts), a prior worth half a day. The prior's rate, one in ten steps, is a general
    series' (the engine's are per dimension: ``detectors.config.PRIORS``, a firm's one a
    month). ``dispersion=math.inf`` gives the uncapped Gamma-Poisson.

    Parameters
    ----------
    step_seconds
        Length of the step a count covers; a multiple of 900 s (the engine's bucket).
    prior_rate
        Expected count per step before anything is learned.
    prior_steps
        Weight of that prior, in steps of data.
    half_life
        Half-life of what is learned, in steps (672 hourly steps: the engine's 28 days).
    dispersion
        Cap on the Negative Binomial's shape: the lower, the burstier counts may be.
    grace_period
        Steps learned before scores leave the neutral 0.0 (a week of hourly steps lets the
        rhythm learn the hours of the day).

    Examples
    --------

    >>> import random
    >>> from detectors.baseline import Rhythm
    >>> from detectors.windows import bucket_of
    >>> usual, rng = Rhythm(), random.Random(7)   # the hotline's usual week, to simulate from
    >>> def hour_count(t):   # Poisson, about 2 an hour on average (a busy firm), in the hotline's weekly shape
    ...     n, clock = 0, rng.expovariate(1.0)
    ...     while clock < 2 * usual.factor(bucket_of(t)):
    ...         n, clock = n + 1, clock + rng.expovariate(1.0)
    ...     return n
    >>> det = CountRateDetector()
    >>> monday = 1741536000   # 2025-03-10 00:00 +08:00
    >>> det.score_one({"t": monday, "n": 30})   # nothing learned yet: neutral
    0.0
    >>> for step in range(14 * 24):   # two weeks
    ...     det.learn_one({"t": monday + 3600 * step, "n": hour_count(monday + 3600 * step)})
    >>> tuesday_10h = monday + 3600 * (15 * 24 + 10)   # expect about 4.7
    >>> normal, burst, spike = (det.score_one({"t": tuesday_10h, "n": n}) for n in (5, 20, 30))
    >>> round(normal, 2), round(burst, 4)   # bursts are common in complaints: 20 is p ~ 1e-3
    (0.62, 0.9991)
    >>> 1 - 1e-5 < spike < 1.0   # 30: p < 1e-5
    True

    References
    ----------
    [^1]: Gelman, A. et al., 2013. Bayesian Data Analysis, 3rd ed., section 2.6: the
    Gamma-Poisson model and its Negative Binomial predictive distribution.
    [^2]: Lambert, D., Liu, C., 2006. Adaptive thresholds: monitoring streams of network
    counts. Journal of the American Statistical Association 101(473), 78-88.
    [^3]: river, ``river.base.AnomalyDetector``: https://riverml.xyz/latest/api/anomaly/

    """

    VALUE_KEY = "n"

    def __init__(self, step_seconds: int = 3600, prior_rate: float = 0.1, prior_steps: float = 12.0,
                 half_life: float = 672.0, dispersion: float = 3.0, grace_period: int = 168) -> None:
        if step_seconds <= 0 or step_seconds % BUCKET_SECONDS:
            raise ValueError(f"step_seconds must be a positive multiple of {BUCKET_SECONDS}, not {step_seconds}")
        self.step_seconds = step_seconds
        self.prior_rate = prior_rate
        self.prior_steps = prior_steps
        self.half_life = half_life
        self.dispersion = dispersion
        self.grace_period = grace_period
        self._buckets_per_step = step_seconds // BUCKET_SECONDS
        # The engine's units: rates per bucket, exposure and half-life in (rhythm-weighted) buckets.
        self._prior = Prior(prior_rate / self._buckets_per_step, prior_steps * self._buckets_per_step)
        self._half_life = half_life * self._buckets_per_step
        self._rhythm = Rhythm()
        self._count = 0.0
        self._exposure = 0.0
        self._learned_to = -1  # the last bucket learned (KeyState.learned_to)
        self._learned = 0

    def _step(self, x: dict[str, Any]) -> tuple[int, int]:
        """The buckets (lo, hi] the step of *x* covers."""
        first = bucket_of(_epoch(x["t"]))
        return first - 1, first - 1 + self._buckets_per_step

    def learn_one(self, x: dict[str, Any]) -> None:
        lo, hi = self._step(x)
        n = float(x[self.VALUE_KEY])
        start = lo if self._learned_to < 0 else self._learned_to
        if hi <= start:  # a step already covered: its count only
            self._count += n
        else:
            decay = forgetting(hi - start, self._half_life)
            self._count = self._count * decay + n
            self._exposure = self._exposure * decay + self._rhythm.exposure(start, hi)
            self._rhythm.learn(lo + 1, n)
            self._learned_to = hi
        self._learned += 1

    def score_one(self, x: dict[str, Any]) -> float:
        if self._learned < self.grace_period:
            return 0.0
        lo, hi = self._step(x)
        r, mean = expected(self._count, self._exposure, self._prior, self._rhythm.exposure(lo, hi), self.dispersion)
        return score_of_log_p(log_nb_sf(int(x[self.VALUE_KEY]), r=r, mean=mean))

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        # The contract's stream is about 50 an hour: a district's cap (30), two-week half-life.
        yield {"half_life": 168.0, "dispersion": 30.0}
