"""Research, not product: river anomaly detectors on the engine's maths, for offline evaluation.

Nothing in the product runs this module: no agent, no command, no engine path imports it;
only its tests do (``tests/test_detectors/test_river_research_*``), which check the river
contract and calibrate the detectors on seeded series. What the product runs is the
window engine: ``detectors.partition.PartitionEngine`` judging each key's 15-minute
buckets with ``detectors.judge`` (offline, through ``detectors.offline.OfflineEngine``).
The classes here are kept as the starting point for running a river ``AnomalyDetector``
inside the engine, which is future work.

Each class is a river ``base.AnomalyDetector``: ``learn_one(x)`` folds one
observation into the baseline and returns None; ``score_one(x)`` judges one observation and
changes nothing. So they plug into river's tooling (``anomaly.ThresholdFilter``,
``QuantileFilter``, ``compose.Pipeline``) and can be judged on any series, not only ours.

An observation is a dict: the event time under ``"t"`` (epoch seconds, or an aware
``datetime``) and the value under the class's ``VALUE_KEY``; other keys are ignored.
Observations are expected in time order.

The score is ``detectors.scores.score_of`` of a tail probability p under the learned
baseline: ``1 - p`` for p >= 1e-9, log-squeezed below so strong alarms keep their order,
so a false-alarm budget alpha per observation is the threshold ``score_of(alpha)``
(``1 - alpha``) for every detector. Until ``grace_period`` observations are learned the
score is 0.0, "no evidence", which is what p = 1 maps to: a baseline that has seen nothing
cannot make anything surprising, and 0.0 never trips a threshold or a quantile filter
(0.5 would claim a coin-flip's worth of evidence it does not have). river's own
``GaussianScorer`` does the same in its grace period.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from river import base

from detectors.baseline import Prior, Rhythm, predictive
from detectors.scores import score_of_log_p
from detectors.tail import _log_betainc, log_nb_sf  # the engine's tails, not a second copy
from detectors.windows import BUCKET_SECONDS, bucket_of

__all__ = ["CountRateDetector", "RateDetector"]

TIME_KEY = "t"


def _epoch(t: Any) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


def log_student_t_sf(t: float, dof: float) -> float:
    """log P(T >= t) for Student's t with *dof* degrees of freedom, in log space for huge t.

    >>> round(math.exp(log_student_t_sf(2.0, 1e6)), 4)     # -> the normal tail as dof grows
    0.0228
    >>> log_student_t_sf(1e8, 50.0) < log_student_t_sf(1e7, 50.0) < -300 * math.log(10)
    True
    """
    # P(|T| >= |t|) = I_x(dof/2, 1/2) with x = dof / (dof + t^2); halve it for one side.
    log_two_sided = min(0.0, _log_betainc(dof / 2.0, 0.5, dof / (dof + t * t)))
    if t >= 0.0:
        return math.log(0.5) + log_two_sided
    return math.log1p(-0.5 * math.exp(log_two_sided))


def _biweight(z: float, k: float) -> float:
    """Tukey's biweight rho, scaled to a maximum of 1: about 3 (z/k)^2 near 0, flat beyond k."""
    if abs(z) >= k:
        return 1.0
    return 1.0 - (1.0 - (z / k) ** 2) ** 3


def _biweight_normal_mean(k: float) -> float:
    """E[rho(Z)] for a standard normal Z, from its truncated even moments (no integration)."""
    inside = math.erf(k / math.sqrt(2.0))  # P(|Z| < k)
    density = math.exp(-k * k / 2.0) / math.sqrt(2.0 * math.pi)
    m = [inside]  # m[j] = E[Z^(2j); |Z| < k], by parts: m[j] = (2j-1) m[j-1] - 2 k^(2j-1) phi(k)
    for j in (1, 2, 3):
        m.append((2 * j - 1) * m[-1] - 2.0 * k ** (2 * j - 1) * density)
    return 3 * m[1] / k**2 - 3 * m[2] / k**4 + m[3] / k**6 + (1.0 - inside)


class CountRateDetector(base.AnomalyDetector):
    """Counts per time step against a Gamma-Poisson rate with the hotline's weekly rhythm.

    ``x = {"t": start of the step (epoch seconds), "n": the count in the step}``; send every
    step, zeros included (a missing step is unknown, not zero). The rate per step gets a
    Gamma posterior from exponentially forgotten history plus a weak prior, scaled by an
    hour-of-day x weekday rhythm (``detectors.baseline.Rhythm``, starting from the
    hotline's usual shape and learning the series' own within days), so the count in a
    step is Negative Binomial. Counts burstier than Poisson widen it further: a moment
    estimate of the extra dispersion k (``E[(n - mean)^2 - mean] = k * mean^2``, each
    step's deviation clipped at four standard deviations so one spike cannot inflate it)
    gives the shape ``1 / (1 / alpha + k)``. The score is one-sided, from ``P(N >= n)``:
    early warning is about surges, and a quiet step is not an alarm.

    Parameters
    ----------
    step_seconds
        Length of the step a count covers; a multiple of 900 s (the engine's bucket).
    prior_rate
        Expected count per step before anything is learned.
    prior_steps
        Weight of that prior, in steps of data.
    half_life
        Half-life of the forgotten history, in steps (672 hourly steps = the engine's 28 days).
    grace_period
        Steps learned before scores leave the neutral 0.0 (a week of hourly steps lets the
        rhythm learn the hours of the day).

    Examples
    --------

    >>> import random
    >>> from detectors.baseline import Rhythm
    >>> from detectors.windows import bucket_of
    >>> usual, rng = Rhythm(), random.Random(7)   # the hotline's usual week, to simulate from
    >>> def hour_count(t):   # about 20 an hour on average, in the hotline's weekly shape
    ...     mean = 20 * usual.factor(bucket_of(t))
    ...     return max(0, round(rng.gauss(mean, mean ** 0.5)))
    >>> det = CountRateDetector()
    >>> monday = 1741536000   # 2025-03-10 00:00 +08:00
    >>> det.score_one({"t": monday, "n": 100})   # nothing learned yet: neutral
    0.0
    >>> for step in range(14 * 24):   # two weeks
    ...     det.learn_one({"t": monday + 3600 * step, "n": hour_count(monday + 3600 * step)})
    >>> tuesday_10h = monday + 3600 * (15 * 24 + 10)   # expect about 47
    >>> normal, spike = (det.score_one({"t": tuesday_10h, "n": n}) for n in (47, 100))
    >>> round(normal, 2), 1 - 1e-5 < spike < 1.0   # the spike: p < 1e-5
    (0.41, True)

    References
    ----------
    [^1]: Gelman, A. et al., 2013. Bayesian Data Analysis, 3rd ed., section 2.6: the
    Gamma-Poisson model and its Negative Binomial predictive distribution.
    [^2]: Lambert, D., Liu, C., 2006. Adaptive thresholds: monitoring streams of network
    counts. Journal of the American Statistical Association 101(473), 78-88.
    [^3]: river, ``river.base.AnomalyDetector``: https://riverml.xyz/latest/api/anomaly/

    """

    VALUE_KEY = "n"

    def __init__(self, step_seconds: int = 3600, prior_rate: float = 1.0, prior_steps: float = 4.0,
                 half_life: float = 672.0, grace_period: int = 168) -> None:
        if step_seconds <= 0 or step_seconds % BUCKET_SECONDS:
            raise ValueError(f"step_seconds must be a positive multiple of {BUCKET_SECONDS}, not {step_seconds}")
        self.step_seconds = step_seconds
        self.prior_rate = prior_rate
        self.prior_steps = prior_steps
        self.half_life = half_life
        self.grace_period = grace_period
        self._buckets_per_step = step_seconds // BUCKET_SECONDS
        # The baseline's units are the engine's: per bucket, exposure in rhythm-weighted buckets.
        self._prior = Prior(prior_rate / self._buckets_per_step, prior_steps * self._buckets_per_step)
        self._rhythm = Rhythm()
        self._count = 0.0
        self._exposure = 0.0
        self._excess = 0.0  # sum of clipped (n - mean)^2 - mean: the variance beyond Poisson
        self._mean_sq = 0.0  # sum of mean^2: what that excess is measured against
        self._last_bucket: int | None = None
        self._learned = 0

    def _predictive(self, bucket: int) -> tuple[float, float]:
        """(shape, mean) of the Negative Binomial count for the step starting in *bucket*."""
        decay = self._decay(bucket)
        exposure = self._rhythm.exposure(bucket - 1, bucket - 1 + self._buckets_per_step)
        alpha, mean = predictive(self._count * decay, self._exposure * decay, self._prior, exposure)
        k = max(self._excess, 0.0) / self._mean_sq if self._mean_sq > 0.0 else 0.0
        return 1.0 / (1.0 / alpha + k), mean

    def _decay(self, bucket: int) -> float:
        if self._last_bucket is None or bucket <= self._last_bucket:
            return 1.0
        return 0.5 ** ((bucket - self._last_bucket) / self._buckets_per_step / self.half_life)

    def learn_one(self, x: dict[str, Any]) -> None:
        bucket = bucket_of(_epoch(x[TIME_KEY]))
        n = float(x[self.VALUE_KEY])
        r, mean = self._predictive(bucket)
        decay = self._decay(bucket)
        self._excess *= decay
        self._mean_sq *= decay
        # A young baseline's misfit (the rhythm still has the prior's shape) is not dispersion.
        if self._learned >= self.grace_period // 2:
            var = mean + mean * mean / r
            self._excess += min((n - mean) ** 2, 16.0 * var) - mean
            self._mean_sq += mean * mean
        self._count = self._count * decay + n
        self._exposure = self._exposure * decay + self._rhythm.exposure(bucket - 1, bucket - 1 + self._buckets_per_step)
        if self._last_bucket is None or bucket >= self._last_bucket:  # a late step counts in the rate only
            self._rhythm.learn(bucket, n)
            self._last_bucket = bucket
        self._learned += 1

    def score_one(self, x: dict[str, Any]) -> float:
        if self._learned < self.grace_period:
            return 0.0
        r, mean = self._predictive(bucket_of(_epoch(x[TIME_KEY])))
        return score_of_log_p(log_nb_sf(int(x[self.VALUE_KEY]), r=r, mean=mean))

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"half_life": 168.0}  # the contract tests' two weeks then span two half-lives


_SEASONS = {None: (1, 0), "daily": (24, 24), "weekly": (168, 168)}  # (slots, hours per cycle)


class RateDetector(base.AnomalyDetector):
    """Any real-valued series against a robust online level, optional seasonality and scale.

    ``x = {"t": epoch seconds, "y": the value}``. The expected value is a level plus, with
    ``seasonality``, an offset for the hour of the day or of the week, updated by one-step
    prediction errors as in additive Holt-Winters; the scale is that of the prediction
    errors, so it covers the estimates' own uncertainty. Both updates are robust, after
    Gelper, Fried & Croux (2010): the level and offsets learn from the error clipped at
    ``clip`` scales (Huber's psi), and the variance from Tukey's bounded biweight rho of the
    standardised error (scaled to be unbiased for normal errors). So one outlier moves the
    level by at most ``clip`` scales times the learning weight, and a run of them grows the
    variance only by a bounded factor per step: a day-long level shift does not blind the
    detector to the next anomaly. A new value's standardised error is judged by a Student t
    tail with the scale's effective degrees of freedom (wide while the scale is young).

    Parameters
    ----------
    seasonality
        None, ``"daily"`` (an offset per hour of the day) or ``"weekly"`` (per hour of the week).
    side
        ``"both"`` (two-sided tail), ``"upper"`` or ``"lower"`` (only high or only low values).
    half_life
        Half-life of the level and scale, in observations.
    season_half_life
        Half-life of each seasonal offset, in visits to its hour.
    clip
        Errors beyond this many scales count as this many (Huber psi, biweight rho).
    utc_offset_hours
        The series' local time, for the hours of the day and week.
    grace_period
        Observations learned plainly, with neutral 0.0 scores, before the robust updates and
        the scores start; with ``seasonality``, at least one cycle.

    Examples
    --------

    >>> import random
    >>> rng = random.Random(42)
    >>> det = RateDetector()
    >>> for i in range(200):   # a latency around 120 ms
    ...     det.learn_one({"t": 60.0 * i, "y": rng.gauss(120.0, 8.0)})
    >>> normal, spike = det.score_one({"t": 12000.0, "y": 125.0}), det.score_one({"t": 12000.0, "y": 190.0})
    >>> round(normal, 2), 0.999999 < spike < 1.0
    (0.4, True)

    References
    ----------
    [^1]: Gelper, S., Fried, R., Croux, C., 2010. Robust forecasting with exponential and
    Holt-Winters smoothing. Journal of Forecasting 29(3), 285-300.
    [^2]: Hyndman, R.J., Athanasopoulos, G., 2021. Forecasting: Principles and Practice, 3rd ed.,
    section 8.3: additive Holt-Winters in error-correction form.
    [^3]: river, ``river.base.AnomalyDetector``: https://riverml.xyz/latest/api/anomaly/

    """

    VALUE_KEY = "y"

    def __init__(self, seasonality: str | None = None, side: str = "both", half_life: float = 48.0,
                 season_half_life: float = 8.0, clip: float = 2.0, utc_offset_hours: float = 0.0,
                 grace_period: int = 48) -> None:
        if seasonality not in _SEASONS:
            raise ValueError(f"seasonality must be one of {sorted(map(str, _SEASONS))}, not {seasonality!r}")
        if side not in ("both", "upper", "lower"):
            raise ValueError(f"side must be 'both', 'upper' or 'lower', not {side!r}")
        self.seasonality = seasonality
        self.side = side
        self.half_life = half_life
        self.season_half_life = season_half_life
        self.clip = clip
        self.utc_offset_hours = utc_offset_hours
        self.grace_period = grace_period
        self._keep = 0.5 ** (1.0 / half_life)
        self._season_keep = 0.5 ** (1.0 / season_half_life)
        self._rho_mean = _biweight_normal_mean(clip)
        slots = _SEASONS[seasonality][0]
        self._season = [0.0] * slots
        self._visits = [0] * slots
        self._level = 0.0
        self._var = 0.0
        self._errors = 0  # prediction errors the scale has learned from
        self._learned = 0

    def _slot(self, t: float) -> int:
        slots, cycle = _SEASONS[self.seasonality]
        if slots == 1:
            return 0
        local_hours = int((t + 3600.0 * self.utc_offset_hours) // 3600)
        # epoch hour 0 was a Thursday 00:00: shift so slot 0 is Monday 00:00
        return (local_hours + 72) % cycle

    def _error(self, x: dict[str, Any]) -> tuple[int, float]:
        slot = self._slot(_epoch(x[TIME_KEY]))
        return slot, float(x[self.VALUE_KEY]) - (self._level + self._season[slot])

    def learn_one(self, x: dict[str, Any]) -> None:
        slot, e = self._error(x)
        if self._learned == 0:
            self._level += e  # the first value is the level; nothing to measure an error against
        else:
            # 1/n while young (an exact running mean), then the half-life's weight
            w = max(1.0 / (self._learned + 1), 1.0 - self._keep)
            w_var = max(1.0 / (self._errors + 1), 1.0 - self._keep)
            w_season = max(1.0 / (self._visits[slot] + 1), 1.0 - self._season_keep)
            if self._learned >= self.grace_period and self._var > 0.0:
                sigma = math.sqrt(self._var)
                self._var *= 1.0 + w_var * (_biweight(e / sigma, self.clip) / self._rho_mean - 1.0)
                e = max(-self.clip * sigma, min(self.clip * sigma, e))
                self._errors += 1
            elif self._visits[slot]:  # a first visit to an hour predicted nothing: no error to learn
                # Warm-up learns plainly (Gelper et al.'s start-up period): clipping by a
                # young scale that is still too small would stop the level and seasons
                # from ever catching up, and keep the scale too small.
                self._var += w_var * (e * e - self._var)
                self._errors += 1
            self._level += w * e
            if len(self._season) > 1:
                self._season[slot] += w_season * (1.0 - w) * e  # what the level did not take
        self._visits[slot] += 1
        self._learned += 1

    def _dof(self) -> float:
        # errors seen, capped by the effective sample size of exponential weights, (1+q)/(1-q)
        n_eff = min(self._errors, (1.0 + self._keep) / (1.0 - self._keep))
        return max(n_eff - 1.0, 1.0)

    def score_one(self, x: dict[str, Any]) -> float:
        if self._learned < self.grace_period or self._errors < 2:
            return 0.0
        _, e = self._error(x)
        # a constant series has no scale; a tiny floor keeps any departure ranked by its size
        sigma = max(math.sqrt(self._var), 1e-12 * (1.0 + abs(self._level)))
        z, dof = e / sigma, self._dof()
        if self.side == "both":
            log_p = min(0.0, math.log(2.0) + log_student_t_sf(abs(z), dof))
        else:
            log_p = log_student_t_sf(z if self.side == "upper" else -z, dof)
        return score_of_log_p(log_p)

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"grace_period": 20}
        yield {"seasonality": "daily", "side": "upper", "grace_period": 48}
