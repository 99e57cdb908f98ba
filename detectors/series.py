"""Any real-valued series judged online with calibrated tail probabilities: a river anomaly detector.

The general-purpose companion of ``detectors.rate.CountRateDetector`` (the engine's own
judgement of counts): machine metrics, traffic, prices, counts of anything, with or without a
daily or weekly rhythm. It answers what a false-alarm budget needs: on normal data a
tail probability below alpha about alpha of the time, whatever the shape of the noise
(heavy tails, skew, zeros most of the time, steps of a quantised metric). A Gaussian or
Student t tail of the prediction error does not give that on real series: heavy-tailed
noise puts many normal points far out in a Gaussian tail, and a series that is zero most
of the time shrinks its scale to nothing, so that any blip looks impossible. So the tail
probability is not a model's: it is the rank of the new error among the last ``window``
errors the detector made on the same series (online conformal prediction), with a
Generalised Pareto tail fitted to the largest of them beyond their range. See
``SeriesDetector``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from river import base

from detectors.scores import score_of_log_p

__all__ = ["SeriesDetector"]

_SEASONS = {None: (1, 0), "daily": (24, 24), "weekly": (168, 168)}  # (slots, hours per cycle)
TAIL_SHARE = 0.2  # the largest errors the tail is fitted to: this share of the window ...
TAIL_MIN = 10  # ... and at least this many
TAIL_SCALE_FLOOR = 0.25  # the fitted tail's scale, in standardised errors, is at least this
TAIL_SHAPE_MAX = 0.9  # the fitted tail is never heavier than this shape (its mean stays finite)
LOG_OUTLIER = math.log(1e-4)  # an error this improbable is an anomaly: not one of those ranked by


def _epoch(t: Any) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


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


def gpd_fit(excesses: list[float]) -> tuple[float, float]:
    """(shape xi, scale) of a Generalised Pareto fitted to *excesses* (ascending, >= 0) by
    probability-weighted moments (Hosking & Wallis 1987), the shape kept in [0, TAIL_SHAPE_MAX]:
    a light or bounded tail is extrapolated as exponential, which only errs towards larger p.

    >>> import random
    >>> rng = random.Random(1)
    >>> xi, scale = gpd_fit(sorted(rng.expovariate(0.5) for _ in range(2000)))   # exponential, scale 2
    >>> round(xi, 1), round(scale, 1)
    (0.0, 2.0)
    >>> xi, _ = gpd_fit(sorted(rng.paretovariate(2.0) - 1.0 for _ in range(2000)))   # Pareto: xi = 1/2
    >>> round(xi, 1)
    0.5
    """
    k = len(excesses)
    a0 = sum(excesses) / k if k else 0.0
    if k < TAIL_MIN or a0 <= 0.0:
        return 0.0, max(a0, TAIL_SCALE_FLOOR)
    a1 = sum((1.0 - (i + 0.65) / k) * y for i, y in enumerate(excesses)) / k
    d = a0 - 2.0 * a1
    xi = 2.0 - a0 / d if d > 0.0 else TAIL_SHAPE_MAX
    if xi <= 0.0:
        return 0.0, max(a0, TAIL_SCALE_FLOOR)  # the exponential's scale is its mean
    if xi >= TAIL_SHAPE_MAX:
        return TAIL_SHAPE_MAX, max(a0 * (1.0 - TAIL_SHAPE_MAX), TAIL_SCALE_FLOOR)  # mean = scale / (1 - xi)
    return xi, max(2.0 * a0 * a1 / d, TAIL_SCALE_FLOOR)


class SeriesDetector(base.AnomalyDetector):
    """Any real-valued series against a robust online level, optional seasonality and scale, with calibrated p.

    ``x = {"t": epoch seconds or an aware datetime, "y": the value}``, in time order.

    The prediction is a level plus, with ``seasonality``, an offset for the hour of the day
    or of the week, updated by one-step prediction errors as in additive Holt-Winters; the
    scale is that of the prediction errors. Both updates are robust, after Gelper, Fried &
    Croux (2010): level and offsets learn from the error clipped at ``clip`` scales (Huber's
    psi), the variance from Tukey's bounded biweight rho of the standardised error, so a
    burst of outliers moves the level by at most ``clip`` scales times the learning weight
    per point and grows the scale by a bounded factor: the detector is not blinded for the
    next anomaly. A level shift (``shift_after`` errors in a row beyond ``clip`` scales on
    the same side) is taken as the new level (the median of those points) at once, so a
    permanent step alarms at its start and not for days after; a burst long enough to be
    taken for a shift gives the old level back as soon as the series returns to it. The
    scale never falls below the series' resolution (the smallest change between consecutive
    normal values seen): a series that is zero most of the time keeps the scale of its
    smallest blip.

    The tail probability of a new value is calibrated, not assumed: its standardised error
    (absolute, or signed for one ``side``) is ranked among the standardised errors of the
    last ``window`` values learned, each taken before it was learned as this one is (online
    conformal prediction: on a stationary series p <= alpha with probability about alpha, for
    any noise). Beyond the largest ``TAIL_SHARE`` (a fifth) of them, p follows a Generalised
    Pareto tail fitted to them (the peaks-over-threshold of extreme value theory, as in
    SPOT), so p goes on falling, in order, past 1 / ``window``. Anomalies stay out of the
    ranking: an error with p below ``LOG_OUTLIER`` (1e-4), and a shift's errors far in the
    tail once the shift is taken; else a few bursts in the window would make the next ones
    unremarkable. The score is ``detectors.scores.score_of_log_p`` of p.

    Calibrated on series built to look like real ones (``tests/test_detectors/
    test_series_calibration.py``; figures in docs/performance.md). Counts in a daily or
    weekly rhythm are better judged by ``detectors.rate.CountRateDetector``: this model is
    additive, with one scale for all hours, so a night's burst hides in the day's noise.

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
    shift_after
        Errors in a row beyond ``clip`` scales on one side that make a new level.
    window
        Past errors the tail probability is calibrated on.
    utc_offset_hours
        The series' local time, for the hours of the day and week.
    grace_period
        Observations learned, with neutral 0.0 scores, before scoring starts: the first half
        plainly (level, seasons, scale), the second robustly, collecting errors to rank by;
        with ``seasonality``, at least one cycle.

    Examples
    --------

    >>> import random
    >>> rng = random.Random(42)
    >>> det = SeriesDetector()
    >>> for i in range(500):   # a latency around 120 ms, with heavy-tailed noise
    ...     det.learn_one({"t": 60.0 * i, "y": 120.0 + 8.0 * rng.gauss(0, 1) / rng.uniform(0.3, 1.0)})
    >>> normal, spike = det.score_one({"t": 30000.0, "y": 130.0}), det.score_one({"t": 30000.0, "y": 400.0})
    >>> normal < 0.8, 0.999999 < spike < 1.0
    (True, True)

    A series that is zero most of the time (a blip of one three times in a hundred): its
    scale stays that of its blips, so a blip is ranked among the blips before it, and a
    bigger one is rare, not impossible (here more cautiously than the series deserves: the
    tail is fitted to few distinct errors, and a thin fit errs towards larger p).

    >>> det = SeriesDetector(side="upper")
    >>> for i in range(500):
    ...     det.learn_one({"t": 60.0 * i, "y": float(rng.random() < 0.03)})
    >>> from detectors.scores import p_of
    >>> [f"{p_of(det.score_one({'t': 30000.0, 'y': y})):.0e}" for y in (1.0, 5.0, 10.0)]
    ['3e-02', '6e-03', '2e-03']

    References
    ----------
    [^1]: Gelper, S., Fried, R., Croux, C., 2010. Robust forecasting with exponential and
    Holt-Winters smoothing. Journal of Forecasting 29(3), 285-300.
    [^2]: Vovk, V., Gammerman, A., Shafer, G., 2005. Algorithmic Learning in a Random World:
    conformal prediction and its validity.
    [^3]: Siffer, A., Fouque, P.-A., Termier, A., Largouet, C., 2017. Anomaly detection in
    streams with extreme value theory (SPOT). KDD 2017.
    [^4]: Hosking, J.R.M., Wallis, J.R., 1987. Parameter and quantile estimation for the
    generalized Pareto distribution. Technometrics 29(3), 339-349.
    [^5]: river, ``river.base.AnomalyDetector``: https://riverml.xyz/latest/api/anomaly/

    """

    VALUE_KEY = "y"

    def __init__(self, seasonality: str | None = None, side: str = "both", half_life: float = 48.0,
                 season_half_life: float = 8.0, clip: float = 2.0, shift_after: int = 6, window: int = 500,
                 utc_offset_hours: float = 0.0, grace_period: int = 48) -> None:
        if seasonality not in _SEASONS:
            raise ValueError(f"seasonality must be one of {sorted(map(str, _SEASONS))}, not {seasonality!r}")
        if side not in ("both", "upper", "lower"):
            raise ValueError(f"side must be 'both', 'upper' or 'lower', not {side!r}")
        self.seasonality = seasonality
        self.side = side
        self.half_life = half_life
        self.season_half_life = season_half_life
        self.clip = clip
        self.shift_after = shift_after
        self.window = window
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
        self._previous: float | None = None
        self._resolution = math.inf  # the smallest change between consecutive values seen
        self._run: list[float] = []  # deseasonalised values of the current run beyond clip on one side
        self._run_ranked: list[float] = []  # the standardised errors of the run that joined the ranking
        self._run_side = 0
        self._level_before = 0.0  # the level before the last shift taken ...
        self._since_shift = 4 * shift_after  # ... and the points since, up to 4 * shift_after
        self._past: deque[float] = deque()  # standardised errors, oldest first ...
        self._ranked: list[float] = []  # ... and the same, ascending
        self._tail = (math.inf, 0, 0.0, TAIL_SCALE_FLOOR)  # (threshold u, errors above it, shape, scale)

    def _slot(self, t: float) -> int:
        slots, cycle = _SEASONS[self.seasonality]
        if slots == 1:
            return 0
        local_hours = int((t + 3600.0 * self.utc_offset_hours) // 3600)
        # epoch hour 0 was a Thursday 00:00: shift so slot 0 is Monday 00:00
        return (local_hours + 72) % cycle

    def _sigma(self) -> float:
        # The resolution floors the scale (a mostly-zero series keeps its blips' scale); a
        # constant series has none, and a tiny floor keeps any departure ranked by its size.
        return max(math.sqrt(self._var), self._resolution if self._resolution < math.inf else 0.0,
                   1e-12 * (1.0 + abs(self._level)))

    def _error(self, x: dict[str, Any]) -> tuple[int, float]:
        slot = self._slot(_epoch(x["t"]))
        return slot, float(x[self.VALUE_KEY]) - (self._level + self._season[slot])

    def _standardised(self, e: float) -> float:
        z = e / self._sigma()
        return abs(z) if self.side == "both" else z if self.side == "upper" else -z

    def learn_one(self, x: dict[str, Any]) -> None:
        slot, e = self._error(x)
        y = float(x[self.VALUE_KEY])
        outlier, ranked = False, None
        if self._learned >= self.grace_period // 2 and self._errors >= 2:
            z = self._standardised(e)
            outlier = len(self._ranked) >= TAIL_MIN and self._log_p(z) < LOG_OUTLIER
            if not outlier:
                self._remember(z)
                ranked = z
        if self._previous is not None and y != self._previous and not outlier:
            self._resolution = min(self._resolution, abs(y - self._previous))  # (an outlier's steps are not the series')
        self._previous = y
        if self._learned == 0:
            self._level += e  # the first value is the level; nothing to measure an error against
        else:
            # 1/n while young (an exact running mean), then the half-life's weight
            w = max(1.0 / (self._learned + 1), 1.0 - self._keep)
            w_var = max(1.0 / (self._errors + 1), 1.0 - self._keep)
            w_season = max(1.0 / (self._visits[slot] + 1), 1.0 - self._season_keep)
            shifted = False
            if self._learned >= self.grace_period // 2 and self._var > 0.0:
                sigma = self._sigma()
                shifted = self._shift(y - self._season[slot], e, sigma, ranked)
                self._var *= 1.0 + w_var * (_biweight(e / sigma, self.clip) / self._rho_mean - 1.0)
                e = max(-self.clip * sigma, min(self.clip * sigma, e))
                self._errors += 1
            elif self._visits[slot]:  # a first visit to an hour predicted nothing: no error to learn
                # Warm-up learns plainly (Gelper et al.'s start-up period): clipping by a
                # young scale that is still too small would stop the level and seasons
                # from ever catching up, and keep the scale too small.
                self._var += w_var * (e * e - self._var)
                self._errors += 1
            if not shifted:  # (a new level was just taken: nothing more to learn from this error)
                self._level += w * e
                if len(self._season) > 1:
                    self._season[slot] += w_season * (1.0 - w) * e  # what the level did not take
        self._visits[slot] += 1
        self._learned += 1

    def _shift(self, deseasonalised: float, e: float, sigma: float, ranked: float | None) -> bool:
        """Count a run of errors beyond clip on one side; at ``shift_after``, take its median
        as the level, take the run's far errors (*ranked*: this one's, if it joined the
        ranking) out of the ranking (they were the shift's, not the noise's) and say so.
        Back at the level before a shift taken less than ``4 * shift_after`` points ago,
        take that level again (it was a long burst) and say so."""
        side = 1 if e > self.clip * sigma else -1 if e < -self.clip * sigma else 0
        if self._since_shift < 4 * self.shift_after:
            self._since_shift += 1
            if side and abs(deseasonalised - self._level_before) <= self.clip * sigma:
                self._level, self._since_shift = self._level_before, 4 * self.shift_after
                self._run, self._run_ranked, self._run_side = [], [], 0
                return True
        if side == 0 or side != self._run_side:
            self._run, self._run_side = ([deseasonalised] if side else []), side
            self._run_ranked = [ranked] if side and ranked is not None else []
            return False
        self._run.append(deseasonalised)
        if ranked is not None:
            self._run_ranked.append(ranked)
        if len(self._run) < self.shift_after:
            return False
        far = 2.0 * self._tail[0]
        for z in self._run_ranked:
            if z > far:  # the shift's errors, not the noise's (a misfit's run stays ranked)
                self._forget(z)
        run = sorted(self._run)
        mid = len(run) // 2
        self._level_before, self._since_shift = self._level, 0
        self._level = run[mid] if len(run) % 2 else 0.5 * (run[mid - 1] + run[mid])
        self._run, self._run_ranked, self._run_side = [], [], 0
        return True

    def _remember(self, z: float) -> None:
        """Add a standardised error to the window ranked by, and refit the tail."""
        past, ranked = self._past, self._ranked
        if len(past) >= self.window:
            old = past.popleft()
            del ranked[bisect_left(ranked, old)]
        past.append(z)
        insort(ranked, z)
        self._refit()

    def _forget(self, z: float) -> None:
        """Take a standardised error out of the window ranked by, and refit the tail."""
        if z in self._past:  # (it may have left the window already)
            self._past.remove(z)
            del self._ranked[bisect_left(self._ranked, z)]
            self._refit()

    def _refit(self) -> None:
        ranked = self._ranked
        n = len(ranked)
        if not n:
            self._tail = (math.inf, 0, 0.0, TAIL_SCALE_FLOOR)
            return
        u = ranked[max(0, n - max(TAIL_MIN, math.ceil(TAIL_SHARE * n)) - 1)]
        above = bisect_right(ranked, u)
        xi, scale = gpd_fit([v - u for v in ranked[above:]])
        self._tail = (u, n - above, xi, scale)

    def log_p(self, x: dict[str, Any]) -> float:
        """log of the tail probability of *x* (0.0 until ranking starts); changes nothing."""
        if self._learned < self.grace_period or not self._ranked:
            return 0.0
        return self._log_p(self._standardised(self._error(x)[1]))

    def _log_p(self, z: float) -> float:
        ranked, n = self._ranked, len(self._ranked)
        u, above, xi, scale = self._tail
        if z <= u:  # within the errors seen: its rank, counting itself (conformal p)
            return math.log((n - bisect_left(ranked, z) + 1) / (n + 1))
        excess = (z - u) / scale
        log_sf = -excess if xi == 0.0 else -math.log1p(xi * excess) / xi
        return math.log(max(above, 1) / (n + 1)) + log_sf

    def score_one(self, x: dict[str, Any]) -> float:
        if self._learned < self.grace_period or not self._ranked:
            return 0.0
        return score_of_log_p(self.log_p(x))

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"grace_period": 20}
        yield {"seasonality": "daily", "side": "upper", "grace_period": 48, "window": 200}
