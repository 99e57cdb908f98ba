"""Anomaly scores from tail probabilities: ``1 - p`` where float64 can hold it, ranked below that.

Every detector judges an observation by a tail probability *p* (how often a value at
least this extreme comes from the learned baseline). Staff and thresholds want a score in
[0, 1] that reads like a probability of anomaly, so the score is ``1 - p``. But
``1 - p`` rounds to exactly 1.0 once p < 1.1e-16, and our tails routinely reach 1e-300
and beyond (see ``detectors.tail``): every strong alert would tie at 1.0. So below
``EXACT_DOWN_TO`` (call it e) the score is squeezed on a log scale into the last gap
``(1 - e, 1)``:

    score = 1 - p                          for p >= e
    score = 1 - e * ln(e) / ln(p)          for p <  e     (ln(e) / ln(p) falls from 1 to 0)

It is continuous at p = e, strictly decreasing in p, and invertible (``p_of``,
``log_p_of``: p to 7 digits in the exact range, log p to 5 below), so a false-alarm budget alpha is the threshold
``score_of(alpha)`` on every dimension, and for alpha >= e that is simply ``1 - alpha``.
With e = 1e-9, p keeps 7 significant digits in the exact range, and in the squeezed
range tails 0.25 % apart stay distinct down to 1e-300 (coarser further down: the gap
left under 1.0 is finite). Only p = 0, which no tail in ``detectors.tail`` returns,
scores exactly 1.0. Pass log-probabilities (``score_of_log_p``) where they exist, so
order is kept past float64's smallest number too.

>>> score_of(0.01)
0.99
>>> score_of(1e-300) < score_of(1e-301) < 1.0
True
>>> f"{p_of(score_of(1e-12)):.4g}"   # invertible (to ~7 digits in the squeezed range)
'1e-12'
>>> score_of_log_p(-5000.0) < score_of_log_p(-5001.0) < 1.0
True
"""

from __future__ import annotations

import math

EXACT_DOWN_TO = 1e-9  # the score is exactly 1 - p for tails at least this large
_LN_E = math.log(EXACT_DOWN_TO)
_E_LN_E = EXACT_DOWN_TO * _LN_E  # negative


def score_of_log_p(log_p: float) -> float:
    """The score of a tail probability given by its natural log (<= 0)."""
    if log_p >= _LN_E:
        return 1.0 - math.exp(min(log_p, 0.0))
    return 1.0 - _E_LN_E / log_p  # log_p = -inf gives 1.0: the only way to reach it


def score_of(p: float) -> float:
    """The score of a tail probability *p* in [0, 1] (clipped to it)."""
    if p >= EXACT_DOWN_TO:
        return 1.0 - min(p, 1.0)
    return score_of_log_p(math.log(p) if p > 0.0 else -math.inf)


def log_p_of(score: float) -> float:
    """The inverse of ``score_of_log_p``: the log tail probability a score stands for."""
    gap = 1.0 - score
    if gap >= EXACT_DOWN_TO:
        return math.log(min(gap, 1.0))
    if gap <= 0.0:
        return -math.inf
    return _E_LN_E / gap


def p_of(score: float) -> float:
    """The inverse of ``score_of``: the tail probability a score stands for (0.0 below 1e-323)."""
    gap = 1.0 - score
    if gap >= EXACT_DOWN_TO:
        return min(gap, 1.0)
    return math.exp(log_p_of(score))
